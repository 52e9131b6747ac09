"""One split of a named data source: the dispatch shared by training (`examples/train.py`) and `samptx eval`."""

import os
from collections.abc import Mapping
from pathlib import Path

import datasets

from .ade20k import load_ade20k
from .camouflage import load_camo, load_camouflage, load_chameleon
from .coco import load_coco
from .cod10k import load_cod10k
from .folder import from_hf_dataset, load_image_folder
from .subsets import low_data_subset
from .synthetic_attributes import make_synthetic_dataset
from .synthetic_parts import make_parts_dataset

DATASETS = (
    "synthetic",
    "synthetic_attributes",
    "cod10k",
    "camo",
    "chameleon",
    "camouflage",
    "coco",
    "ade20k",
    "folder",
    "hf",
)
# The sources whose rows are generated, not read: no image list.
GENERATED = ("synthetic", "synthetic_attributes")
# (training split, held-out split) of the sources whose splits are named; coco has one annotation file per split.
SPLITS = {
    "cod10k": ("train", "test"),
    "camo": ("train", "test"),
    "chameleon": ("train", "test"),  # a test set only: training on it is refused by its loader
    "camouflage": ("train", "test"),
    "ade20k": ("training", "validation"),
    "folder": ("train", "test"),
    "hf": ("train", "test"),
}
# Memory one generated synthetic sample takes (its PNG-encoded image and masks): 41 KB measured for the built-in
# whole-or-part task at 128 px, rounded up.
SYNTHETIC_SAMPLE_BYTES = 64 * 1024
_DATA = {
    "cod10k": "the COD10K folder with Train/ and Test/",
    "camo": "the CAMO folder with Images/ and GT/",
    "chameleon": "the CHAMELEON folder with Imgs/ and GT/",
    "camouflage": "a folder holding COD10K-v3, CAMO-V.1.0-CVIU2019 and CHAMELEON",
    "coco": "the COCO image folder",
    "ade20k": "ADEChallengeData2016 or its parent",
    "folder": "a folder of <class>/images and <class>/masks, or of one such folder per split",
    "hf": "a Hub dataset id, a local datasets folder or a save_to_disk folder",
}


def load_split(
    dataset: str,
    data: str | os.PathLike | None = None,
    split: str | None = None,
    *,
    annotation_file: str | os.PathLike | None = None,
    classes_file: str | os.PathLike | None = None,
    class_name: str | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    flags: Mapping[str, str] | None = None,
    progress: bool = False,
    image_list: str | os.PathLike | None = None,
    fraction: float = 1.0,
    subset_seed: int = 0,
) -> datasets.Dataset:
    """One split of a data source, with the columns `image`, `mask`, `class_name`, `image_id` of `samptx_hf.data`.

    | `dataset` | `data` | `split` |
    |---|---|---|
    | `synthetic` | none: `num_samples` samples of the built-in whole-or-part task, generated from `seed` | not used |
    | `synthetic_attributes` | none: the same, of the earlier shapes-and-textures task | not used |
    | `cod10k` | the folder holding `Train/` and `Test/` | `train`, `test` (default) |
    | `camo` | `CAMO-V.1.0-CVIU2019` (`Images/Train`, `Images/Test`, `GT/`) | `train`, `test` (default) |
    | `chameleon` | `CHAMELEON` (`Imgs/`, `GT/`) | `test` (default; the only one) |
    | `camouflage` | a folder holding the three above | `train` (COD10K + CAMO), `test` (default; all three) |
    | `coco` | the image folder, with `annotation_file` (the instances JSON of this split) | not used |
    | `ade20k` | `ADEChallengeData2016` or its parent | `training`, `validation` (default) |
    | `folder` | `<class>/images` + `<class>/masks` folders (or flat, with `classes_file`) | a sub-folder of `data` |
    | `hf` | a Hub dataset id, a local `datasets` folder or a `save_to_disk` folder | any (default `test`) |

    Args:
        dataset: The source, one of `DATASETS`.
        data: Where the data is (see the table).
        split: The split; by default the held-out split of `SPLITS` (for `folder`, `data/test` when it exists, else
            all of `data`).
        annotation_file: coco: the instances JSON.
        classes_file: folder: a JSON or CSV mapping image file stems to class names (flat layout).
        class_name: hf: one class name for every row, for a dataset without a class column.
        num_samples: synthetic: the number of samples.
        seed: synthetic: the seed of the samples (a training run's held-out split is its data seed + 1).
        flags: How the caller's users spell these arguments (`{"data": "--data_dir"}`), for error messages.
        progress: synthetic: show a progress bar while the samples are generated.
        image_list: A low-data list (UniMatch's `splits/coco/1_512/labeled.txt`, ...): only the images it names are
            read, matched by file name (see `read_image_list`); not for the generated sources.
        fraction: A seeded share of the (listed) images, drawn before they are read (see `select_image_ids`);
            for the generated sources, of the generated images.
        subset_seed: Seed of the `fraction` draw.

    Raises:
        ValueError: On an unknown `dataset`, an argument the source needs that is missing or out of range (for
            synthetic, more samples than half this machine's memory holds: they are generated in memory), an
            `image_list` for a generated source, or a listed image that is not in the split.
        FileNotFoundError: When a local `data`, `annotation_file` or `image_list` does not exist.
    """
    flags = dict(flags or {})

    def needs(argument: str, what: str) -> ValueError:
        return ValueError(f"dataset {dataset!r} needs {flags.get(argument, argument)} ({what})")

    def existing(path: str | os.PathLike, argument: str) -> Path:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{flags.get(argument, argument)} {os.fspath(path)!r} does not exist")
        return Path(path)

    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is not one of {', '.join(DATASETS)}")
    if not 0 < fraction <= 1:  # NaN fails too
        raise ValueError(f"{flags.get('fraction', 'fraction')}={fraction}, expected 0 < fraction <= 1, e.g. 1/512")
    if dataset in GENERATED:
        if image_list is not None:
            raise ValueError(
                f"{flags.get('image_list', 'image_list')} is not used by dataset {dataset!r}, which generates its "
                "samples: a list names the images of a dataset on disk"
            )
        if num_samples is None or num_samples < 1:
            raise ValueError(f"{flags.get('num_samples', 'num_samples')}={num_samples}, expected at least 1")
        _check_fits_in_memory(num_samples, flags.get("num_samples", "num_samples"))
        make_dataset = make_parts_dataset if dataset == "synthetic" else make_synthetic_dataset
        generated = make_dataset(num_samples, seed=seed, progress=progress)
        return generated if fraction == 1.0 else low_data_subset(generated, fraction, seed=subset_seed)
    if data is None:
        raise needs("data", _DATA[dataset])
    if image_list is not None:
        image_list = existing(image_list, "image_list")
    subset = {"image_list": image_list, "fraction": fraction, "seed": subset_seed}
    if split is None and dataset != "folder" and dataset in SPLITS:
        split = SPLITS[dataset][1]
    if split is None and dataset == "folder" and (Path(data) / SPLITS["folder"][1]).is_dir():
        split = SPLITS["folder"][1]  # root/test, the held-out split; a folder without one is read whole
    if dataset == "hf":
        return from_hf_dataset(os.fspath(data), split=split, class_name=class_name, **subset)
    root = existing(data, "data")
    loaders = {
        "cod10k": load_cod10k,
        "camo": load_camo,
        "chameleon": load_chameleon,
        "camouflage": load_camouflage,
        "ade20k": load_ade20k,
    }
    if dataset in loaders:
        return loaders[dataset](root, split=split, **subset)
    if dataset == "coco":
        if annotation_file is None:
            raise needs("annotation_file", "the instances JSON")
        return load_coco(existing(annotation_file, "annotation_file"), root, **subset)
    folder = existing(root / split, "data") if split is not None else root
    return load_image_folder(folder, classes_file=classes_file, **subset)


def _check_fits_in_memory(num_samples: int, flag: str) -> None:
    """Refuse more synthetic samples than half of this machine's memory holds (the generators keep every sample's
    PNG-encoded image and masks in memory, `SYNTHETIC_SAMPLE_BYTES` each); no check where the memory size is
    unknown."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return
    limit = memory // 2 // SYNTHETIC_SAMPLE_BYTES
    if num_samples > limit:
        raise ValueError(
            f"{flag}={num_samples} does not fit: synthetic samples are generated in memory, about "
            f"{SYNTHETIC_SAMPLE_BYTES // 1024} KiB each ({num_samples * SYNTHETIC_SAMPLE_BYTES / 2**30:,.0f} GiB), and "
            f"this machine has {memory / 2**30:.0f} GiB: expected at most {limit} (half its memory)"
        )


__all__ = ["DATASETS", "GENERATED", "SPLITS", "SYNTHETIC_SAMPLE_BYTES", "load_split"]
