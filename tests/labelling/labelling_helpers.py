"""Comparing two COCO documents of `samptx label`: everything equal, scores within float32 rounding."""

import json
from pathlib import Path

import pytest

from samptx_hf.data.synthetic_parts import PARTS_CLASS_NAMES

# Not in conftest.py: `from conftest import ...` finds whichever test folder's conftest was imported last.
NUM_IMAGES = 6
CLASSES = list(PARTS_CLASS_NAMES)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def assert_same_coco(first: dict, second: dict) -> None:
    assert first["images"] == second["images"]
    assert first["categories"] == second["categories"]
    assert len(first["annotations"]) == len(second["annotations"])
    for one, other in zip(first["annotations"], second["annotations"], strict=True):
        assert {**one, "score": 0} == {**other, "score": 0}
        assert one["score"] == pytest.approx(other["score"], abs=1e-5)
