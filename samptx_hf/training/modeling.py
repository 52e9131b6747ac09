"""The model of a training run: frozen SAM + CLIP, the method's adapter, and the matching image processor."""

from pathlib import Path

import torch
from peft import PeftModel, get_peft_model
from transformers import CLIPTextModelWithProjection, SamModel

from ..methods import peft_config_for, text_injection_for
from ..modeling_samptx import SamPtxForTextSegmentation
from ..tiny import tiny_clip_tokenizer, tiny_samptx_config
from .arguments import ModelArguments

TINY = "tiny"


def save_tiny_components(args: ModelArguments, directory: Path, seed: int) -> tuple[Path, Path]:
    """Write a tiny random SAM and CLIP text encoder (+ tokenizer) to `directory/{sam,clip}`; returns their paths.

    The default run trains on this random frozen base; saving it lets its adapter be loaded like any other.
    """
    config = tiny_samptx_config(
        image_size=args.tiny_image_size, hidden_size=args.tiny_hidden_size, num_hidden_layers=args.tiny_num_layers
    )
    torch.manual_seed(seed)
    sam_dir, clip_dir = directory / "sam", directory / "clip"
    SamModel(config.sam_config).save_pretrained(sam_dir)
    CLIPTextModelWithProjection(config.text_config).save_pretrained(clip_dir)
    tiny_clip_tokenizer().save_pretrained(clip_dir)
    return sam_dir.resolve(), clip_dir.resolve()


def build_peft_model(args: ModelArguments, sam_path: str | Path, clip_path: str | Path) -> PeftModel:
    """SAM-PTx from its frozen components, with the adapter of `args.method` (frozen base, trainable adapter)."""
    loss_type = args.loss_type
    if loss_type == "auto":
        loss_type = "bce_dice" if args.sam_model_name_or_path == TINY else "sam"
    model = SamPtxForTextSegmentation.from_pretrained_components(
        sam_path,
        clip_path,
        prompt_template=args.prompt_template,
        text_injection=text_injection_for(args.method).value,
        loss_type=loss_type,
    )
    peft_config = peft_config_for(
        args.method,
        r=args.adapter_r,
        scaling=args.adapter_scaling,
        dropout=args.adapter_dropout,
        activation=args.adapter_activation,
        adapter_layers=args.adapter_layers,
    )
    return get_peft_model(model, peft_config)
