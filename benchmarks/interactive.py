"""Encode once, click in milliseconds: the predictor's latencies against `SamModel`'s and `segment()`'s, and the
memory its caches take.

    python benchmarks/interactive.py --sizes tiny --threads 1            # seconds
    python benchmarks/interactive.py --sizes tiny,vit-b --threads 1      # ViT-B: about 10 minutes
    python benchmarks/interactive.py --sizes tiny,vit-b --threads 1 --encoder-repeats 9   # about 17 minutes

Rows (median of interleaved repeats; ratios of the medians, and the median of each round's ratio, which drifts in the
machine's speed do not move):
- a cached click: `SamPtxPredictor.predict` on a cached (image, class) against `SamModel(image_embeddings=...)` on the
  same prompt, both from precomputed image embeddings;
- a new class on a cached image, adapters in every block and in the last 2 blocks;
- the first call (`set_image` + `predict`) against `segment()`;
- the caches' memory per image (the trunk) and per class (the image embeddings), from the shapes.

At ViT-B every row that runs the image encoder gets `--encoder-repeats` (one encoder pass costs 10-20 s on this CPU);
the memory rows follow from the configuration.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Models, load_average, paired_ratio, time_in_rotation  # noqa: E402

from samptx_hf import SamPtxPredictor, segment  # noqa: E402
from samptx_hf.processing.processing_samptx import SamPtxProcessor, image_processor_for_sam_config  # noqa: E402


def image_of(size: int) -> Image.Image:
    """A random RGB image of 4:3 aspect ratio whose long side is SAM's input size."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size * 3 // 4, size, 3), dtype=np.uint8))


def cache_bytes(models: Models) -> dict[str, int]:
    """Bytes of one image's trunk (adapters in every block: the patch embedding; in the last K: the same shape) and
    of one class's image embeddings, float32."""
    vision = models.sam_config.vision_config
    side = vision.image_size // vision.patch_size
    return {
        "trunk_bytes": side * side * vision.hidden_size * 4,
        "class_bytes": side * side * vision.output_channels * 4,
    }


def measure(models: Models, repeats: int, encoder_repeats: int) -> dict[str, Any]:
    """The rows of one size: `repeats` of each click, `encoder_repeats` of each row that runs the image encoder."""
    image = image_of(models.sam_config.vision_config.image_size)
    point = [(image.width * 0.4, image.height * 0.5)]
    results: dict[str, Any] = {"load_before": load_average(), **cache_bytes(models)}

    peft_model = models.peft_model("parallel_text", init_weights=False).eval()
    processor = SamPtxProcessor(
        image_processor_for_sam_config(models.sam_config), peft_model.get_base_model().get_tokenizer()
    )
    predictor = SamPtxPredictor(peft_model, processor)
    with torch.no_grad():
        predictor.set_image(image)
        predictor.predict("circle", points=point)  # the class is now cached
        features = predictor._engine.class_features.peek("circle")
        prompts = processor.encode_prompts(predictor.original_size, predictor._reshaped_size, "circle", point)
        sam = models.sam

        def sam_cached_click() -> None:
            with torch.no_grad():
                sam(
                    image_embeddings=features.image_embeddings,
                    input_points=prompts["input_points"],
                    input_labels=prompts["input_labels"],
                    multimask_output=False,
                )

        def sam_cached_click_at_image_size() -> None:
            with torch.no_grad():
                outputs = sam(
                    image_embeddings=features.image_embeddings,
                    input_points=prompts["input_points"],
                    input_labels=prompts["input_labels"],
                    multimask_output=False,
                )
            processor.post_process_masks(
                outputs.pred_masks, torch.tensor([predictor.original_size]), torch.tensor([predictor._reshaped_size])
            )

        def predictor_cached_click() -> None:
            predictor.predict("circle", points=point)

        timing = time_in_rotation(
            {
                "samptx_predictor": predictor_cached_click,
                "sam_model": sam_cached_click,
                "sam_model_masks_at_image_size": sam_cached_click_at_image_size,
            },
            repeats,
            torch.device("cpu"),
        )
    results["cached_click"] = timing
    results["cached_click_ratio"] = timing["samptx_predictor"]["median_s"] / timing["sam_model"]["median_s"]
    results["cached_click_paired_ratio"] = paired_ratio(timing, "samptx_predictor", "sam_model")
    results["cached_click_ratio_at_image_size"] = (
        timing["samptx_predictor"]["median_s"] / timing["sam_model_masks_at_image_size"]["median_s"]
    )
    names = iter(f"class{index}" for index in range(10_000))
    last_two = SamPtxPredictor(models.peft_model("parallel_text", adapter_layers="last:2", init_weights=False))
    last_two.set_image(image)
    new_class = time_in_rotation(
        {
            "every_block": lambda: predictor.predict(next(names), points=point),
            "last_2_blocks": lambda: last_two.predict(next(names), points=point),
        },
        encoder_repeats,
        torch.device("cpu"),
    )
    results["new_class"] = new_class

    def first_call() -> None:
        fresh = SamPtxPredictor(peft_model, processor)
        fresh.set_image(image)
        fresh.predict("circle", points=point)

    first = time_in_rotation(
        {
            "predictor_first_call": first_call,
            "segment": lambda: segment(peft_model, image, "circle", points=point, processor=processor),
        },  # fmt: skip
        encoder_repeats,
        torch.device("cpu"),
    )
    results["first_call"] = first
    results["first_call_ratio"] = first["predictor_first_call"]["median_s"] / first["segment"]["median_s"]
    results["first_call_paired_ratio"] = paired_ratio(first, "predictor_first_call", "segment")
    results["load_after"] = load_average()
    return results


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.2f} MiB" if num_bytes >= 2**20 else f"{num_bytes / 2**10:.1f} KiB"


def report(results: dict[str, Any]) -> str:
    """Markdown tables of `measure`'s results, one section per size."""
    lines = []
    for size, rows in results["sizes"].items():
        load = f"load {rows['load_before'][0]} → {rows['load_after'][0]}"
        lines += [f"### {size}: the predictor (threads {results['threads']}; {load})", ""]
        lines += ["| row | SAM-PTx | reference | ratio |", "|---|---:|---:|---:|"]
        click = rows["cached_click"]
        lines.append(
            f"| cached click (vs `SamModel(image_embeddings=...)`) | {_ms(click['samptx_predictor']['median_s'])} | "
            f"{_ms(click['sam_model']['median_s'])} | {rows['cached_click_ratio']:.3f} |"
        )
        lines.append(
            f"| cached click (vs the same + `post_process_masks`, masks at image size as the predictor returns) | "
            f"{_ms(click['samptx_predictor']['median_s'])} | {_ms(click['sam_model_masks_at_image_size']['median_s'])} "
            f"| {rows['cached_click_ratio_at_image_size']:.3f} |"
        )
        if "cached_click_paired_ratio" in rows:
            lines.append(
                "| cached click, median of the per-round ratios to `SamModel(image_embeddings=...)` | | | "
                f"{rows['cached_click_paired_ratio']:.3f} |"
            )
        if "new_class" in rows:
            every, last = rows["new_class"]["every_block"], rows["new_class"]["last_2_blocks"]
            lines.append(f"| new class on a cached image, adapters in every block | {_ms(every['median_s'])} | | |")
            lines.append(
                f"| new class on a cached image, adapters in the last 2 blocks | {_ms(last['median_s'])} | | |"
            )
            first = rows["first_call"]
            lines.append(
                f"| first call: `set_image` + `predict` (vs `segment()`) | "
                f"{_ms(first['predictor_first_call']['median_s'])} | {_ms(first['segment']['median_s'])} | "
                f"{rows['first_call_ratio']:.3f} |"
            )
            if "first_call_paired_ratio" in rows:
                lines.append(
                    "| first call, median of the per-round ratios (each round times both, one after the other) | | | "
                    f"{rows['first_call_paired_ratio']:.3f} |"
                )
        lines.append(f"| cache per image (trunk, float32) | {_size(rows['trunk_bytes'])} | | |")
        lines.append(f"| cache per class (image embeddings, float32) | {_size(rows['class_bytes'])} | | |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny", help="comma-separated, of tiny, vit-b")
    parser.add_argument(
        "--repeats", type=int, default=20, help="repeats of each timed call (ViT-B: of the cached click)"
    )
    parser.add_argument(
        "--encoder-repeats", type=int, default=5, help="ViT-B: repeats of each row that runs the image encoder"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--output", default=None, help="JSON file of the results")
    parser.add_argument("--report", action="store_true", help="only print the tables of --output")
    args = parser.parse_args(argv)
    if args.report:
        if args.output is None:
            parser.error("--report needs --output, the JSON file to report")
        results = json.loads(Path(args.output).read_text())
        print(report(results))
        return results
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = sorted(set(sizes) - {"tiny", "vit-b"})
    if unknown or not sizes:
        parser.error(f"--sizes {args.sizes!r}: expected a comma-separated list of tiny, vit-b")
    if min(args.repeats, args.encoder_repeats, args.threads) < 1:
        parser.error(
            f"--repeats {args.repeats}, --encoder-repeats {args.encoder_repeats} and --threads {args.threads} "
            "must each be at least 1"
        )
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads, "cpu_count": os.cpu_count(), "sizes": {}}
    for size in sizes:
        # The tiny SAM with 8 blocks, so that "the last 2 blocks" is a quarter of the encoder as at ViT-B (12).
        models = Models(size, encoder_blocks=8 if size == "tiny" else None)
        results["sizes"][size] = measure(models, args.repeats, args.repeats if size == "tiny" else args.encoder_repeats)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    return results


if __name__ == "__main__":
    main()
