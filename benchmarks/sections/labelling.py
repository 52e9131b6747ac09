"""Labelling a dataset (`samptx label`): images per second for 1, 8 and 32 classes per image.

The labeller (`samptx_hf.labelling.BatchAnnotator`, what `samptx label` runs) encodes each class's text once per
run and each image's text-free blocks once; it is timed with adapters in every block and in the last blocks only
(`--shared_layers`, `last:K`), against `segment()` called once per (image, class), the one-image-at-a-time loop of
Grounded-SAM-style scripts. Each variant labels the same random images; mask upsampling to the image size is in
every variant, the COCO encoding and the writing are not (the same for all).
"""

from typing import Any

import numpy as np
import torch
from common import DEFAULT_SHARED_LAYERS, Section, SizeRun, format_seconds, time_in_rotation
from PIL import Image

from samptx_hf import Method, segment
from samptx_hf.labelling import BatchAnnotator
from samptx_hf.processing.processing_samptx import SamPtxProcessor, image_processor_for_sam_config

# ViT-B on a CPU takes seconds per image-encoder pass: 32 classes x 2 images of separate calls would take minutes.
CLASS_COUNTS = {"tiny": (1, 8, 32), "vit-b": (1, 8), "vit-b on a GPU": (1, 8, 32)}
NUM_IMAGES = {"tiny": 8, "vit-b": 2, "vit-b on a GPU": 8}
REPEATS = {"tiny": 3, "vit-b": 1, "vit-b on a GPU": 3}
IMAGE_SIZE = (640, 480)  # (width, height) of the images, resized to SAM's input like any photo


def measure(run: SizeRun) -> dict[str, Any]:
    """Images per second of the labeller (adapters in every block; in `--shared_layers` only) and of `segment()`
    once per (image, class) (adapters in `--shared_layers`), for each number of classes of `CLASS_COUNTS`."""
    models, device = run.models, run.device
    shared_layers = run.options.shared_layers or DEFAULT_SHARED_LAYERS[run.size]
    every_block = models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval()
    last_blocks = models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
    last_blocks = last_blocks.to(device).eval()
    processor = SamPtxProcessor(
        image_processor_for_sam_config(models.sam_config), last_blocks.get_base_model().get_tokenizer()
    )
    plan = "vit-b on a GPU" if run.size == "vit-b" and device.type == "cuda" else run.size
    rng = np.random.default_rng(0)
    width, height = IMAGE_SIZE
    images = [
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(NUM_IMAGES[plan])
    ]
    vocabulary = [f"class {index}" for index in range(max(CLASS_COUNTS[plan]))]

    rows = {}
    for num_classes in CLASS_COUNTS[plan]:
        classes = vocabulary[:num_classes]
        run.log(f"labelling: {num_classes} classes x {len(images)} images")
        # Built outside the timing: a run encodes its vocabulary once, whatever the number of images.
        labeller_all = BatchAnnotator(every_block, classes, processor=processor)
        labeller_last = BatchAnnotator(last_blocks, classes, processor=processor)

        def segment_each(model: torch.nn.Module, classes: list[str] = classes) -> None:
            for image in images:
                for name in classes:
                    segment(model, image, name, processor=processor)

        variants = {
            "labeller_all": lambda labeller=labeller_all: labeller.annotate(images),
            "labeller_shared": lambda labeller=labeller_last: labeller.annotate(images),
            "segment_each_shared": lambda: segment_each(last_blocks),
        }
        with torch.inference_mode():
            timings = time_in_rotation(variants, REPEATS[plan], device, warmup=int(device.type == "cuda"))
        for timing in timings.values():
            timing["images_per_s"] = len(images) / timing["median_s"]
            timing["ratio_to_segment_each"] = timing["median_s"] / timings["segment_each_shared"]["median_s"]
        rows[str(num_classes)] = timings
    return {
        "by_num_classes": rows,
        "num_images": len(images),
        "image_size": list(IMAGE_SIZE),
        "shared_layers": shared_layers,
        "adapted_blocks": last_blocks.peft_config["default"].layers_to_transform,
        "num_blocks": models.sam_config.vision_config.num_hidden_layers,
    }


def report(section: dict[str, Any]) -> list[str]:
    blocks, adapted = section["num_blocks"], section["adapted_blocks"]
    names = {
        "labeller_all": f"labeller, adapters in all {blocks} blocks",
        "labeller_shared": f"labeller, adapters in blocks {adapted} only (`{section['shared_layers']}`)",
        "segment_each_shared": f"`segment()` per (image, class), adapters in blocks {adapted}",
    }
    first = next(iter(section["by_num_classes"].values()))
    width, height = section["image_size"]
    lines = [
        f"\n### Labelling {section['num_images']} images of {width} × {height} (median of "
        f"{first['labeller_all']['n']}; load {section['load']})\n",
        "| classes per image | how | images/s | per image | × `segment()` per class |",
        "|---|---|---|---|---|",
    ]
    for num_classes, timings in section["by_num_classes"].items():
        for name, label in names.items():
            row = timings[name]
            lines.append(
                f"| {num_classes} | {label} | {row['images_per_s']:.2f} | "
                f"{format_seconds(row['median_s'] / section['num_images'])} | {row['ratio_to_segment_each']:.3f} |"
            )
    return lines


SECTION = Section(
    name="labelling",
    summary="samptx label's images/s for 1, 8 and 32 classes per image: adapters in all blocks vs the last blocks, "
    "against segment() once per (image, class)",
    measure=measure,
    report=report,
)
