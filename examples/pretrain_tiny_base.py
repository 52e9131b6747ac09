"""Pretrain the built-in tiny SAM (`samptx_hf:tiny-sam`) or SAM 2 (`samptx_hf:tiny-sam2`) that the default run, the
ablation and the docs build on.

SAM-PTx starts from a SAM that already segments the object under a point and teaches it which object a class name
means. A randomly initialised tiny SAM cannot stand in for that: it never learns to use a point (docs/method.md).
This script gives the tiny SAM what real SAM has before SAM-PTx: it trains every weight, class-agnostically, to
segment the object under a random point, on generated images of plain objects of random colours
(`samptx_hf.data.synthetic_parts.generate_object_sample`: no class names, no composites of the built-in task).

    OMP_NUM_THREADS=1 python examples/pretrain_tiny_base.py            # about 10 minutes on one CPU core
    OMP_NUM_THREADS=1 python examples/pretrain_tiny_base.py --sam_version 2 --max_steps 5000

It writes `tiny-sam/` (SamModel, safetensors), `tiny-clip/` (the tiny random CLIP text encoder and its tokenizer,
seeded) and `pretraining.json` (settings and held-out IoU) to `--output_dir`, by default the package's
`samptx_hf/pretrained/`; with `--sam_version 2`, `tiny-sam2/` (Sam2Model,
`samptx_hf.modeling.tiny.pretrained_tiny_sam2_config`)
and `pretraining-sam2.json` instead. Then update `SHA256` in `samptx_hf/pretrained/__init__.py` with the printed
checksums.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPTextModelWithProjection, HfArgumentParser, Sam2Model, SamModel
from transformers.utils import logging

from samptx_hf.data import SamPtxDataCollator, image_processor_for_sam_config
from samptx_hf.data.synthetic_parts import generate_object_sample
from samptx_hf.modeling.losses import LOSS_WEIGHTS, binary_mask_iou, sam_segmentation_loss
from samptx_hf.modeling.tiny import (
    pretrained_tiny_sam2_config,
    pretrained_tiny_sam_config,
    tiny_clip_tokenizer,
    tiny_text_config,
)
from samptx_hf.pretrained import PRETRAINED_DIR, file_sha256
from samptx_hf.training.click_rounds import follow_up_rounds

TRAIN_SEED, HELD_OUT_SEED = 100, 101  # seeds of generate_object_sample; the tasks' own splits use other streams


@dataclass
class PretrainingArguments:
    output_dir: str = field(default=str(PRETRAINED_DIR), metadata={"help": "Where tiny-sam/ and tiny-clip/ go."})
    sam_version: int = field(default=1, metadata={"help": "1: the tiny SamModel; 2: the tiny Sam2Model."})
    max_steps: int = field(default=3000, metadata={"help": "Optimiser steps."})
    batch_size: int = field(default=8, metadata={"help": "Images per step."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak learning rate of the one-cycle schedule."})
    seed: int = field(default=0, metadata={"help": "Seed of the initialisation and the points."})
    num_eval_samples: int = field(default=256, metadata={"help": "Held-out images for the reported IoU."})
    log_steps: int = field(default=100, metadata={"help": "Print the loss every N steps."})
    click_rounds: int = field(
        default=1,
        metadata={
            "help": "Prompt rounds per image, as SAM is pretrained: each after the first adds a simulated click in "
            "the largest error region and the previous mask logits (negative clicks and mask prompts get trained)."
        },
    )

    def __post_init__(self) -> None:
        if self.sam_version not in (1, 2):
            raise ValueError(f"--sam_version must be 1 or 2, got {self.sam_version}")
        for name in ("max_steps", "batch_size", "learning_rate", "num_eval_samples", "log_steps", "click_rounds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}")


def initial_model(seed: int, sam_version: int = 1) -> SamModel | Sam2Model:
    """A random tiny SAM whose random Fourier positional features have SAM's scale (std 1).

    transformers draws SAM's with std `hidden_size // 2` (32 here), which turns a point into high-frequency noise
    that a small decoder cannot learn from; SAM's own random features use std 1. SAM 2's have std 1, but
    `Sam2Model` holds two copies (image positions, `shared_image_embedding`, and point positions,
    `prompt_encoder.shared_embedding`) drawn independently: as in SAM 2 itself, both get the same features, so that
    a point and the image position under it are encoded alike.
    """
    torch.manual_seed(seed)
    model = SamModel(pretrained_tiny_sam_config()) if sam_version == 1 else Sam2Model(pretrained_tiny_sam2_config())
    with torch.no_grad():
        features = model.shared_image_embedding.positional_embedding
        features.copy_(torch.randn(features.shape, generator=torch.Generator().manual_seed(seed)))
        if sam_version == 2:
            model.prompt_encoder.shared_embedding.positional_embedding.copy_(features)
    return model


def object_rows(indices, seed: int) -> list[dict]:
    rows = []
    for index in indices:
        image, mask = generate_object_sample(int(index), seed)
        rows.append({"image": Image.fromarray(image), "mask": mask, "class_name": "object", "sample_index": index})
    return rows


def prompt_rounds(model: SamModel | Sam2Model, batch: dict, rounds: int) -> list:
    """The outputs of `rounds` prompt rounds on `batch`: its points, then one simulated click more per round with the
    previous mask logits (`samptx_hf.training.click_rounds`); the image encoder runs once."""
    prompts = {"input_points": batch["input_points"], "input_labels": batch["input_labels"]}
    if isinstance(model, Sam2Model):
        outputs = model(pixel_values=batch["pixel_values"], **prompts, multimask_output=False)
        image_embeddings = outputs.image_embeddings
    else:  # SamModel's output does not carry its image embeddings
        image_embeddings = model.vision_encoder(batch["pixel_values"])[0]
        outputs = model(image_embeddings=image_embeddings, **prompts, multimask_output=False)

    def decode(points: torch.Tensor, labels: torch.Tensor, mask_prompt: torch.Tensor):
        return model(
            image_embeddings=image_embeddings,
            input_points=points,
            input_labels=labels,
            input_masks=mask_prompt,
            multimask_output=False,
        )

    later = follow_up_rounds(
        outputs,
        decode,
        batch["input_points"],
        batch["input_labels"],
        batch["labels"],
        batch["reshaped_input_sizes"],
        batch["pixel_values"].shape[-1],
        rounds,
    )
    return [outputs, *later]


@torch.no_grad()
def held_out_ious(
    model: SamModel | Sam2Model, collator: SamPtxDataCollator, rows: list[dict], rounds: int = 1, batch_size: int = 32
) -> list[float]:
    """Mean IoU of the predicted mask with the target after each of `rounds` clicks, the first at the interior point,
    at the low-res mask size."""
    model.eval()
    ious: list[list[torch.Tensor]] = [[] for _ in range(rounds)]
    for start in range(0, len(rows), batch_size):
        batch = collator(rows[start : start + batch_size])
        for index, outputs in enumerate(prompt_rounds(model, batch, rounds)):
            ious[index].append(binary_mask_iou(outputs.pred_masks[:, 0, 0], batch["labels"]))
    model.train()
    return [float(torch.cat(values).mean()) for values in ious]


def facts_file(sam_version: int) -> str:
    """The name of the JSON file of the pretraining's settings and results."""
    return "pretraining.json" if sam_version == 1 else "pretraining-sam2.json"


def main(argv: list[str] | None = None) -> dict:
    logging.disable_progress_bar()
    (args,) = HfArgumentParser(PretrainingArguments, description=__doc__).parse_args_into_dataclasses(args=argv)
    model = initial_model(args.seed, args.sam_version)
    processor = image_processor_for_sam_config(model.config)
    train_collator = SamPtxDataCollator(processor, train=True, seed=args.seed)
    eval_collator = SamPtxDataCollator(processor, train=False, seed=args.seed)
    held_out = object_rows(range(args.num_eval_samples), HELD_OUT_SEED)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.learning_rate, total_steps=args.max_steps)
    started, running = time.perf_counter(), []
    model.train()
    for step in range(args.max_steps):
        # Every step sees new images: sample `i` of the stream is image `i` of the training seed.
        batch = train_collator(object_rows(range(step * args.batch_size, (step + 1) * args.batch_size), TRAIN_SEED))
        losses = [
            sam_segmentation_loss(outputs.pred_masks, outputs.iou_scores, batch["labels"], **LOSS_WEIGHTS["bce_dice"])
            for outputs in prompt_rounds(model, batch, args.click_rounds)
        ]
        loss = torch.stack(losses).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        running.append(loss.item())
        if (step + 1) % args.log_steps == 0:
            print(f"step {step + 1}: loss {np.mean(running):.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
            running = []
    train_seconds = time.perf_counter() - started

    click_ious = held_out_ious(model, eval_collator, held_out, rounds=args.click_rounds)
    object_iou = click_ious[0]
    print(f"held-out object IoU (one interior point, {len(held_out)} images): {object_iou:.4f}")
    if args.click_rounds > 1:
        print("held-out IoU after each simulated click: " + ", ".join(f"{iou:.4f}" for iou in click_ious))

    output_dir = Path(args.output_dir)
    sam_name = "tiny-sam" if args.sam_version == 1 else "tiny-sam2"
    written = [sam_name]
    model.save_pretrained(output_dir / sam_name)
    if args.sam_version == 1:  # the tiny CLIP serves both bases
        torch.manual_seed(args.seed)
        CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(output_dir / "tiny-clip")
        tiny_clip_tokenizer().save_pretrained(output_dir / "tiny-clip")
        written.append("tiny-clip")
    facts = {
        "arguments": {name: value for name, value in asdict(args).items() if name != "output_dir"},
        "train_seconds": round(train_seconds, 1),
        "torch": torch.__version__,
        "held_out_object_iou": round(object_iou, 4),
        **({"held_out_iou_after_click": [round(iou, 4) for iou in click_ious]} if args.click_rounds > 1 else {}),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    (output_dir / facts_file(args.sam_version)).write_text(json.dumps(facts, indent=2) + "\n")
    for name in written:
        print(f"SHA256 {name}/model.safetensors: {file_sha256(output_dir / name / 'model.safetensors')}")
    return facts


if __name__ == "__main__":
    main()
