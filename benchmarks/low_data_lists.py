"""Loading a standard low-data list from a split of the real size costs about as much as loading a file of the listed
images alone.

Builds, under `--work_dir` (default: a folder in the system's temporary directory, reused between runs):

- a COCO instances file of the real size of `instances_train2017.json` (118,287 image entries, about 830,000 polygon
  annotations of realistic length, 80 categories) and the same file cut down to the images of the list, with only
  the listed images on disk (tiny JPEGs named as the list names them);
- an ADE20K `ADEChallengeData2016` folder with all 20,210 training images and annotations (tiny files).

Then it times `samptx_hf.data.load_split` with the list against the cut-down split (COCO) or a folder of the listed
files alone (ADE20K), and prints a table. With `--train_runs`, it also times `examples/train.py --max_steps 2` both
ways (the tiny random SAM, so that the data dominates).

    python benchmarks/low_data_lists.py --coco_list splits/coco/1_512/labeled.txt \\
        --ade20k_list splits/ade20k/1_64/labeled.txt [--train_runs]

The lists are UniMatch's `splits/coco/1_512/labeled.txt` and UniMatch-V2's `splits/ade20k/1_64/labeled.txt`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from samptx_hf.data import load_split, read_image_list

COCO_IMAGES = 118_287
COCO_ANNOTATIONS = 830_000
ADE20K_TRAINING_IMAGES = 20_210
IMAGE_SIZE = (32, 24)  # (width, height) of the generated files


def _coco_instances(listed: list[str], seed: int = 0) -> dict:
    """A COCO instances object of the real size whose first images are the listed ones (ids from their names)."""
    rng = np.random.default_rng(seed)
    listed_ids = [int(Path(name).stem) for name in listed]
    others = np.setdiff1d(np.arange(1, 600_000), listed_ids)
    image_ids = listed_ids + rng.choice(others, COCO_IMAGES - len(listed_ids), replace=False).tolist()
    width, height = IMAGE_SIZE
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": width, "height": height} for i in image_ids]
    annotations = []
    owners = rng.integers(0, COCO_IMAGES, COCO_ANNOTATIONS)
    owners[: 4 * len(listed_ids)] = np.repeat(np.arange(len(listed_ids)), 4)  # every listed image annotated
    for annotation_id, owner in enumerate(owners.tolist(), start=1):
        num_points = int(rng.integers(10, 48))  # about 29 points: the real file's 448 MB
        points = rng.uniform(0, 1, (num_points, 2)) * (width - 1, height - 1)
        annotations.append(
            {
                "id": annotation_id,
                "image_id": image_ids[owner],
                "category_id": int(rng.integers(1, 81)),
                "iscrowd": 0,
                "area": 10.0,
                "bbox": [0.0, 0.0, float(width), float(height)],
                "segmentation": [[round(float(v), 2) for v in points.ravel()]],
            }
        )
    categories = [{"id": k, "name": f"category {k}", "supercategory": "thing"} for k in range(1, 81)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _write_jpeg(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def build_coco(work_dir: Path, list_file: Path) -> tuple[Path, Path, Path]:
    """`(full instances file, instances file of the listed images, image folder of the listed images)`."""
    listed = read_image_list(list_file)
    full, small, image_dir = work_dir / "instances_full.json", work_dir / "instances_listed.json", work_dir / "images"
    if not full.is_file():
        instances = _coco_instances(listed)
        full.write_text(json.dumps(instances))
        wanted = {int(Path(name).stem) for name in listed}
        small.write_text(
            json.dumps(
                {
                    "images": [image for image in instances["images"] if image["id"] in wanted],
                    "annotations": [ann for ann in instances["annotations"] if ann["image_id"] in wanted],
                    "categories": instances["categories"],
                }
            )
        )
    image_dir.mkdir(exist_ok=True)
    for index, name in enumerate(listed):
        if not (image_dir / name).is_file():
            _write_jpeg(image_dir / name, index)
    return full, small, image_dir


def build_ade20k(work_dir: Path, list_file: Path) -> tuple[Path, Path]:
    """`(root with every training file, root with the listed files alone)`; each with a one-image validation split."""
    listed = set(read_image_list(list_file))
    full, alone = work_dir / "full" / "ADEChallengeData2016", work_dir / "listed" / "ADEChallengeData2016"
    annotation = np.zeros(IMAGE_SIZE[::-1], dtype=np.uint8)
    annotation[4:16, 6:20] = 13  # person
    annotation[18:, :] = 3  # sky
    for root in (full, alone):
        for split in ("training", "validation"):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
        _write_jpeg(root / "images" / "validation" / "ADE_val_00000001.jpg", 0)
        Image.fromarray(annotation).save(root / "annotations" / "validation" / "ADE_val_00000001.png")
    for index in range(1, ADE20K_TRAINING_IMAGES + 1):
        stem = f"ADE_train_{index:08d}"
        for root in (full, alone) if f"{stem}.jpg" in listed else (full,):
            if not (root / "images" / "training" / f"{stem}.jpg").is_file():
                _write_jpeg(root / "images" / "training" / f"{stem}.jpg", index)
                Image.fromarray(annotation).save(root / "annotations" / "training" / f"{stem}.png")
    return full.parent, alone.parent


def _timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def _train_seconds(arguments: list[str], output_dir: Path) -> float:
    command = [
        sys.executable,
        str(Path(__file__).resolve().parents[1] / "examples" / "train.py"),
        *arguments,
        "--sam_model_name_or_path",
        "tiny-random",
        "--text_model_name_or_path",
        "tiny-random",
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--disable_tqdm",
        "true",
        "--output_dir",
        str(output_dir),
        "--overwrite_output_dir",
        "true",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coco_list", type=Path, required=True, help="UniMatch's splits/coco/1_512/labeled.txt")
    parser.add_argument("--ade20k_list", type=Path, required=True, help="UniMatch-V2's splits/ade20k/1_64/labeled.txt")
    parser.add_argument("--work_dir", type=Path, default=Path(tempfile.gettempdir()) / "samptx_low_data_lists")
    parser.add_argument("--train_runs", action="store_true", help="also time examples/train.py --max_steps 2")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    (args.work_dir / "coco").mkdir(exist_ok=True)
    (args.work_dir / "ade20k").mkdir(exist_ok=True)

    rows = []
    full, small, image_dir = build_coco(args.work_dir / "coco", args.coco_list)
    listed_seconds, listed = _timed(
        lambda: load_split("coco", image_dir, annotation_file=full, image_list=args.coco_list)
    )
    alone_seconds, alone = _timed(lambda: load_split("coco", image_dir, annotation_file=small))
    rows.append(
        ("COCO 1/512", len(set(listed["image_id"])), len(set(alone["image_id"])), listed_seconds, alone_seconds)
    )

    ade_full, ade_alone = build_ade20k(args.work_dir / "ade20k", args.ade20k_list)
    listed_seconds, listed = _timed(lambda: load_split("ade20k", ade_full, "training", image_list=args.ade20k_list))
    alone_seconds, alone = _timed(lambda: load_split("ade20k", ade_alone, "training"))
    rows.append(
        ("ADE20K 1/64", len(set(listed["image_id"])), len(set(alone["image_id"])), listed_seconds, alone_seconds)
    )

    print("| loader (`load_split`) | images, list on the whole split | images, split of the list alone | "
          "list on the whole split (s) | split of the list alone (s) | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, listed_images, alone_images, listed_seconds, alone_seconds in rows:
        print(
            f"| {name} | {listed_images} | {alone_images} | {listed_seconds:.2f} | {alone_seconds:.2f} | "
            f"{listed_seconds / alone_seconds:.1f}x |"
        )

    if args.train_runs:
        # The same held-out set both ways: 8 listed images, so that the evaluation does not hide the loading.
        eval_list = args.work_dir / "coco" / "eval.txt"
        eval_list.write_text("\n".join(read_image_list(args.coco_list)[:8]))
        common = [
            "--dataset",
            "coco",
            "--train_images",
            str(image_dir),
            "--eval_images",
            str(image_dir),
            "--eval_annotations",
            str(small),
            "--eval_list",
            str(eval_list),
        ]
        runs = {
            "COCO 1/512": (
                common,
                ["--train_annotations", str(full), "--train_list", str(args.coco_list)],
                ["--train_annotations", str(small)],
            ),
            "ADE20K 1/64": (
                ["--dataset", "ade20k"],
                ["--data_dir", str(ade_full), "--train_list", str(args.ade20k_list)],
                ["--data_dir", str(ade_alone)],
            ),
        }  # fmt: skip
        print()
        print(
            "| `examples/train.py --max_steps 2` | list on the whole split (s) | split of the list alone (s) | ratio |"
        )
        print("|---|---|---|---|")
        for name, (common, listed_arguments, alone_arguments) in runs.items():
            output_dir = args.work_dir / "train_output"
            listed_seconds = _train_seconds(common + listed_arguments, output_dir)
            alone_seconds = _train_seconds(common + alone_arguments, output_dir)
            print(f"| {name} | {listed_seconds:.1f} | {alone_seconds:.1f} | {listed_seconds / alone_seconds:.1f}x |")
    print(f"\n{os.cpu_count()} CPUs; data under {args.work_dir}")


if __name__ == "__main__":
    main()
