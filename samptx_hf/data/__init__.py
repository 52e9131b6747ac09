"""Datasets, prompts and batching for SAM-PTx.

Every loader returns a `datasets.Dataset` with the columns `image` and `mask` (`datasets.Image`, read by the mask
rule of `to_binary_mask`: non-zero = foreground when a mask has one non-zero value, else value >= 128),
`class_name` (str) and `image_id` (str), one row per (image, class) sample. `load_split` reads one split of any
source by name, as training and `samptx eval` do.
"""

from .ade20k import ADE20K_CLASS_NAMES, load_ade20k
from .camouflage import CAMOUFLAGE_SOURCES, load_camo, load_camouflage, load_chameleon
from .coco import load_coco
from .cod10k import class_words, load_cod10k, parse_cod10k_class
from .collator import SamPtxDataCollator, image_processor_for_sam_config
from .conversion import to_binary_mask
from .folder import from_hf_dataset, load_image_folder
from .prompts import interior_point, sample_positive_points
from .sources import DATASETS, SPLITS, load_split
from .subsets import low_data_subset, read_image_list, select_image_ids, select_images
from .synthetic_attributes import (
    SYNTHETIC_CLASS_NAMES,
    SYNTHETIC_SHAPES,
    SYNTHETIC_TEXTURES,
    SyntheticObject,
    SyntheticSample,
    SyntheticShapesConfig,
    generate_synthetic_sample,
    make_synthetic_dataset,
    make_synthetic_splits,
)
from .synthetic_parts import (
    BODY_COLOURS,
    PART_COLOURS,
    PARTS_CLASS_NAMES,
    TEXT_BLIND_STRATEGIES,
    TEXT_ONLY_TEXT_BLIND_STRATEGIES,
    PartsComposite,
    PartsSample,
    SyntheticPartsConfig,
    generate_object_sample,
    generate_parts_sample,
    make_parts_dataset,
    make_parts_splits,
)
from .validation import DroppedSamplesWarning, NonBinaryMaskWarning, drop_invalid_samples

__all__ = [
    "ADE20K_CLASS_NAMES",
    "CAMOUFLAGE_SOURCES",
    "DroppedSamplesWarning",
    "NonBinaryMaskWarning",
    "BODY_COLOURS",
    "PART_COLOURS",
    "PARTS_CLASS_NAMES",
    "PartsComposite",
    "PartsSample",
    "TEXT_BLIND_STRATEGIES",
    "TEXT_ONLY_TEXT_BLIND_STRATEGIES",
    "SyntheticPartsConfig",
    "generate_object_sample",
    "generate_parts_sample",
    "make_parts_dataset",
    "make_parts_splits",
    "DATASETS",
    "SPLITS",
    "SYNTHETIC_CLASS_NAMES",
    "SYNTHETIC_SHAPES",
    "SYNTHETIC_TEXTURES",
    "SamPtxDataCollator",
    "SyntheticObject",
    "SyntheticSample",
    "SyntheticShapesConfig",
    "drop_invalid_samples",
    "from_hf_dataset",
    "generate_synthetic_sample",
    "image_processor_for_sam_config",
    "interior_point",
    "class_words",
    "load_ade20k",
    "load_camo",
    "load_camouflage",
    "load_chameleon",
    "load_coco",
    "load_cod10k",
    "load_image_folder",
    "load_split",
    "low_data_subset",
    "make_synthetic_dataset",
    "make_synthetic_splits",
    "parse_cod10k_class",
    "read_image_list",
    "sample_positive_points",
    "select_image_ids",
    "select_images",
    "to_binary_mask",
]
