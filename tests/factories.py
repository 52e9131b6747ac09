"""Tiny random SAM-PTx models and inputs for tests, built offline in well under a second."""

import torch
from peft import PeftModel, get_peft_model

from samptx_hf import SamPtxForTextSegmentation, peft_config_for, text_injection_for
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_samptx_config

IMAGE_SIZE = 64


def make_model(seed: int = 0, **config_kwargs) -> SamPtxForTextSegmentation:
    torch.manual_seed(seed)
    model = SamPtxForTextSegmentation(tiny_samptx_config(image_size=IMAGE_SIZE, **config_kwargs))
    model.tokenizer = tiny_clip_tokenizer()
    return model


def model_with_presence(sam_version: int, presence_logit: float):
    """A tiny model whose presence head answers `presence_logit` (+10 present, -10 absent) whatever it is asked."""
    model = make_model(sam_version=sam_version, presence_head=True).eval()
    head = model.presence_head.presence_mlp if sam_version == 1 else model.sam.mask_decoder.pred_obj_score_head
    with torch.no_grad():
        head.proj_out.weight.zero_()
        head.proj_out.bias.fill_(presence_logit)
    return model


def make_trained_looking_model(
    method: str = "parallel_text", sam_version: int = 1, adapter_layers=None, seed: int = 0
) -> PeftModel:
    """A tiny peft model of `method` whose adapters and text projection moved away from their initialisation, as
    after training: its masks depend on the class name. In eval mode."""
    model = make_model(seed=seed, sam_version=sam_version, text_injection=text_injection_for(method).value)
    config = peft_config_for(method, r=4, adapter_layers=adapter_layers)
    config.init_weights = False
    peft_model = get_peft_model(model, config).eval()
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "text_prompt_projection" in name or "parallel_text_up" in name:
                parameter.add_(0.5 * torch.randn_like(parameter))
    return peft_model


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
