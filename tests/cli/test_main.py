import json
import os
import re
import shutil
import subprocess
import sys
import time

import huggingface_hub
import numpy as np
import pytest
import torch
from factories import make_model
from hub_factories import make_image, make_peft_model, name_components_by_hub_id, save_frozen_components
from huggingface_hub import HfApi
from huggingface_hub.errors import HTTPError
from PIL import Image

from samptx_hf.cli.main import main
from samptx_hf.hub import save_adapter_repo
from samptx_hf.inference.semantic import segment_semantic


@pytest.fixture
def model_dir(adapter_repo):
    return adapter_repo


@pytest.fixture(scope="module")
def shareable_model_dir(tmp_path_factory):
    """An adapter folder whose frozen components are named by Hub id, as one that may be pushed."""
    directory = tmp_path_factory.mktemp("shareable")
    peft_model = make_peft_model(*save_frozen_components(directory))
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, directory / "adapter")
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
        (
            lambda a, t: [x if x != "circle" else " " for x in a],
            "--text: every class name must be a non-empty string, got ' '",
        ),
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
    [([], ["segment", "eval", "push", "Hub id"]),
     (["segment"], ["--point X,Y", "--box", "--overlay", "example", "--presence-threshold", "_labels.png"]),
     (["eval"], ["--dataset", "synthetic", "cod10k", "--output-dir"]), (["push"], ["repo_id", "--private"])],
)  # fmt: skip
def test_help_of_each_command(command, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(text in out for text in expected)


@pytest.mark.slow
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
    captured = capsys.readouterr()
    assert "| mean_iou |" in captured.out
    assert (tmp_path / "eval_results.md").exists()
    # Progress bars from the start: the samples' generation, then the evaluation (tqdm, not hand-written "\r").
    assert "generating samples: 100%" in captured.err and "3/3" in captured.err
    assert "evaluating: 100%" in captured.err


def _write_sample(image_path, mask_path, seed=0):
    for path in (image_path, mask_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    make_image(width=32, height=24, seed=seed).save(image_path)
    mask = np.zeros((24, 32), np.uint8)
    mask[4:14, 6:16] = 255
    Image.fromarray(mask).save(mask_path)


def test_eval_reads_only_the_images_of_its_list(model_dir, tmp_path):
    for index in range(3):
        _write_sample(tmp_path / "data" / "owl" / "images" / f"{index}.png", tmp_path / "data" / "owl" / "masks" /
                      f"{index}.png", seed=index)  # fmt: skip
    (tmp_path / "val.txt").write_text("images/2.png masks/2.png\nimages/0.png masks/0.png")
    args = ["eval", "--model", str(model_dir), "--dataset", "folder", "--data", str(tmp_path / "data"),
            "--image-list", str(tmp_path / "val.txt"), "--output-dir", str(tmp_path / "eval")]  # fmt: skip
    assert main(args) == 0
    assert json.loads((tmp_path / "eval" / "eval_results.json").read_text())["num_samples"] == 2


def test_eval_of_the_camouflage_sets_reports_each_set(model_dir, tmp_path, capsys):
    root = tmp_path / "data"
    _write_sample(root / "COD10K-v3" / "Test" / "Image" / "COD10K-CAM-1-Aquatic-3-Crab-10.jpg",
                  root / "COD10K-v3" / "Test" / "GT_Object" / "COD10K-CAM-1-Aquatic-3-Crab-10.png")  # fmt: skip
    (root / "COD10K-v3" / "Train" / "Image").mkdir(parents=True)
    _write_sample(
        root / "CAMO" / "Images" / "Test" / "camourflage_00003.jpg", root / "CAMO" / "GT" / "camourflage_00003.png"
    )
    (root / "CAMO" / "Images" / "Train").mkdir()
    _write_sample(root / "CHAMELEON" / "Imgs" / "animal-1.jpg", root / "CHAMELEON" / "GT" / "animal-1.png")
    args = ["eval", "--model", str(model_dir), "--dataset", "camouflage", "--data", str(root),
            "--output-dir", str(tmp_path / "eval")]  # fmt: skip
    assert main(args) == 0
    for source in ("cod10k", "camo", "chameleon"):
        results = json.loads((tmp_path / "eval" / source / "eval_results.json").read_text())
        assert results["dataset"] == f"camouflage/{source}" and results["num_samples"] == 1
        assert {"s_measure", "mae"} <= set(results["metrics"])
    assert "Evaluation on camouflage/chameleon (1 samples)" in capsys.readouterr().out


def test_eval_of_a_dataset_without_its_data_is_a_one_line_error(model_dir, capsys):
    assert main(["eval", "--model", str(model_dir), "--dataset", "cod10k"]) == 1
    expected = "samptx eval: error: dataset 'cod10k' needs --data (the COD10K folder with Train/ and Test/)"
    assert capsys.readouterr().err.strip() == expected


# ----------------------------------------------------------------------------------------------- issue 8: bad input


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"samptx {command}: error:"), err
    return err


def test_a_cached_hub_id_loads_offline(model_dir, image_path, tmp_path, monkeypatch):
    """`--model org/name` from the Hub cache with HF_HUB_OFFLINE=1, as the Python API loads it."""
    cache = tmp_path / "hub"
    snapshot = cache / "models--your-name--sam-ptx" / "snapshots" / ("0" * 40)
    shutil.copytree(model_dir, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read at import time
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert main(segment_args("your-name/sam-ptx", image_path, tmp_path / "m.png", "--point", "20,20")) == 0
    assert Image.open(tmp_path / "m.png").size == (80, 48)


@pytest.mark.parametrize(
    ("hub", "message"),
    [("offline", "no such folder, and not in the local Hub cache (offline"),
     ("missing", "no such folder, and not found on the Hub"),
     ("unreachable", "no such folder, not in the local Hub cache, and the Hub cannot be reached")],
)  # fmt: skip
def test_a_model_that_is_nowhere_fails_at_once(image_path, tmp_path, capsys, monkeypatch, hub, message):
    import samptx_hf.hub.locate

    def repo_exists(self, repo_id, **kwargs):
        if hub == "unreachable":
            raise HTTPError("[Errno -2] Name or service not known")
        return False

    monkeypatch.setattr(samptx_hf.hub.locate, "is_offline_mode", lambda: hub == "offline")
    monkeypatch.setattr(HfApi, "repo_exists", repo_exists)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(samptx_hf.hub.locate, "try_to_load_from_cache", lambda *args, **kwargs: None)
    started = time.perf_counter()
    assert main(segment_args("my_run", image_path, tmp_path / "m.png")) == 1
    assert time.perf_counter() - started < 5
    assert f"--model 'my_run': {message}" in one_line_error(capsys, "segment")


@pytest.mark.parametrize("overlay", ["same", "image"])
def test_an_overlay_or_output_path_never_overwrites_the_mask_or_the_image(
    model_dir, image_path, tmp_path, capsys, overlay
):
    mask = tmp_path / "mask.png"
    mask.write_bytes(b"my earlier mask")
    image_bytes = image_path.read_bytes()
    target = mask if overlay == "same" else image_path
    assert main(segment_args(model_dir, image_path, mask, "--overlay", str(target))) == 1
    expected = "is the --output file" if overlay == "same" else "is the --image file: it would be overwritten"
    assert expected in one_line_error(capsys, "segment")
    assert mask.read_bytes() == b"my earlier mask" and image_path.read_bytes() == image_bytes


def test_a_16_bit_png_is_segmented_as_its_picture_not_as_white(model_dir, tmp_path):
    gradient = (np.arange(48 * 80).reshape(48, 80) * 17).astype(np.uint16)  # up to 65263
    Image.fromarray(gradient).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    args = segment_args(model_dir, tmp_path / "deep.png", tmp_path / "mask.png", "--point", "20,20")
    assert main(args) == 0
    overlay = np.asarray(Image.open(tmp_path / "mask_overlay.png").convert("L"))
    assert overlay.min() < 100  # the dark corner of the gradient is dark


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: [x if not x.endswith("image.png") else str(t) for x in a], "is a folder, expected an image"),
        (lambda a, t: [x if not x.endswith("image.png") else str(t / "wide.png") for x in a],
         r"image 0 is 4000x10 pixels: .* short side would be 0 px"),
        (lambda a, t: [x if x != "circle" else "x " * 250 for x in a],
         r"is too long: \d+ tokens, at most 48 \(the CLIP text encoder's context\)"),
    ],
)  # fmt: skip
def test_unclear_inputs_get_clear_messages(model_dir, image_path, tmp_path, capsys, change, message):
    Image.fromarray(np.zeros((10, 4000, 3), np.uint8)).save(tmp_path / "wide.png")
    assert main(change(segment_args(model_dir, image_path, tmp_path / "mask.png"), tmp_path)) == 1
    assert re.search(message, one_line_error(capsys, "segment"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
@pytest.mark.parametrize(
    ("device", "message"),
    [("cuda", r"'cuda': this torch \(.*\) has no cuda device; use --device cpu"),
     ("gpu0", "'gpu0' is not a torch device, expected e.g. cpu, cuda")],
)  # fmt: skip
def test_a_device_this_machine_lacks_is_a_usage_error(model_dir, image_path, tmp_path, capsys, device, message):
    with pytest.raises(SystemExit) as exit_info:
        main(segment_args(model_dir, image_path, tmp_path / "mask.png", "--device", device))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert re.search(rf"argument --device: {message}", err)


def test_eval_always_reports_the_samples_it_dropped(model_dir, tmp_path, capsys):
    root = tmp_path / "data" / "owl"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for index in range(6):
        make_image(width=32, height=24, seed=index).save(root / "images" / f"{index}.png")
        mask = np.zeros((24, 32), np.uint8)
        mask[4:14, 6:16] = 255 * (index % 2)  # every other mask is empty
        Image.fromarray(mask).save(root / "masks" / f"{index}.png")
    args = ["eval", "--model", str(model_dir), "--dataset", "folder", "--data", str(tmp_path / "data"),
            "--output-dir", str(tmp_path / "eval")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "samptx eval: warning: dropped 3 of 6 samples that cannot be used: 3 empty mask" in err
    results = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert results["num_samples"] == 3 and results["dropped_samples"] == {"empty mask": 3}


def test_eval_of_an_annotation_file_that_is_not_coco_is_one_line(model_dir, tmp_path, capsys):
    (tmp_path / "instances.json").write_text("{}")
    args = ["eval", "--model", str(model_dir), "--dataset", "coco", "--data", str(tmp_path),
            "--annotation-file", str(tmp_path / "instances.json")]  # fmt: skip
    assert main(args) == 1
    assert "instances.json has no 'images', 'annotations', 'categories' list" in one_line_error(capsys, "eval")


@pytest.mark.parametrize("hub", ["offline", "unreachable"])
def test_push_without_the_hub_is_one_line(shareable_model_dir, capsys, monkeypatch, hub):
    import samptx_hf.hub.repository

    def create_repo(self, *args, **kwargs):
        raise HTTPError("[Errno -2] Name or service not known")

    monkeypatch.setattr(samptx_hf.hub.repository, "is_offline_mode", lambda: hub == "offline")
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    assert main(["push", str(shareable_model_dir), "your-name/sam-ptx"]) == 1
    expected = "offline mode is on" if hub == "offline" else "the Hugging Face Hub cannot be reached (HTTPError"
    assert expected in one_line_error(capsys, "push")


def test_push_of_an_adapter_on_local_frozen_folders_is_refused_with_the_fix(model_dir, capsys):
    assert main(["push", str(model_dir), "your-name/sam-ptx"]) == 1
    error = one_line_error(capsys, "push")
    assert "names its frozen SAM by the local folder" in error and "upload that folder to the Hub" in error


def test_an_unexpected_error_is_one_line_and_its_traceback_is_behind_verbose(shareable_model_dir, capsys, monkeypatch):
    import samptx_hf.hub.repository

    def create_repo(self, *args, **kwargs):
        raise RuntimeError("something new")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(samptx_hf.hub.repository, "is_offline_mode", lambda: False)
    assert main(["push", str(shareable_model_dir), "your-name/sam-ptx"]) == 1
    assert "RuntimeError: something new (--verbose shows the traceback)" in one_line_error(capsys, "push")
    with pytest.raises(RuntimeError, match="something new"):
        main(["push", str(shareable_model_dir), "your-name/sam-ptx", "--verbose"])


def test_eval_with_clicks_prints_the_interactive_metrics(model_dir, tmp_path, capsys):
    args = ["eval", "--model", str(model_dir), "--dataset", "synthetic", "--num-samples", "3", "--clicks", "3",
            "--output-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("miou@1", "miou@2", "miou@3", "noc@85", "noc@90"):
        assert f"| {name} |" in out
    assert json.loads((tmp_path / "eval_results.json").read_text())["metrics"]["noc@90"] <= 3


def test_eval_with_text_prompts_and_absent_classes_reports_them(model_dir, tmp_path, capsys):
    args = ["eval", "--model", str(model_dir), "--dataset", "synthetic", "--num-samples", "3", "--prompt", "text",
            "--absent-class-fraction", "0.5", "--output-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["prompt_mode"] == "text"
    assert results["num_present_pairs"] + results["num_absent_pairs"] == 3
    assert "semantic_mean_iou" in results["metrics"]  # the built-in task says which classes each image holds
    assert f"| semantic_mean_iou | {results['metrics']['semantic_mean_iou']:.4f} |" in capsys.readouterr().out


def test_eval_prompt_is_one_of_point_text_mixed(model_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--model", str(model_dir), "--dataset", "synthetic", "--prompt", "box"])
    assert exit_info.value.code == 2
    choices = r"\(choose from '?point'?, '?text'?, '?mixed'?\)"  # quoted or not, by Python version
    assert re.search(rf"argument --prompt: invalid choice: 'box' {choices}", capsys.readouterr().err)


def test_eval_with_no_clicks_is_a_one_line_error(model_dir, capsys):
    assert main(["eval", "--model", str(model_dir), "--dataset", "synthetic", "--clicks", "0"]) == 1
    assert "--clicks 0, expected at least 1 click" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- issue 22: holes


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails a test whose command loads the model: what these tests give is refused before that."""
    import samptx_hf.cli.main

    monkeypatch.setattr(samptx_hf.cli.main, "load_model", lambda *args: pytest.fail("loaded the model before refusing"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output-dir", "{file}"], r"--output-dir '.*notes.txt' is a file, expected a folder \(created if missing\)"),
        (["--data", "{tmp}"], r"--data '.*' is not used by --dataset synthetic, which generates its samples"),
        (["--max-samples", "0"], "--max-samples 0, expected at least 1"),
        (["--absent-class-fraction", "1"], r"--absent-class-fraction 1.0, expected a fraction in \[0, 1\)"),
        (["--absent-class-fraction", "nan"], r"--absent-class-fraction nan, expected a fraction in \[0, 1\)"),
        pytest.param(
            ["--output-dir", "/proc/v20"],
            r"--output-dir '/proc/v20' cannot be written: '/proc' does not take new files \(.*\), expected a folder",
            marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="/proc is Linux's"),
        ),
        (["--output-dir", "{file}/sub"], r"--output-dir '.*notes.txt/sub' lies under the file '.*notes.txt'"),
        (
            ["--num-samples", "1000000000"],
            r"--num-samples=1000000000 does not fit: synthetic samples are generated in "
            r"memory, about 64 KiB each \(61,035 GiB\), and this machine has \d+ GiB: expected at most \d+ \(half its",
        ),
    ],
)
def test_eval_refuses_bad_arguments_before_loading_anything(model_dir, tmp_path, capsys, no_model_load, extra, message):
    (tmp_path / "notes.txt").write_text("mine")
    extra = [flag.replace("{file}", str(tmp_path / "notes.txt")).replace("{tmp}", str(tmp_path)) for flag in extra]
    assert main(["eval", "--model", str(model_dir), "--dataset", "synthetic", "--num-samples", "2", *extra]) == 1
    assert re.search(message, one_line_error(capsys, "eval"))
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("flag", "name", "message"),
    [("--output", "mask.jpg", r"--output '.*mask.jpg' is not a .png file name: samptx segment writes PNG \(JPEG is "
      r"lossy: a mask's 0/255 pixels would not survive it\)"),
     ("--output", "mask", r"--output '.*mask' is not a .png file name"),
     ("--overlay", "overlay.tif", r"--overlay '.*overlay.tif' is not a .png file name: samptx segment writes PNG$")],
)  # fmt: skip
def test_segment_refuses_a_file_name_that_is_not_png(
    model_dir, image_path, tmp_path, capsys, no_model_load, flag, name, message
):
    if flag == "--output":
        args = segment_args(model_dir, image_path, tmp_path / name)
    else:
        args = segment_args(model_dir, image_path, tmp_path / "mask.png", "--overlay", str(tmp_path / name))
    assert main(args) == 1
    assert re.search(message, one_line_error(capsys, "segment"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["image.png"]  # nothing written


@pytest.mark.parametrize(
    ("output", "extra", "message"),
    [("{tmp}/image.png/mask.png", [], r"--output '.*image.png/mask.png' lies under the file '.*image.png', expected"),
     ("{tmp}/image.png/mask.png", ["--point", "5,5"], r"--output '.*/mask.png' lies under the file '.*image.png'"),
     ("/proc/v20/mask.png", ["--point", "5,5"],
      r"--output '/proc/v20/mask.png' cannot be written: '/proc' does not take new files \(.*\), expected a PNG")],
)  # fmt: skip
def test_segment_refuses_an_output_it_cannot_write_before_loading(
    image_path, tmp_path, capsys, no_model_load, output, extra, message
):
    if output.startswith("/proc") and not os.path.isdir("/proc/self"):
        pytest.skip("/proc is Linux's")
    assert main(segment_args("tiny", image_path, output.replace("{tmp}", str(tmp_path)), *extra)) == 1
    assert re.search(message, one_line_error(capsys, "segment"))


@pytest.mark.parametrize("command", ["segment", "eval"])
@pytest.mark.parametrize("threshold", ["nan", "NaN", "high"])
def test_a_threshold_that_is_not_a_number_is_a_usage_error(model_dir, image_path, tmp_path, capsys, command, threshold):
    if command == "segment":
        args = segment_args(model_dir, image_path, tmp_path / "mask.png")
    else:
        args = ["eval", "--model", str(model_dir), "--dataset", "synthetic", "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--threshold", threshold])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert f"argument --threshold: {threshold!r} is not a mask logit, expected a number such as 0.0" in err


# ------------------------------------------------------------------------------------ segment, text only


@pytest.fixture
def presence_model(monkeypatch):
    """`samptx segment` loads a tiny model whose presence head answers +10 (present) for the first class of a call
    and -10 (absent) for the others."""
    import samptx_hf.cli.main

    model = make_model(presence_head=True).eval()

    def answer(module, args, output):
        logits = torch.full_like(output, -10.0)
        logits[0] = 10.0
        return logits

    model.presence_head.register_forward_hook(answer)
    monkeypatch.setattr(samptx_hf.cli.main, "load_model", lambda *args: (model, None))
    return model


def test_text_only_writes_the_present_classes_masks_and_a_label_map(presence_model, image_path, tmp_path, capsys):
    args = segment_args("tiny", image_path, tmp_path / "out" / "mask.png")
    args[args.index("circle")] = "circle, sea horse"
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"present: circle \(presence 1.000, \d+ of 3840 pixels\); wrote .*mask_circle.png", out)
    assert "absent: sea horse (presence 0.000)" in out
    assert "(0 background, 1 circle, 2 sea horse)" in out
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["mask_circle.png", "mask_labels.png", "mask_overlay.png"]  # no mask of the absent class
    expected = segment_semantic(presence_model, image_path, ["circle", "sea horse"])
    mask = np.asarray(Image.open(tmp_path / "out" / "mask_circle.png"))
    assert np.array_equal(mask == 255, expected.results[0].mask) and (mask == 255).any()
    labels = Image.open(tmp_path / "out" / "mask_labels.png")
    assert labels.mode == "L" and np.array_equal(np.asarray(labels), expected.label_map)
    assert set(np.unique(np.asarray(labels))) == {0, 1}


def test_text_only_without_a_presence_head_writes_each_class_with_a_mask(model_dir, image_path, tmp_path, capsys):
    assert main(segment_args(model_dir, image_path, tmp_path / "mask.png")) == 0
    assert "present: circle (no presence head, " in capsys.readouterr().out
    assert np.asarray(Image.open(tmp_path / "mask_circle.png")).shape == (48, 80)
    assert not (tmp_path / "mask.png").exists()


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [("a b,a_b", [], r"--text: class 'a_b' would write mask_a_b.png, as class 'a b' does: rename one of them"),
     ("labels", [], r"class 'labels' would write mask_labels.png, as the label map does"),
     ("circle,,dog", [], r"--text: every class name must be a non-empty string, got '' \(class names separated by"),
     (",".join(f"c{i}" for i in range(256)), [], "--text names 256 classes, expected at most 255"),
     ("circle", ["--multimask"], "--multimask needs --point or --box: a text-only call predicts one mask per class")],
)  # fmt: skip
def test_text_only_refuses_what_it_cannot_write_before_loading(
    image_path, tmp_path, capsys, no_model_load, text, extra, message
):
    args = segment_args("tiny", image_path, tmp_path / "mask.png", *extra)
    args[args.index("circle")] = text
    assert main(args) == 1
    assert re.search(message, one_line_error(capsys, "segment"))


@pytest.mark.parametrize("presence_threshold", ["1.5", "-0.1", "nan", "high"])
def test_a_presence_threshold_that_is_not_a_probability_is_a_usage_error(
    image_path, tmp_path, capsys, presence_threshold
):
    with pytest.raises(SystemExit) as exit_info:
        main(segment_args("tiny", image_path, tmp_path / "mask.png", "--presence-threshold", presence_threshold))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert f"--presence-threshold: {presence_threshold!r} is not a probability, expected a number in [0, 1]" in err
