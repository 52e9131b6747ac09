"""Train and evaluation splits from the command-line data arguments."""

from pathlib import Path

import datasets

from .. import data
from .arguments import DataArguments


def _require(value: str | None, flag: str, dataset: str) -> str:
    if not value:
        raise ValueError(f"--dataset {dataset} needs {flag}")
    return value


def load_splits(args: DataArguments) -> tuple[datasets.Dataset, datasets.Dataset]:
    """`(train, eval)` datasets with `image`, `mask`, `class_name`, `image_id` columns, subsets applied."""
    if args.dataset == "synthetic":
        splits = data.make_synthetic_splits(args.num_train_samples, args.num_eval_samples, seed=args.data_seed)
        train, evaluation = splits["train"], splits["test"]
    elif args.dataset == "cod10k":
        root = _require(args.data_dir, "--data_dir (the COD10K folder with Train/ and Test/)", args.dataset)
        train, evaluation = data.load_cod10k(root, "train"), data.load_cod10k(root, "test")
    elif args.dataset == "coco":
        train = data.load_coco(
            _require(args.train_annotations, "--train_annotations", args.dataset),
            _require(args.train_images, "--train_images", args.dataset),
        )
        evaluation = data.load_coco(
            _require(args.eval_annotations, "--eval_annotations", args.dataset),
            _require(args.eval_images, "--eval_images", args.dataset),
        )
    elif args.dataset == "ade20k":
        root = _require(args.data_dir, "--data_dir (ADEChallengeData2016 or its parent)", args.dataset)
        train, evaluation = data.load_ade20k(root, "training"), data.load_ade20k(root, "validation")
    elif args.dataset == "folder":
        root = Path(_require(args.data_dir, "--data_dir (a folder with train/ and test/)", args.dataset))
        train = data.load_image_folder(root / "train", classes_file=args.classes_file)
        evaluation = data.load_image_folder(root / "test", classes_file=args.classes_file)
    elif args.dataset == "hf":
        source = _require(args.data_dir, "--data_dir (a saved dataset directory or Hub id)", args.dataset)
        train = data.from_hf_dataset(source, split=args.hf_train_split)
        evaluation = data.from_hf_dataset(source, split=args.hf_eval_split)
    else:
        raise ValueError(f"--dataset {args.dataset!r} is not one of synthetic, cod10k, coco, ade20k, folder, hf")

    if args.fraction != 1.0:
        train = data.low_data_subset(train, args.fraction, seed=args.data_seed)
    if args.eval_fraction != 1.0:
        evaluation = data.low_data_subset(evaluation, args.eval_fraction, seed=args.data_seed)
    # Training points are drawn per (seed, epoch, sample_index): the same in one process or many.
    train = train.add_column("sample_index", list(range(len(train))))
    return train, evaluation
