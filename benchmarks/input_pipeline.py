"""Input pipeline of training: samples per second of the DataLoader (decode, augment, resize, points) with 0, 2 and N
workers, beside the time of a training step.

The rows are `examples/train.py`'s own DataLoader (its `SamPtxDataCollator`, the run's processor) over JPEG-encoded
images of 1024 x 768 pixels in a `datasets.Dataset` (decoded on access, as the loaders' datasets are), batch 8; the
training step is the default run's (the built-in tiny SAM, 128 px, batch 8: forward, backward, AdamW). A step of
SAM ViT-B needs a GPU to be worth timing and is not measured here.

    python benchmarks/input_pipeline.py --output benchmarks/results_input_pipeline_cpu_2core.json
"""

import argparse
import io
import json
import os
import platform
import time

import datasets
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from samptx_hf.data import SamPtxDataCollator
from samptx_hf.data.augmentation import PairedAugmentation
from samptx_hf.modeling.sam_backbones import input_image_size, low_res_mask_size
from samptx_hf.processing.image_processing_sam2 import Sam2TorchImageProcessor
from samptx_hf.training import DataArguments, ModelArguments
from samptx_hf.training.loop import _model_inputs
from samptx_hf.training.modeling import build_peft_model, frozen_component_paths


def jpeg_dataset(num_images: int, height: int = 768, width: int = 1024) -> datasets.Dataset:
    """Random-texture JPEGs with a box mask each, one row per image, decoded on access."""
    rng = np.random.default_rng(0)
    rows = {"image": [], "mask": [], "class_name": [], "image_id": [], "sample_index": []}
    for index in range(num_images):
        pixels = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((width, height), Image.BILINEAR)
        encoded = io.BytesIO()
        image.save(encoded, format="JPEG", quality=90)
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[200:500, 300:700] = 255
        rows["image"].append({"bytes": encoded.getvalue(), "path": None})
        rows["mask"].append(Image.fromarray(mask))
        rows["class_name"].append("box")
        rows["image_id"].append(str(index))
        rows["sample_index"].append(index)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "class_name": datasets.Value("string"),
            "image_id": datasets.Value("string"),
            "sample_index": datasets.Value("int64"),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)


def samples_per_second(dataset, collator, workers: int, batch_size: int = 8) -> float:
    """Rows per second through the DataLoader, its workers started before the clock."""
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, collate_fn=collator, num_workers=workers, persistent_workers=False
    )
    iterator = iter(loader)
    next(iterator)  # workers started, first batch out
    started, rows = time.perf_counter(), 0
    for batch in iterator:
        rows += len(batch["class_names"])
    return rows / (time.perf_counter() - started)


def tiny_step_seconds(repeats: int = 20) -> float:
    """Median seconds of the default run's training step (built-in tiny SAM, batch 8)."""
    model_args, data_args = ModelArguments(), DataArguments(num_train_samples=64, num_eval_samples=8)
    from samptx_hf.evaluation.evaluate_model import text_embeddings_by_class
    from samptx_hf.processing.processing_samptx import image_processor_for_sam_config
    from samptx_hf.training.datasets import load_splits

    train, _ = load_splits(data_args)
    model = build_peft_model(model_args, *frozen_component_paths(model_args, None))
    base = model.get_base_model()
    collator = SamPtxDataCollator(image_processor_for_sam_config(base.config.sam_config), train=True)
    table = text_embeddings_by_class(base, sorted(set(train["class_name"])))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = collator([train[index] for index in range(8)])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        loss = model(**_model_inputs(batch, table, "cpu")).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return float(np.median(times[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_images", type=int, default=96)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = jpeg_dataset(args.num_images)
    from transformers import SamConfig

    from samptx_hf.processing.processing_samptx import image_processor_for_sam_config

    sam_config = SamConfig()  # SAM ViT-B's shapes: 1024 px input, 256 px masks
    size, mask_size = input_image_size(sam_config), low_res_mask_size(sam_config)
    processors = {
        "longest": image_processor_for_sam_config(sam_config),
        "square": Sam2TorchImageProcessor(
            size={"height": size, "width": size}, mask_size={"height": mask_size, "width": mask_size}
        ),
    }
    cores = os.cpu_count() or 1
    rows = []
    for resize, processor in processors.items():
        for augment in (False, True):
            collator = SamPtxDataCollator(
                processor, num_points=5, train=True, augmentation=PairedAugmentation() if augment else None
            )
            for workers in sorted({0, 2, cores}):
                rate = samples_per_second(dataset, collator, workers)
                rows.append({"resize": resize, "augment": augment, "workers": workers, "samples_per_second": rate})
                print(json.dumps(rows[-1]), flush=True)
    step = tiny_step_seconds()
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {cores} CPU cores, torch {torch.__version__}",
        "images": "1024 x 768 JPEG, batch 8, 5 points a row",
        "input_pipeline": rows,
        "tiny_training_step_seconds": step,
        "tiny_training_step_samples_per_second": 8 / step,
        "vit_b_training_step": "not measured (no GPU in this session)",
    }
    print(json.dumps(result, indent=2))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=2)
            file.write("\n")


if __name__ == "__main__":
    main()
