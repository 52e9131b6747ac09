"""`samptx label --prompts`: point and box prompts per image from a JSON or COCO file, one annotation per prompt with
the mask of `segment(..., points=, box=)`; the images without prompts text only; bad prompt files as one-line errors."""

import json

import numpy as np
import pytest
from factories import make_trained_looking_model
from hub_factories import make_image
from labelling_helpers import CLASSES, NUM_IMAGES, read_json
from pycocotools import mask as mask_utils

from samptx_hf import SamPtxForTextSegmentation, segment
from samptx_hf.cli.main import main
from samptx_hf.labelling import BatchAnnotator, ImagePrompt

# pycocotools' decode under numpy 2 (its own code, not ours): "__array__ implementation doesn't accept a copy keyword".
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

PROMPTS = {
    "image_1.png": [
        {"class": "red", "box": [4, 6, 40, 50]},
        {"class": "yellow", "points": [[20, 30]]},
        {"class": "red", "points": [[10, 12], [50, 40]], "point_labels": [1, 0], "box": [2, 2, 60, 62]},
        {"class": "red", "points": [[33, 21]]},
    ],
    "sub/image_4.png": [{"class": CLASSES[-1], "box": [0, 0, 64, 64]}],
}


def assert_mask_of_segment(mask, result):
    clear = np.abs(result.logits) > 1e-3  # pixels a float32 rounding cannot flip
    assert np.array_equal(mask[clear], result.mask[clear])


def expected_score(result):
    return result.score * (result.presence if result.presence is not None else 1.0)


def label(adapter_repo, images, output, *options):
    return main(["label", "--model", str(adapter_repo), "--images", str(images), "--output", str(output), *options])


@pytest.mark.parametrize("sam_version", [1, 2])
def test_prompted_rows_get_the_masks_of_segment_at_the_same_prompts(sam_version):
    model = make_trained_looking_model(sam_version=sam_version, adapter_layers="last:1")
    classes = ["circle", "square", "dog"]
    prompts = [
        ImagePrompt("dog", box=(2.0, 3.0, 30.0, 40.0)),
        ImagePrompt("circle", points=((10.0, 12.0),)),
        ImagePrompt("dog", points=((5.0, 6.0), (20.0, 20.0)), point_labels=(1, 0), box=(1.0, 1.0, 40.0, 44.0)),
        ImagePrompt("square", box=(0.0, 0.0, 20.0, 20.0)),
        ImagePrompt("square", points=((30.0, 9.5),)),
    ]
    images = [make_image(seed=0), make_image(width=40, height=72, seed=1)]
    # rows in chunks of 2: the two box-only prompts together, the one-point prompts together, the last alone
    annotator = BatchAnnotator(model, classes, max_rows=2)
    prompted, text_only = annotator.annotate(images, [prompts, None])
    assert [prediction.class_name for prediction in prompted] == [prompt.class_name for prompt in prompts]
    for prompt, prediction in zip(prompts, prompted, strict=True):
        result = segment(
            model, images[0], prompt.class_name, prompt.points, prompt.box, point_labels=prompt.point_labels,
            return_logits=True,
        )  # fmt: skip
        assert prediction.iou_score == pytest.approx(result.score, abs=1e-5)
        assert_mask_of_segment(prediction.mask, result)
    assert [prediction.class_name for prediction in text_only] == classes
    for prediction, result in zip(text_only, segment(model, images[1], classes, return_logits=True), strict=True):
        assert_mask_of_segment(prediction.mask, result)


def test_a_prompt_outside_its_image_or_of_another_class_is_refused_by_the_annotator():
    annotator = BatchAnnotator(make_trained_looking_model(), ["dog"])
    image = make_image(width=40, height=72)
    with pytest.raises(ValueError, match=r"point \(41, 3\) lies outside the 40x72 image"):
        annotator.annotate([image], [[ImagePrompt("dog", points=((41.0, 3.0),))]])
    with pytest.raises(ValueError, match=r"prompt class 'cat' of image 0 is not in \['dog'\]"):
        annotator.annotate([image], [[ImagePrompt("cat", box=(0.0, 0.0, 5.0, 5.0))]])
    with pytest.raises(ValueError, match="prompts has 2 entries for 1 images"):
        annotator.annotate([image], [None, None])


def test_json_prompts_give_one_annotation_per_prompt_and_the_other_images_text_only(
    adapter_repo, parts_images, tmp_path
):
    folder, _ = parts_images
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text(json.dumps(PROMPTS))
    output = tmp_path / "out"
    options = ["--classes", ",".join(CLASSES), "--prompts", str(prompts_file), "--label-maps", "--class-masks"]
    assert label(adapter_repo, folder, output, *options) == 0
    document = read_json(output / "annotations.json")
    assert len(document["images"]) == NUM_IMAGES
    assert read_json(output / "run.json")["prompts"]["unprompted"] == "text"
    model = SamPtxForTextSegmentation.from_pretrained(adapter_repo)
    prompted = 0
    for image in document["images"]:
        annotations = [a for a in document["annotations"] if a["image_id"] == image["id"]]
        if image["file_name"] in PROMPTS:
            results = [
                segment(
                    model,
                    folder / image["file_name"],
                    prompt["class"],
                    prompt.get("points"),
                    prompt.get("box"),
                    point_labels=prompt.get("point_labels"),
                    return_logits=True,
                )  # fmt: skip
                for prompt in PROMPTS[image["file_name"]]
            ]
            found = [
                (prompt, result)
                for prompt, result in zip(PROMPTS[image["file_name"]], results, strict=True)
                if result.mask.any()
            ]
        else:  # text only, one annotation per connected region of each class (--instances)
            found = None
            for category, result in enumerate(segment(model, folder / image["file_name"], CLASSES), start=1):
                pieces = [a for a in annotations if a["category_id"] == category]
                assert sum(mask_utils.decode(a["segmentation"]).sum() for a in pieces) == result.mask.sum()
        if found is None:
            continue
        assert len(annotations) == len(found)  # a prompt's mask is one annotation, even with --instances
        prompted += len(found)
        for annotation, (prompt, result) in zip(annotations, found, strict=True):
            assert annotation["category_id"] == CLASSES.index(prompt["class"]) + 1
            assert annotation["score"] == pytest.approx(expected_score(result), abs=1e-5)
            assert_mask_of_segment(mask_utils.decode(annotation["segmentation"]).astype(bool), result)
    assert prompted >= 3
    label_map = np.asarray(__import__("PIL.Image").Image.open(output / "label_maps" / "image_1.png.png"))
    assert set(np.unique(label_map)) <= {0, CLASSES.index("red") + 1, CLASSES.index("yellow") + 1}


def test_the_boxes_of_a_coco_file_are_resegmented(adapter_repo, parts_images, tmp_path):
    folder, ground_truth = parts_images
    options = ["--classes", ",".join(CLASSES), "--image-root", str(folder), "--prompts", str(ground_truth)]
    assert label(adapter_repo, ground_truth, tmp_path / "out", *options) == 0
    boxes = read_json(ground_truth)
    document = read_json(tmp_path / "out" / "annotations.json")
    model = SamPtxForTextSegmentation.from_pretrained(adapter_repo)
    file_name_of = {image["id"]: image["file_name"] for image in boxes["images"]}
    expected = []
    for box_annotation in boxes["annotations"]:  # in image order, as the output
        x, y, width, height = box_annotation["bbox"]
        name = CLASSES[box_annotation["category_id"] - 1]
        result = segment(
            model, folder / file_name_of[box_annotation["image_id"]], name, box=[x, y, x + width, y + height],
            return_logits=True,
        )  # fmt: skip
        if result.mask.any():
            expected.append((box_annotation, result))
    assert len(document["annotations"]) == len(expected) > 0
    for annotation, (box_annotation, result) in zip(document["annotations"], expected, strict=True):
        assert annotation["image_id"] == box_annotation["image_id"]
        assert annotation["category_id"] == box_annotation["category_id"]
        assert annotation["score"] == pytest.approx(expected_score(result), abs=1e-5)
        assert_mask_of_segment(mask_utils.decode(annotation["segmentation"]).astype(bool), result)


def test_a_prompt_outside_its_image_is_listed_not_fatal(adapter_repo, parts_images, tmp_path, capsys):
    folder, _ = parts_images
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text(json.dumps({"image_2.png": [{"class": "red", "points": [[3, 70]]}]}))
    assert label(adapter_repo, folder, tmp_path / "out", "--classes", "red", "--prompts", str(prompts_file)) == 0
    assert f"labelled {NUM_IMAGES - 1} images with 1 classes, 1 unreadable" in capsys.readouterr().out
    [line] = (tmp_path / "out" / "unreadable.txt").read_text().splitlines()
    assert line.startswith("image_2.png: prompt 0 ('red') of 'image_2.png': point (3, 70) lies outside the 64x64")


def test_a_resume_with_other_prompts_is_refused(adapter_repo, parts_images, tmp_path, capsys):
    folder, _ = parts_images
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"image_0.png": [{"class": "red", "box": [0, 0, 30, 30]}]}))
    second.write_text(json.dumps({"image_0.png": [{"class": "red", "box": [0, 0, 31, 30]}]}))
    output = tmp_path / "out"
    assert label(adapter_repo, folder, output, "--classes", "red", "--prompts", str(first)) == 0
    capsys.readouterr()
    assert label(adapter_repo, folder, output, "--classes", "red", "--prompts", str(second)) == 1
    assert "holds a run with prompts=" in capsys.readouterr().err
    assert label(adapter_repo, folder, output, "--classes", "red") == 1
    assert "holds a run with prompts=" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not a JSON file"),
        ("[1, 2]", "holds a JSON list, expected a COCO instances file"),
        ('{"image_0.png": {"class": "red"}}', "holds {'class': 'red'}, expected a list of prompts"),
        ('{"image_0.png": [{"class": "dog", "box": [0, 0, 5, 5]}]}', "class 'dog' is not in --classes ['red']"),
        ('{"image_0.png": [{"class": "red"}]}', "has neither points nor box"),
        (
            '{"image_0.png": [{"class": "red", "points": [[1, 2]], "point_labels": [1, 0]}]}',
            "point_labels [1, 0] for 1",
        ),
        ('{"image_0.png": [{"class": "red", "point_labels": [1]}]}', "has point_labels [1] but no points"),
        ('{"image_0.png": [{"class": "red", "points": [[-1, 2]]}]}', "points [[-1, 2]], expected a non-empty list"),
        ('{"image_0.png": [{"class": "red", "box": [5, 0, 5, 9]}]}', "box [5, 0, 5, 9] is empty"),
        ('{"image_0.png": [{"class": "red", "box": [0, 0, 5, 5], "mask": 1}]}', "has keys ['mask']"),
        ('{"elsewhere/image_0.png": [{"class": "red", "points": [[1, 2]]}]}', "1 images that are not among --images"),
        (
            '{"images": [{"id": 1, "file_name": "image_0.png"}], "categories": [{"id": 3, "name": "cat"}], '
            '"annotations": [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4]}]}',
            "has boxes of categories ['cat'] that are not in --classes ['red']",
        ),
        (
            '{"images": [{"id": 1, "file_name": "image_0.png"}], "categories": [{"id": 3, "name": "red"}], '
            '"annotations": [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 0, 4]}]}',
            "bbox [0, 0, 0, 4] as box [0.0, 0.0, 0.0, 4.0] is empty",
        ),
    ],
)
def test_bad_prompt_files_give_one_line_errors(adapter_repo, parts_images, tmp_path, capsys, content, message):
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text(content)
    options = ["--classes", "red", "--prompts", str(prompts_file)]
    assert label(adapter_repo, parts_images[0], tmp_path / "out", *options) == 1
    error = capsys.readouterr().err
    assert error.startswith("samptx label: error: ") and error.count("\n") == 1 and message in error
    assert not (tmp_path / "out").exists()


def test_a_missing_prompts_file_is_named(adapter_repo, parts_images, tmp_path, capsys):
    options = ["--classes", "red", "--prompts", str(tmp_path / "missing.json")]
    assert label(adapter_repo, parts_images[0], tmp_path / "out", *options) == 1
    assert "missing.json' does not exist, expected a COCO or a prompts JSON file" in capsys.readouterr().err
