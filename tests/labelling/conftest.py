"""Images of the built-in whole-or-part task on disk, with their ground truth as a COCO file; a text-only model."""

import json

import numpy as np
import pytest
from hub_factories import make_peft_model, save_frozen_components
from labelling_helpers import CLASSES, NUM_IMAGES
from PIL import Image

from samptx_hf.data.synthetic_parts import SyntheticPartsConfig, generate_parts_sample
from samptx_hf.hub import save_adapter_repo
from samptx_hf.labelling import categories_of, encode_rle


@pytest.fixture(scope="session")
def text_only_adapter_repo(tmp_path_factory):
    """The adapter repository of a text-only model (with SAM's presence head, random as if trained), on tiny frozen
    components: the model labelling is for."""
    directory = tmp_path_factory.mktemp("text_only_repo")
    peft_model = make_peft_model(*save_frozen_components(directory), presence_head=True)
    save_adapter_repo(peft_model, directory / "adapter")
    return directory / "adapter"


@pytest.fixture(scope="session")
def parts_images(tmp_path_factory):
    """A folder of built-in-task images (two of them in a sub-folder) and `ground_truth.json` beside it: one COCO
    annotation per class present in an image (its whole `class_mask`)."""
    root = tmp_path_factory.mktemp("parts")
    folder = root / "images"
    config = SyntheticPartsConfig(image_size=64)
    images, annotations = [], []
    for index in range(NUM_IMAGES):
        sample = generate_parts_sample(index, seed=3, config=config)
        file_name = f"{'sub/' if index >= 4 else ''}image_{index}.png"
        (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample.image).save(folder / file_name)
        images.append({"id": 100 + index, "file_name": file_name, "height": 64, "width": 64})
        for category, name in enumerate(CLASSES, start=1):
            mask = sample.class_mask(name)
            if mask.any():
                rows, cols = np.nonzero(mask)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": 100 + index,
                        "category_id": category,
                        "segmentation": encode_rle(mask),
                        "area": int(mask.sum()),
                        "bbox": [int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1],
                        "iscrowd": 0,
                    }
                )
    ground_truth = root / "ground_truth.json"
    ground_truth.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories_of(CLASSES)})
    )
    return folder, ground_truth
