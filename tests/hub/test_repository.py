"""A broken adapter folder is answered in one line that names the broken file, through the Python API and the CLI
(and through the pipeline wherever SAM-PTx, not transformers' own preflight, reads the file)."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hub_factories import make_peft_model, save_frozen_components
from PIL import Image
from transformers import pipeline

from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.cli.main import main
from samptx_hf.hub import save_adapter_repo


@pytest.fixture(scope="module", autouse=True)
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def sam2_repo(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("sam2_repo")
    save_adapter_repo(make_peft_model(*save_frozen_components(directory, sam_version=2)), directory / "adapter")
    return directory / "adapter"


def truncated_weights(folder: Path, **_) -> str:
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return r"adapter_model\.safetensors is not a readable safetensors file .*expected the adapter weights"


def garbage_weights(folder: Path, **_) -> str:
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file" * 8)
    return r"adapter_model\.safetensors is not a readable safetensors file"


def bad_adapter_config_json(folder: Path, **_) -> str:
    (folder / "adapter_config.json").write_text('{r: 4, "peft_type": ')
    return r"adapter_config\.json is not valid JSON .*expected a PEFT adapter config"


def another_peft_method(folder: Path, **_) -> str:
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "LORA"}))
    return r"adapter_config\.json has peft_type 'LORA', expected 'PARALLEL_TEXT'"


def no_config_json(folder: Path, **_) -> str:
    (folder / "config.json").unlink()
    return r"has adapter_config\.json but no config\.json .*PeftModel\.from_pretrained\("


def bad_config_json(folder: Path, **_) -> str:
    (folder / "config.json").write_text("{")
    return r"config\.json is not valid JSON"


def sam_weights_in_a_sam2_folder(folder: Path, sam2_repo: Path) -> str:
    (folder / "config.json").write_bytes((sam2_repo / "config.json").read_bytes())
    return r"adapter_model\.safetensors does not fit the Sam2Model"


def empty_folder(folder: Path, **_) -> str:
    shutil.rmtree(folder)
    folder.mkdir()
    return r"holds neither adapter_config\.json .* nor config\.json .*expected a folder written by save_pretrained"


def folder_of_images(folder: Path, **_) -> str:
    empty_folder(folder)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "fish.png")
    return r"holds neither adapter_config\.json"


BREAKAGES = [
    truncated_weights,
    garbage_weights,
    bad_adapter_config_json,
    another_peft_method,
    no_config_json,
    bad_config_json,
    sam_weights_in_a_sam2_folder,
    empty_folder,
    folder_of_images,
]
# transformers' pipeline reads adapter_config.json and config.json itself before SAM-PTx's loader runs, and wraps the
# loader's errors in its own message: these breakages reach SAM-PTx's one line through it.
REACH_THE_PIPELINE = [truncated_weights, garbage_weights, another_peft_method, sam_weights_in_a_sam2_folder]


@pytest.fixture
def broken(request, adapter_repo, sam2_repo, tmp_path) -> tuple[Path, str]:
    folder = tmp_path / "adapter"
    shutil.copytree(adapter_repo, folder)
    return folder, request.param(folder, sam2_repo=sam2_repo)


@pytest.mark.parametrize("broken", BREAKAGES, indirect=True, ids=lambda breakage: breakage.__name__)
def test_from_pretrained_names_the_broken_file_in_one_line(broken):
    folder, message = broken
    with pytest.raises((OSError, ValueError)) as error:
        SamPtxForTextSegmentation.from_pretrained(folder)
    assert re.search(message, str(error.value)), str(error.value)
    assert str(folder) in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("broken", BREAKAGES, indirect=True, ids=lambda breakage: breakage.__name__)
def test_the_cli_names_the_broken_file_in_one_line(broken, tmp_path, capsys):
    folder, message = broken
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "image.png")
    arguments = ["segment", "--model", str(folder), "--image", str(tmp_path / "image.png"), "--text", "red"]
    assert main([*arguments, "--point", "20,20", "--output", str(tmp_path / "mask.png")]) == 1
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    assert re.search(message, error), error
    assert not (tmp_path / "mask.png").exists()


@pytest.mark.parametrize("broken", REACH_THE_PIPELINE, indirect=True, ids=lambda breakage: breakage.__name__)
def test_the_pipeline_reports_the_broken_file(broken):
    folder, message = broken
    with pytest.raises((OSError, ValueError)) as error:
        pipeline("text-guided-segmentation", model=str(folder))
    assert re.search(message, str(error.value)), str(error.value)
