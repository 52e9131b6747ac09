"""`samptx label` end to end on built-in-task images: COCO JSON that pycocotools reads and evaluates, masks equal to
`segment()`'s, resuming after SIGKILL, refusing another model's output, one-line errors on bad input."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from labelling_helpers import CLASSES, NUM_IMAGES, assert_same_coco, read_json
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from samptx_hf import SamPtxForTextSegmentation, segment
from samptx_hf.cli.main import main
from samptx_hf.labelling.coco_writer import picture_name
from samptx_hf.labelling.command import _state_fingerprint, model_fingerprint
from samptx_hf.labelling.resume import SHARDS_FOLDER

# pycocotools' decode under numpy 2 (its own code, not ours): "__array__ implementation doesn't accept a copy keyword".
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def label(adapter_repo, images, output, *options):
    return main(["label", "--model", str(adapter_repo), "--images", str(images), "--output", str(output), *options])


def test_annotations_load_in_pycocotools_and_evaluate_against_the_ground_truth(
    adapter_repo, parts_images, tmp_path, capsys
):
    folder, ground_truth = parts_images
    options = ["--classes", ",".join(CLASSES), "--image-root", str(folder), "--semantic", "--batch-size", "4"]
    assert label(adapter_repo, ground_truth, tmp_path / "out", *options) == 0
    assert f"labelled {NUM_IMAGES} images with {len(CLASSES)} classes" in capsys.readouterr().out

    ground = COCO(str(ground_truth))
    detections = ground.loadRes(read_json(tmp_path / "out" / "annotations.json")["annotations"])
    assert sorted(detections.getImgIds()) == sorted(ground.getImgIds())  # the COCO file's ids are kept
    evaluation = COCOeval(ground, detections, iouType="segm")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats.shape == (12,)
    assert np.all((evaluation.stats == -1) | ((evaluation.stats >= 0) & (evaluation.stats <= 1)))
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["semantic", "instances"])
def test_masks_decoded_from_the_json_are_those_of_segment(adapter_repo, parts_images, tmp_path, mode):
    folder, _ = parts_images
    output = tmp_path / "out"
    assert label(adapter_repo, folder, output, "--classes", ",".join(CLASSES), f"--{mode}", "--batch-size", "3") == 0
    document = read_json(output / "annotations.json")
    coco = COCO(str(output / "annotations.json"))
    assert [image["file_name"] for image in document["images"]] == sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*.png")
    )
    model = SamPtxForTextSegmentation.from_pretrained(adapter_repo)
    for image in document["images"]:
        results = segment(model, folder / image["file_name"], CLASSES, return_logits=True)
        for category, result in enumerate(results, start=1):
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"], catIds=category))
            decoded = np.zeros((image["height"], image["width"]), bool)
            for annotation in annotations:
                piece = mask_utils.decode(annotation["segmentation"]).astype(bool)
                assert not (decoded & piece).any()  # instances of a class do not overlap
                decoded |= piece
                assert annotation["score"] == pytest.approx(result.score, abs=1e-5)  # no presence head: the IoU
                assert annotation["area"] == piece.sum()
            if mode == "semantic":
                assert len(annotations) == (1 if result.mask.any() else 0)
            clear = np.abs(result.logits) > 1e-3  # pixels a float32 rounding cannot flip
            assert np.array_equal(decoded[clear], result.mask[clear])


def test_label_maps_and_class_masks_are_written_per_image(adapter_repo, parts_images, tmp_path):
    folder, _ = parts_images
    output = tmp_path / "out"
    options = ["--classes", "red,yellow", "--label-maps", "--class-masks"]
    assert label(adapter_repo, folder, output, *options) == 0
    label_map = np.asarray(Image.open(output / "label_maps" / "sub" / "image_4.png.png"))
    assert label_map.shape == (64, 64) and set(np.unique(label_map)) <= {0, 1, 2}
    masks = sorted(path.name for path in (output / "masks" / "sub" / "image_4.png").iterdir())
    assert set(masks) <= {"red.png", "yellow.png"} and masks


def test_images_of_one_stem_get_pictures_of_their_own(adapter_repo, parts_images, tmp_path):
    folder, _ = parts_images
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes((folder / "image_0.png").read_bytes())
    Image.open(folder / "image_1.png").save(images / "a.jpg", quality=95)
    output = tmp_path / "out"
    assert label(adapter_repo, images, output, "--classes", ",".join(CLASSES), "--semantic", "--class-masks") == 0
    document = read_json(output / "annotations.json")
    coco = COCO(str(output / "annotations.json"))
    for image in document["images"]:  # each image's mask files are the masks of its own annotations
        written = {path.name for path in (output / "masks" / image["file_name"]).iterdir()}
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert written == {f"{CLASSES[a['category_id'] - 1]}.png" for a in annotations} and written
        for annotation in annotations:
            file = output / "masks" / image["file_name"] / f"{CLASSES[annotation['category_id'] - 1]}.png"
            assert np.array_equal(np.asarray(Image.open(file)) > 0, mask_utils.decode(annotation["segmentation"]) > 0)
    assert label(adapter_repo, images, tmp_path / "maps", "--classes", "red", "--label-maps") == 0
    assert sorted(path.name for path in (tmp_path / "maps" / "label_maps").iterdir()) == ["a.jpg.png", "a.png.png"]


def test_images_whose_pictures_would_share_a_name_are_refused(adapter_repo, parts_images, tmp_path, capsys):
    folder, _ = parts_images
    coco = tmp_path / "twice.json"
    images = [{"id": 1, "file_name": "image_0.png"}, {"id": 2, "file_name": "./image_0.png"}]
    coco.write_text(__import__("json").dumps({"images": images}))
    options = ["--image-root", str(folder), "--classes", "red", "--label-maps"]
    assert label(adapter_repo, coco, tmp_path / "out", *options) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "images 'image_0.png' and './image_0.png' would both write" in error
    assert label(adapter_repo, coco, tmp_path / "out", *options[:-1]) == 0  # without pictures, nothing collides


def _shard_lines(output: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in (output / SHARDS_FOLDER).glob("*.jsonl"))


def _wait_for_lines(process: subprocess.Popen, output: Path, lines: int) -> None:
    deadline = time.monotonic() + 120
    while not (output / SHARDS_FOLDER).is_dir() or _shard_lines(output) < lines:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
        time.sleep(0.005)


@pytest.mark.slow
def test_a_text_only_run_stopped_and_restarted_in_new_processes_ends_with_the_json_of_an_uninterrupted_run(
    text_only_adapter_repo, parts_images, tmp_path
):
    folder, _ = parts_images
    many = tmp_path / "many"  # more images, so that the stops land mid-way
    for copy in range(4):
        for path in folder.rglob("*.png"):
            target = many / f"copy{copy}" / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    total = 4 * NUM_IMAGES
    output = tmp_path / "resumed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    options = ["--classes", ",".join(CLASSES), "--batch-size", "1", "--output", str(output)]
    command = [sys.executable, "-m", "samptx_hf.cli", "label", "--model", str(text_only_adapter_repo)]
    command += ["--images", str(many), *options]

    # Ctrl-C: one line, saying what is kept and how to resume.
    interrupted = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    _wait_for_lines(interrupted, output, 2)
    interrupted.send_signal(signal.SIGINT)
    error = interrupted.communicate()[1]
    done = _shard_lines(output)
    assert interrupted.returncode == 130 and "Traceback" not in error
    assert error.strip().splitlines()[-1] == (
        f"samptx label: interrupted; the {done} images labelled so far are kept in {str(output)!r}: resume with "
        f"samptx label --model {text_only_adapter_repo} --images {many} {' '.join(options)}"
    )
    # SIGKILL: the next process (another draw of any random weights) resumes, and the run after it completes.
    killed = subprocess.Popen(command, env=env, cwd=tmp_path)
    _wait_for_lines(killed, output, done + 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert done + 2 <= _shard_lines(output) < total and not (output / "annotations.json").exists()
    assert subprocess.run(command, env=env, cwd=tmp_path).returncode == 0
    assert _shard_lines(output) == total  # none twice, none lost
    once = tmp_path / "once"
    assert label(text_only_adapter_repo, many, once, *options[:-2]) == 0
    assert_same_coco(read_json(output / "annotations.json"), read_json(once / "annotations.json"))
    scores = [annotation["score"] for annotation in read_json(once / "annotations.json")["annotations"]]
    assert scores and max(scores) < 0.95  # presence x predicted IoU: the presence head answered

    # A completed run, run again (its model loaded again): nothing to label, the same files.
    before = {path: path.read_bytes() for path in [output / "annotations.json", *(output / SHARDS_FOLDER).iterdir()]}
    assert label(text_only_adapter_repo, many, output, *options[:-2]) == 0
    assert {path: path.read_bytes() for path in before} == before


def test_an_output_of_another_vocabulary_or_model_is_refused(adapter_repo, parts_images, tmp_path, capsys):
    folder, _ = parts_images
    output = tmp_path / "out"
    assert label(adapter_repo, folder, output, "--classes", "red,yellow") == 0
    before = (output / "annotations.json").read_bytes()
    capsys.readouterr()
    assert label(adapter_repo, folder, output, "--classes", "red,green") == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and 'holds a run with classes=["red", "yellow"]' in error
    assert label(adapter_repo, folder, output, "--classes", "red,yellow", "--semantic") == 1
    assert "mode=" in capsys.readouterr().err
    other_model = SamPtxForTextSegmentation.from_pretrained(adapter_repo)
    with __import__("torch").no_grad():
        next(p for n, p in other_model.named_parameters() if "parallel_text_up" in n).add_(1.0)
    other_model.save_pretrained(tmp_path / "retrained")
    assert label(tmp_path / "retrained", folder, output, "--classes", "red,yellow") == 1
    assert "holds a run with model=" in capsys.readouterr().err
    assert (output / "annotations.json").read_bytes() == before
    # Run again with the same model and options: nothing left to label, the same JSON.
    assert label(adapter_repo, folder, output, "--classes", "red,yellow") == 0
    assert (output / "annotations.json").read_bytes() == before


def test_unreadable_files_are_listed_not_fatal(adapter_repo, parts_images, tmp_path, capsys):
    folder, _ = parts_images
    images = tmp_path / "images"
    images.mkdir()
    (images / "good.png").write_bytes((folder / "image_0.png").read_bytes())
    (images / "notes.txt").write_text("not an image")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert label(adapter_repo, images, tmp_path / "out", "--classes", "red") == 0
    assert "labelled 1 images with 1 classes, 2 unreadable" in capsys.readouterr().out
    assert [image["file_name"] for image in read_json(tmp_path / "out" / "annotations.json")["images"]] == ["good.png"]
    listed = (tmp_path / "out" / "unreadable.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in listed] == ["broken.jpg", "notes.txt"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--images", "{missing}", "--classes", "red"], "does not exist"),
        (["--images", "{folder}", "--classes", ""], "the class list is empty"),
        (["--images", "{folder}", "--classes", "red, ,blue"], "has an empty class name"),
        (["--images", "{folder}", "--classes", "red,blue,red"], "names ['red'] more than once"),
        (["--images", "{folder}", "--classes-file", "{missing}"], "--classes-file"),
        (["--images", "{empty}", "--classes", "red"], "holds no file"),
        (["--images", "{folder}", "--classes", "red", "--image-root", "{folder}"], "--image-root is for a COCO"),
    ],
)
def test_bad_inputs_give_one_line_errors(adapter_repo, parts_images, tmp_path, capsys, options, message):
    (tmp_path / "empty").mkdir()
    values = {"missing": tmp_path / "missing", "folder": parts_images[0], "empty": tmp_path / "empty"}
    options = [option.format(**values) for option in options]
    assert main(["label", "--model", str(adapter_repo), "--output", str(tmp_path / "out"), *options]) == 1
    error = capsys.readouterr().err
    assert error.startswith("samptx label: error: ") and error.count("\n") == 1 and message in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dtype", "float8"], "invalid choice: 'float8'"),
        (["--batch-size", "0"], "'0' is not a positive integer"),
        (["--presence-threshold", "2"], "'2' is not a probability"),
    ],
)
def test_bad_flags_give_one_line_usage_errors(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["label", "--model", "m", "--images", "x", "--classes", "a", "--output", str(tmp_path), *options])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_float16_on_the_cpu_is_refused_before_the_model_loads(parts_images, tmp_path, capsys):
    options = ["--images", str(parts_images[0]), "--classes", "red", "--dtype", "float16", "--device", "cpu"]
    assert main(["label", "--model", str(tmp_path / "no_model"), "--output", str(tmp_path / "out"), *options]) == 1
    assert "dtype 'float16' is not supported on the CPU" in capsys.readouterr().err


def test_a_classes_file_and_dataloader_workers_give_the_json_of_comma_separated_classes(
    adapter_repo, parts_images, tmp_path
):
    folder, _ = parts_images
    classes_file = tmp_path / "classes.txt"
    classes_file.write_text("red\n\n  yellow \n")
    assert (
        label(adapter_repo, folder, tmp_path / "file", "--classes-file", str(classes_file), "--num-workers", "1") == 0
    )
    assert label(adapter_repo, folder, tmp_path / "flag", "--classes", "red,yellow") == 0
    assert_same_coco(
        read_json(tmp_path / "file" / "annotations.json"), read_json(tmp_path / "flag" / "annotations.json")
    )
    assert [c["name"] for c in read_json(tmp_path / "file" / "annotations.json")["categories"]] == ["red", "yellow"]


def test_picture_names_keep_the_path_and_extension_and_stay_inside_their_folder():
    assert picture_name("sub/a.jpg") == "sub/a.jpg"
    assert picture_name("a.png") != picture_name("a.jpg")
    assert picture_name("/data/./x.png") == "data/x.png"
    assert picture_name("../up/x.png") == "__/up/x.png"


@pytest.mark.parametrize("where", ["file", "under_a_file", "proc"])
def test_an_output_that_cannot_be_a_folder_is_one_line_naming_it(adapter_repo, parts_images, tmp_path, capsys, where):
    (tmp_path / "file").write_text("not a folder")
    output = {"file": tmp_path / "file", "under_a_file": tmp_path / "file" / "sub", "proc": Path("/proc/samptx")}[where]
    assert label(adapter_repo, parts_images[0], output, "--classes", "red") == 1
    error = capsys.readouterr().err
    assert error.startswith(f"samptx label: error: --output {str(output)!r}") and error.count("\n") == 1
    assert "Errno" not in error and (tmp_path / "file").read_text() == "not a folder"


def test_ctrl_c_is_one_line_saying_what_is_kept_and_how_to_resume(
    adapter_repo, parts_images, tmp_path, capsys, monkeypatch
):
    import samptx_hf.labelling.command as command

    def interrupted(args):
        raise KeyboardInterrupt

    output = tmp_path / "out"
    options = ["--model", str(adapter_repo), "--images", str(parts_images[0]), "--classes", "red"]
    monkeypatch.setattr(command, "_label", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["label", *options, "--output", str(output)])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == (
        f"samptx label: interrupted before the first image; {str(output)!r} holds no labels: run samptx label "
        f"{' '.join(options)} --output {output}\n"
    )
    monkeypatch.undo()
    assert main(["label", *options, "--output", str(output)]) == 0
    monkeypatch.setattr(command, "_label", interrupted)
    with pytest.raises(SystemExit):
        main(["label", *options, "--output", str(output)])
    assert f"interrupted; the {NUM_IMAGES} images labelled so far are kept in" in capsys.readouterr().err


def test_a_run_fingerprinted_by_the_whole_state_dict_resumes(adapter_repo, parts_images, tmp_path):
    output = tmp_path / "out"
    assert label(adapter_repo, parts_images[0], output, "--classes", "red") == 0
    header = read_json(output / "run.json")
    model = SamPtxForTextSegmentation.from_pretrained(adapter_repo)
    assert header["model_fingerprint"] == model_fingerprint(model)
    earlier = _state_fingerprint(model)  # how runs before this version hashed the model
    assert earlier != header["model_fingerprint"]
    (output / "run.json").write_text(__import__("json").dumps({**header, "model_fingerprint": earlier}))
    assert label(adapter_repo, parts_images[0], output, "--classes", "red") == 0
    assert read_json(output / "run.json")["model_fingerprint"] == earlier


def test_split_labels_that_split_of_a_saved_dataset_dict(adapter_repo, parts_images, tmp_path, capsys):
    import datasets

    folder, _ = parts_images
    features = datasets.Features({"image": datasets.Image(), "file_name": datasets.Value("string")})
    rows = {
        split: {"image": [str(folder / name) for name in names], "file_name": names}
        for split, names in (("train", ["image_0.png"]), ("validation", ["image_1.png", "image_2.png"]))
    }
    splits = {split: datasets.Dataset.from_dict(data, features=features) for split, data in rows.items()}
    datasets.DatasetDict(splits).save_to_disk(tmp_path / "saved")
    options = ["--classes", "red", "--split", "validation"]
    assert label(adapter_repo, tmp_path / "saved", tmp_path / "out", *options) == 0
    names = [image["file_name"] for image in read_json(tmp_path / "out" / "annotations.json")["images"]]
    assert names == ["image_1.png", "image_2.png"] and read_json(tmp_path / "out" / "run.json")["split"] == "validation"
    splits["validation"].save_to_disk(tmp_path / "alone")
    assert label(adapter_repo, tmp_path / "alone", tmp_path / "other", *options) == 1
    assert (
        "is one split saved alone (a dataset without a split name), not --split 'validation'" in capsys.readouterr().err
    )
