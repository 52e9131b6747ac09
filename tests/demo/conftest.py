"""A saved tiny SAM-PTx adapter repository (as training writes it) and that model loaded, for the demo tests."""

from pathlib import Path

import pytest
from hub_factories import make_peft_model, save_frozen_components

from samptx_hf.hub import save_adapter_repo


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo_run")
    save_adapter_repo(make_peft_model(*save_frozen_components(directory)), directory / "adapter")
    return directory / "adapter"


@pytest.fixture(scope="session")
def demo_model(demo_model_dir: Path):
    from samptx_hf import SamPtxForTextSegmentation

    return SamPtxForTextSegmentation.from_pretrained(demo_model_dir)
