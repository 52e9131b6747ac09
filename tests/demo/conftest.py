"""A saved tiny SAM-PTx adapter repository (as training writes it) and that model loaded, for the demo tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_model_dir(adapter_repo: Path) -> Path:
    return adapter_repo


@pytest.fixture(scope="session")
def demo_model(demo_model_dir: Path):
    from samptx_hf import SamPtxForTextSegmentation

    return SamPtxForTextSegmentation.from_pretrained(demo_model_dir)
