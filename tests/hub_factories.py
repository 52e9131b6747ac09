"""Tiny frozen SAM and CLIP checkpoints on disk, and trained-looking SAM-PTx adapters built on them."""

from pathlib import Path

import numpy as np
import torch
from peft import PeftModel, get_peft_model
from PIL import Image
from transformers import CLIPTextModelWithProjection, SamModel

from samptx_hf import ParallelTextConfig, SamPtxForTextSegmentation
from samptx_hf.tiny import tiny_clip_tokenizer, tiny_sam_config, tiny_text_config

IMAGE_SIZE = 64


def save_frozen_components(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """A tiny SamModel and a tiny CLIP text encoder + tokenizer saved as `directory/sam` and `directory/clip`."""
    torch.manual_seed(seed)
    SamModel(tiny_sam_config(image_size=IMAGE_SIZE)).save_pretrained(directory / "sam")
    CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(directory / "clip")
    tiny_clip_tokenizer().save_pretrained(directory / "clip")
    return directory / "sam", directory / "clip"


def make_peft_model(sam_dir: Path, clip_dir: Path, seed: int = 0) -> PeftModel:
    """SAM-PTx on the saved components with random (as if trained) adapters and mask decoder, in eval mode."""
    base = SamPtxForTextSegmentation.from_pretrained_components(sam_dir, clip_dir, prompt_template="a {} thing")
    torch.manual_seed(seed)
    peft_model = get_peft_model(base, ParallelTextConfig(r=4, init_weights=False))
    with torch.no_grad():  # "training" moved the decoder away from SAM's
        for parameter in peft_model.base_model.model.sam.mask_decoder.modules_to_save["default"].parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return peft_model.eval()


def make_image(width: int = 80, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))
