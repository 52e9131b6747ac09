"""Train and evaluation splits from the command-line data arguments."""

from typing import Any

import datasets

from .. import data
from .arguments import DataArguments


def load_splits(args: DataArguments) -> tuple[datasets.Dataset, datasets.Dataset]:
    """`(train, eval)` datasets with `image`, `mask`, `class_name`, `image_id` columns, subsets applied.

    Both are read by [`samptx_hf.data.load_split`] (see `_split_arguments` for what each flag becomes), which
    reads only the images of `--train_list` / `--eval_list` and of `--fraction` / `--eval_fraction`.
    """
    train = data.load_split(**_split_arguments(args, train=True))
    evaluation = data.load_split(**_split_arguments(args, train=False))
    # Training points are drawn per (seed, epoch, sample_index): the same in one process or many.
    train = train.add_column("sample_index", list(range(len(train))))
    return train, evaluation


def _split_arguments(args: DataArguments, train: bool) -> dict[str, Any]:
    """The `load_split` arguments of the training or the held-out split.

    The source's training / held-out split (`data.SPLITS`, or `--hf_train_split` / `--hf_eval_split`); synthetic
    samples seeded by `--data_seed` / `--data_seed + 1`; coco's annotation file and image folder of each split.
    """
    role = "train" if train else "eval"
    subset = {
        "image_list": getattr(args, f"{role}_list"),
        "fraction": args.fraction if train else args.eval_fraction,
        "subset_seed": args.data_seed,
    }
    subset_flags = {"image_list": f"--{role}_list", "fraction": "--fraction" if train else "--eval_fraction"}
    if args.dataset == "coco":
        return {
            "dataset": "coco",
            "data": getattr(args, f"{role}_images"),
            "annotation_file": getattr(args, f"{role}_annotations"),
            "flags": {"data": f"--{role}_images", "annotation_file": f"--{role}_annotations", **subset_flags},
            **subset,
        }
    if args.dataset == "hf":
        split = getattr(args, f"hf_{role}_split")
    else:
        split = data.SPLITS[args.dataset][0 if train else 1] if args.dataset in data.SPLITS else None
    return {
        "dataset": args.dataset,
        "data": args.data_dir,
        "split": split,
        "num_samples": getattr(args, f"num_{role}_samples"),
        "classes_file": args.classes_file,
        "seed": args.data_seed if train else args.data_seed + 1,
        "flags": {"data": "--data_dir", "num_samples": f"--num_{role}_samples", **subset_flags},
        **subset,
    }
