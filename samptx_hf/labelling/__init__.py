"""Label a whole dataset by class name: `samptx label` and the pieces it is made of.

- [`open_image_source`] (`sources.py`): the images, from a folder, a COCO file or a `datasets` dataset.
- [`BatchAnnotator`] (`annotator.py`): every class of a vocabulary on batches of images, text only, or at the
  point/box prompts of an image.
- [`read_prompts`] (`prompts.py`): those prompts from a COCO file's boxes or a JSON file, matched to the images.
- `coco_writer.py`: predictions as COCO instances annotations (RLE masks) and PNG files.
- `resume.py`: the run's header and its per-image, per-process shards; what a resumed run skips.
- `distributed.py`: each process's share of the images, and the merge of the shards into one JSON.
"""

from .annotator import BatchAnnotator, ClassPrediction, check_dtype
from .coco_writer import ANNOTATION_MODES, categories_of, coco_document, encode_rle, image_annotations
from .distributed import merge_shards
from .prompts import ImagePrompt, prompts_of_entries, read_prompts
from .resume import ShardWriter, check_or_write_header, done_indices, read_records
from .sources import ImageEntry, LabelledImageSource, LoadedImage, open_image_source

__all__ = [
    "ANNOTATION_MODES",
    "BatchAnnotator",
    "ClassPrediction",
    "ImageEntry",
    "ImagePrompt",
    "LabelledImageSource",
    "LoadedImage",
    "ShardWriter",
    "categories_of",
    "check_dtype",
    "check_or_write_header",
    "coco_document",
    "done_indices",
    "encode_rle",
    "image_annotations",
    "merge_shards",
    "open_image_source",
    "prompts_of_entries",
    "read_prompts",
    "read_records",
]
