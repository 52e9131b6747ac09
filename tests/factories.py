"""Tiny random SAM-PTx models and inputs for tests, built offline in well under a second."""

import torch

from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.tiny import tiny_clip_tokenizer, tiny_samptx_config

IMAGE_SIZE = 64


def make_model(seed: int = 0, **config_kwargs) -> SamPtxForTextSegmentation:
    torch.manual_seed(seed)
    model = SamPtxForTextSegmentation(tiny_samptx_config(image_size=IMAGE_SIZE, **config_kwargs))
    model.tokenizer = tiny_clip_tokenizer()
    return model


def make_batch(batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch_size, IMAGE_SIZE, IMAGE_SIZE)
    for i in range(batch_size):
        top, left = torch.randint(0, IMAGE_SIZE // 2, (2,), generator=generator).tolist()
        masks[i, top : top + IMAGE_SIZE // 3, left : left + IMAGE_SIZE // 3] = 1
    centers = torch.stack([torch.nonzero(mask).float().mean(0).flip(-1) for mask in masks])  # (x, y)
    return {
        "pixel_values": torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),
        "input_points": centers[:, None, None, :],
        "input_labels": torch.ones(batch_size, 1, 1, dtype=torch.long),
        "labels": masks,
    }
