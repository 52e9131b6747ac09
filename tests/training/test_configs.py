"""Every config file of examples/configs (one row of the paper's tables each) runs 2 steps on tiny data."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_helpers import REPO, TINY_MODEL, train_script

from samptx_hf.training import DataArguments, ModelArguments, SamPtxTrainingArguments, TrainingArgumentParser

OFFLINE_MODEL = ["--sam_model_name_or_path", "tiny", "--text_model_name_or_path", "tiny"]
CONFIGS = sorted((REPO / "examples" / "configs").glob("*.yaml"))


def write_image(path: Path, height: int = 24, width: int = 32, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def write_mask(path: Path, top: int) -> None:
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[top : top + 10, 6:16] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)


def _parser() -> TrainingArgumentParser:
    return TrainingArgumentParser((ModelArguments, DataArguments, SamPtxTrainingArguments))


def _tiny_data(dataset: str, root: Path) -> list[str]:
    """Flags that point the config's dataset at a tiny copy in its real layout."""
    if dataset == "cod10k":
        for index, stem in enumerate(["COD10K-CAM-1-Aquatic-1-BatFish-1", "COD10K-CAM-2-Terrestrial-23-Cat-3"]):
            for split in ("Train", "Test"):
                write_image(root / split / "Image" / f"{stem}.jpg", seed=index)
                write_mask(root / split / "GT_Object" / f"{stem}.png", top=4 + 6 * index)
        return ["--data_dir", str(root)]
    if dataset == "camouflage":
        _tiny_data("cod10k", root / "COD10K-v3")
        for split, stem in (("Train", "camourflage_00001"), ("Test", "camourflage_00002")):
            write_image(root / "CAMO-V.1.0-CVIU2019" / "Images" / split / f"{stem}.jpg")
            write_mask(root / "CAMO-V.1.0-CVIU2019" / "GT" / f"{stem}.png", top=4)
        write_image(root / "CHAMELEON" / "Imgs" / "animal-1.jpg")
        write_mask(root / "CHAMELEON" / "GT" / "animal-1.png", top=8)
        return ["--data_dir", str(root)]
    if dataset == "ade20k":
        for split, stem in (("training", "ADE_train_00000001"), ("validation", "ADE_val_00000001")):
            write_image(root / "images" / split / f"{stem}.jpg", 24, 32)
            label = np.zeros((24, 32), dtype=np.uint8)
            label[2:12, 3:15], label[14:22, 18:30] = 1, 13  # wall, person
            (root / "annotations" / split).mkdir(parents=True)
            Image.fromarray(label).save(root / "annotations" / split / f"{stem}.png")
        (root / "labeled.txt").write_text(
            "images/training/ADE_train_00000001.jpg annotations/training/ADE_train_00000001.png"
        )
        return ["--data_dir", str(root), "--train_list", str(root / "labeled.txt")]
    assert dataset == "coco", dataset
    write_image(root / "images" / "000000000001.jpg", 24, 32)
    instances = {
        "images": [{"id": 1, "file_name": "000000000001.jpg", "height": 24, "width": 32}],
        "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 17, "iscrowd": 0, "area": 64, "bbox": [2, 2, 8, 8],
             "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10]]},
            {"id": 2, "image_id": 1, "category_id": 18, "iscrowd": 0, "area": 64, "bbox": [16, 12, 8, 8],
             "segmentation": [[16, 12, 24, 12, 24, 20, 16, 20]]},
        ],
    }  # fmt: skip
    (root / "instances.json").write_text(json.dumps(instances))
    paths = {"annotations": str(root / "instances.json"), "images": str(root / "images")}
    (root / "labeled.txt").write_text("train2017/000000000001.jpg masks/000000000001.png\n")
    flags = [f"--{role}_{kind}={path}" for role in ("train", "eval") for kind, path in paths.items()]
    return [*flags, "--train_list", str(root / "labeled.txt")]


def test_there_is_a_config_per_row_of_the_paper_s_tables():
    methods = ["decoder_only", "parallel_adapter", "parallel_text", "text_mask_decoder", "text_prompt_encoder"]
    names = {path.stem for path in CONFIGS}
    assert {f"{data}-{method}" for data in ("coco-1_512", "ade20k-1_64") for method in methods} < names
    assert {"cod10k-parallel_text", "camouflage-parallel_text"} < names


def test_flags_after_the_config_file_override_it(tmp_path):
    config = REPO / "examples" / "configs" / "ade20k-1_64-parallel_text.yaml"
    data = _tiny_data("ade20k", tmp_path / "ade")
    model_args, data_args, args = _parser().parse_args_into_dataclasses(
        [str(config), *data, "--weight_decay", "0.01", "--augment", "false", *OFFLINE_MODEL]
    )
    assert model_args.method == "parallel_text" and model_args.adapter_form == "reference"
    assert model_args.prompt_template == "{}" and model_args.subtract_empty_prompt
    assert data_args.train_list == str(tmp_path / "ade" / "labeled.txt")  # the flag replaces the file's list
    assert data_args.dataset == "ade20k" and data_args.num_points == 5 and data_args.resize == "square"
    assert data_args.augment is False and args.weight_decay == 0.01  # the flags
    assert args.learning_rate == 5e-5 and args.num_train_epochs == 40 and args.max_steps is None  # the file


def test_a_config_file_with_an_unknown_flag_is_named_in_one_line(tmp_path, capsys):
    config = tmp_path / "row.yaml"
    config.write_text("method: parallel_text\nlearning_rat: 0.1\n")
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args_into_dataclasses([str(config)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert f"config file '{config}' sets unknown flags ['learning_rat']" in err


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_each_config_runs_two_steps_on_tiny_data(tmp_path, config):
    import yaml

    dataset = yaml.safe_load(config.read_text())["dataset"]
    tiny_model = [f"--{key}={value}" for key, value in TINY_MODEL.items()]
    overrides = [*tiny_model, *_tiny_data(dataset, tmp_path / "data"), "--fraction", "1", "--max_steps", "2"]
    results = train_script().main(
        [str(config), *overrides, "--output_dir", str(tmp_path / "run"), "--disable_tqdm", "--eval_steps", "1"]
    )
    assert results["global_step"] == 2 and results["method"] == yaml.safe_load(config.read_text())["method"]
    assert json.loads((tmp_path / "run" / "train_results.json").read_text())["train_samples"] >= 1
