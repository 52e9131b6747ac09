import json
import re
import subprocess
import sys

import numpy as np
import pytest
from hub_factories import make_image, make_peft_model, save_frozen_components
from PIL import Image

from samptx_hf.cli import main
from samptx_hf.hub import save_adapter_repo


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    save_adapter_repo(make_peft_model(*save_frozen_components(directory)), directory / "adapter")
    return directory / "adapter"


@pytest.fixture
def image_path(tmp_path):
    make_image(width=80, height=48).save(tmp_path / "image.png")
    return tmp_path / "image.png"


def segment_args(model_dir, image_path, output, *extra):
    return ["segment", "--model", str(model_dir), "--image", str(image_path), "--text", "circle", "--output",
            str(output), *extra]  # fmt: skip


def test_segment_writes_a_binary_mask_and_an_overlay_at_the_image_size(model_dir, image_path, tmp_path, capsys):
    output = tmp_path / "out" / "mask.png"
    assert main(segment_args(model_dir, image_path, output, "--point", "20,20", "--box", "5,5,60,40")) == 0
    mask = np.asarray(Image.open(output))
    assert mask.shape == (48, 80) and set(np.unique(mask)) <= {0, 255}
    assert 0 < (mask == 255).mean() < 1
    overlay = np.asarray(Image.open(tmp_path / "out" / "mask_overlay.png").convert("RGB"), dtype=int)
    image = np.asarray(Image.open(image_path).convert("RGB"), dtype=int)
    assert overlay.shape == image.shape
    assert (np.abs(overlay - image).sum(-1)[mask == 255] > 0).all()
    assert "circle:" in capsys.readouterr().out


def test_segment_overlay_path_and_background_points(model_dir, image_path, tmp_path):
    args = segment_args(model_dir, image_path, tmp_path / "mask.png", "--point", "20,20", "--background-point",
                        "70,40", "--overlay", str(tmp_path / "custom.png"), "--multimask")  # fmt: skip
    assert main(args) == 0
    assert Image.open(tmp_path / "custom.png").size == (80, 48)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: [x if x != "circle" else " " for x in a], "--text is empty"),
        (lambda a, t: [*a, "--point", "90,10"], r"point \(90, 10\) of image 0 lies outside the image"),
        (lambda a, t: [*a, "--box", "0,0,100,20"], "0 <= x1 < x2 <= 80"),
        (lambda a, t: [x if not x.endswith("image.png") else str(t / "missing.png") for x in a], "does not exist"),
        (lambda a, t: [x if not x.endswith("image.png") else str(t / "notes.png") for x in a], "cannot read"),
        (lambda a, t: [x if not x.endswith("adapter") else str(t / "nowhere") for x in a], "nowhere.: no such folder"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_1(model_dir, image_path, tmp_path, capsys, change, message):
    (tmp_path / "notes.png").write_text("not an image")
    status = main(change(segment_args(model_dir, image_path, tmp_path / "mask.png"), tmp_path))
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert len(err.splitlines()) == 1 and err.startswith("samptx segment: error:")
    assert re.search(message, err)
    assert not (tmp_path / "mask.png").exists()


def test_malformed_arguments_are_usage_errors(model_dir, image_path, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(segment_args(model_dir, image_path, tmp_path / "mask.png", "--point", "20;20"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'20;20' is not X,Y" in err


@pytest.mark.parametrize(
    ("command", "expected"),
    [([], ["segment", "eval", "push", "Hub id"]), (["segment"], ["--point X,Y", "--box", "--overlay", "example"]),
     (["eval"], ["--dataset", "synthetic", "cod10k", "--output-dir"]), (["push"], ["repo_id", "--private"])],
)  # fmt: skip
def test_help_of_each_command(command, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(text in out for text in expected)


def test_python_m_help_runs_as_a_program():
    completed = subprocess.run(
        [sys.executable, "-m", "samptx_hf.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0
    assert "segment" in completed.stdout and "eval" in completed.stdout


def test_eval_on_the_synthetic_task_writes_results(model_dir, tmp_path, capsys):
    args = ["eval", "--model", str(model_dir), "--dataset", "synthetic", "--num-samples", "3", "--batch-size", "2",
            "--output-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["dataset"] == "synthetic" and results["num_samples"] == 3
    assert "| mean_iou |" in capsys.readouterr().out
    assert (tmp_path / "eval_results.md").exists()


def test_eval_of_a_dataset_without_its_data_is_a_one_line_error(model_dir, capsys):
    assert main(["eval", "--model", str(model_dir), "--dataset", "cod10k"]) == 1
    expected = "samptx eval: error: --dataset cod10k needs --data (see samptx eval --help)"
    assert capsys.readouterr().err.strip() == expected
