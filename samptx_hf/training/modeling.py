"""The model of a training run: frozen SAM + CLIP, the method's adapter, and the matching image processor."""

from pathlib import Path

import torch
from peft import PeftModel, get_peft_model
from torch import nn
from transformers import CLIPTextModelWithProjection, SamModel

from ..modeling.methods import peft_config_for, text_injection_for
from ..modeling.modeling_samptx import SamPtxForTextSegmentation
from ..modeling.tiny import TINY, TINY_RANDOM, tiny_clip_tokenizer, tiny_samptx_config
from ..pretrained import TINY_CLIP, TINY_SAM, is_builtin
from ..tuners.parallel_text.model import trained_copies
from .arguments import ModelArguments

_TINY_NAMES = {"sam": TINY_SAM, "clip": TINY_CLIP}


def save_tiny_random_components(args: ModelArguments, directory: Path, seed: int) -> tuple[Path, Path]:
    """Write a tiny random SAM and CLIP text encoder (+ tokenizer) to `directory/{sam,clip}`; returns their paths.

    A run on this random frozen base is for fast tests only: its adapter names these local folders. Sizes left
    unset in `args` are 128 px, 64 wide, 4 blocks.
    """
    config = tiny_samptx_config(
        image_size=args.tiny_image_size or 128,
        hidden_size=args.tiny_hidden_size or 64,
        num_hidden_layers=args.tiny_num_layers or 4,
    )
    torch.manual_seed(seed)
    sam_dir, clip_dir = directory / "sam", directory / "clip"
    SamModel(config.sam_config).save_pretrained(sam_dir)
    CLIPTextModelWithProjection(config.text_config).save_pretrained(clip_dir)
    tiny_clip_tokenizer().save_pretrained(clip_dir)
    return sam_dir.resolve(), clip_dir.resolve()


def frozen_component_paths(args: ModelArguments, tiny_random_dir: Path) -> tuple[str, str]:
    """The names the run's config records for its frozen SAM and CLIP: `tiny` becomes the built-in base's name (it
    resolves wherever the package is installed), `tiny-random` the folder `save_tiny_random_components` wrote."""

    def resolve(name: str, component: str) -> str:
        if name == TINY:
            return _TINY_NAMES[component]
        if name == TINY_RANDOM:
            return str((tiny_random_dir / component).resolve())
        return name

    return resolve(args.sam_model_name_or_path, "sam"), resolve(args.text_model_name_or_path, "clip")


def uses_tiny_sam(args: ModelArguments) -> bool:
    """Whether the frozen SAM is one of the tiny ones (the built-in base or a random one)."""
    return args.sam_model_name_or_path in (TINY, TINY_RANDOM) or is_builtin(args.sam_model_name_or_path)


def build_peft_model(
    args: ModelArguments, sam_path: str | Path, clip_path: str | Path, presence_head: bool = False
) -> PeftModel:
    """SAM-PTx from its frozen components, with the adapter of `args.method` (frozen base, trainable adapter) and,
    with `presence_head`, a trained presence answer (`SamPtxConfig.presence_head`)."""
    loss_type = args.loss_type
    if loss_type == "auto":
        loss_type = "bce_dice" if uses_tiny_sam(args) else "sam"
    model = SamPtxForTextSegmentation.from_pretrained_components(
        sam_path,
        clip_path,
        prompt_template=args.prompt_template,
        subtract_empty_prompt=args.subtract_empty_prompt,
        text_injection=text_injection_for(args.method).value,
        loss_type=loss_type,
        presence_head=presence_head,
    )
    peft_config = peft_config_for(
        args.method,
        r=args.adapter_r,
        scaling=args.adapter_scaling,
        dropout=args.adapter_dropout,
        activation=args.adapter_activation,
        adapter_layers=args.layers_to_transform,
        form=args.adapter_form,
    )
    return get_peft_model(model, peft_config)


# SAM's box-corner embeddings (`point_embed.2`, `.3`): training prompts with points and text, never with a box.
_BOX_CORNERS = (2, 3)


def freeze_unprompted_parts(model: PeftModel, click_rounds: int) -> list[str]:
    """Freeze, in a trained copy of SAM's prompt encoder (the reference form trains it), the parts no training input
    reaches: the box-corner embeddings, and the mask embedding unless later click rounds feed a mask back. No loss
    would give them a gradient, which DistributedDataParallel refuses; AdamW leaves them as they are either way, so
    a single-process run trains the same weights. Returns the frozen parameters' names."""
    frozen = []
    for trained in trained_copies(model):
        if not hasattr(trained, "mask_embed") or not hasattr(trained, "point_embed"):
            continue  # not a prompt encoder
        parts = [] if click_rounds > 1 else ["mask_embed"]
        if isinstance(trained.point_embed, nn.ModuleList):  # SAM; SAM 2's one table trains with its point rows
            parts += [f"point_embed.{index}" for index in _BOX_CORNERS]
        for part in parts:
            submodule = trained.get_submodule(part).requires_grad_(False)
            frozen += [f"{part}.{name}" for name, _ in submodule.named_parameters()]
    return frozen
