"""What the demo page does, checked as plain Python (no browser, no server)."""

import numpy as np
import pytest
from hub_factories import make_image
from PIL import Image

from samptx_hf.data import PARTS_CLASS_NAMES
from samptx_hf.demo import (
    MAX_CLASS_NAMES,
    MAX_IMAGE_SIDE,
    DemoInputError,
    Prompts,
    SessionPredictors,
    draw_prompts,
    parse_class_names,
    prepare_image,
    segment_classes,
    write_examples,
)
from samptx_hf.inference import POINT_COLORS, segment

# ------------------------------------------------------------------------------------------------- prompts


def test_clicks_add_foreground_and_background_points_in_order():
    prompts = Prompts().add_click(10, 20, "foreground point").add_click(30.5, 5, "background point")
    assert prompts.points == [[10, 20], [30.5, 5]] and prompts.point_labels == [1, 0]
    assert prompts.box is None and not prompts.is_empty
    assert prompts.describe() == "1 foreground point, 1 background point"


def test_two_box_corner_clicks_make_a_box_in_either_order():
    started = Prompts().add_click(60, 10, "box corner")
    assert started.box_corner == [60, 10] and started.box is None and started.is_empty
    assert "click the opposite corner" in started.describe()
    boxed = started.add_click(5, 40, "box corner")
    assert boxed.box == [5, 10, 60, 40] and boxed.box_corner is None and not boxed.is_empty
    redrawn = boxed.add_click(1, 1, "box corner").add_click(3, 3, "box corner")
    assert redrawn.box == [1, 1, 3, 3]


def test_an_unknown_click_mode_is_refused():
    with pytest.raises(DemoInputError, match="click mode 'lasso' is unknown"):
        Prompts().add_click(1, 1, "lasso")


def test_prompts_survive_the_json_round_trip_of_the_page():
    prompts = Prompts().add_click(1, 2, "foreground point").add_click(3, 4, "box corner").add_click(8, 9, "box corner")
    assert Prompts.from_json(prompts.to_json()) == prompts
    assert Prompts.from_json(None) == Prompts() and Prompts.from_json({}) == Prompts()
    assert Prompts.from_json({"points": [[5, 6]]}).point_labels == [1]  # API callers may leave labels out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"point": [[1, 2]]}, r"unknown prompt keys \['point'\]"),
        ({"points": [[1, 2, 3]]}, r"\[1, 2, 3\] is not a point \[x, y\]"),
        ({"points": [["a", 2]]}, "is not a point"),
        ({"points": [[1, 2]], "point_labels": [1, 0]}, "0 or 1 for each of the 1 points"),
        ({"points": [[1, 2]], "point_labels": [2]}, "0 or 1 for each"),
        ({"box": [0, 0, 5]}, "is not a box"),
    ],
)
def test_malformed_prompts_name_the_value_and_the_expected_form(value, message):
    with pytest.raises(DemoInputError, match=message):
        Prompts.from_json(value)


# ----------------------------------------------------------------------------------------- class names


def test_class_names_are_split_on_commas_and_lines_stripped_and_unique():
    assert parse_class_names(" circle, striped\nsea horse,circle, ") == ["circle", "striped", "sea horse"]


@pytest.mark.parametrize("text", [None, "", "   ", " , ,\n"])
def test_no_class_name_asks_for_one(text):
    with pytest.raises(DemoInputError, match="Type a class name"):
        parse_class_names(text)


def test_too_many_class_names_are_refused():
    with pytest.raises(DemoInputError, match=f"at most {MAX_CLASS_NAMES}"):
        parse_class_names(",".join(f"class{i}" for i in range(MAX_CLASS_NAMES + 1)))


# ------------------------------------------------------------------------------------------------ images


def test_an_image_is_read_as_rgb_and_kept_at_its_size(tmp_path):
    make_image(width=80, height=48).convert("L").save(tmp_path / "gray.png")
    image, message = prepare_image(str(tmp_path / "gray.png"))
    assert image.shape == (48, 80, 3) and image.dtype == np.uint8
    assert message == "Image of 80×48 px."


def test_a_huge_image_is_downscaled_keeping_its_aspect_ratio():
    image, message = prepare_image(np.zeros((1000, 3 * MAX_IMAGE_SIDE, 3), dtype=np.uint8))
    assert image.shape == (round(1000 / 3), MAX_IMAGE_SIDE, 3)
    assert f"{3 * MAX_IMAGE_SIDE}×1000 px, downscaled to {MAX_IMAGE_SIDE}×333 px" in message


def test_no_image_or_an_unreadable_file_is_a_message(tmp_path):
    with pytest.raises(DemoInputError, match="Upload an image"):
        prepare_image(None)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DemoInputError, match="Cannot use this image: cannot read .*notes.png"):
        prepare_image(str(tmp_path / "notes.png"))
    with pytest.raises(DemoInputError) as error_info:  # named as the user knows it, not by the server's path
        prepare_image(str(tmp_path / "notes.png"), name="holiday.png")
    assert "'holiday.png'" in str(error_info.value) and str(tmp_path) not in str(error_info.value)


def test_prompts_are_drawn_on_a_copy_of_the_image():
    image = np.full((48, 80, 3), 128, dtype=np.uint8)
    prompts = Prompts().add_click(20, 20, "foreground point").add_click(60, 30, "background point")
    drawn = draw_prompts(image, prompts.add_click(40, 10, "box corner"))
    assert tuple(drawn[20, 20]) == POINT_COLORS[1] and tuple(drawn[30, 60]) == POINT_COLORS[0]
    assert tuple(drawn[10, 40]) == (255, 215, 0)  # the pending box corner
    boxed = draw_prompts(image, Prompts(box=[5, 5, 70, 40]))
    assert tuple(boxed[5, 30]) == (255, 215, 0) and tuple(boxed[20, 30]) == (128, 128, 128)
    assert (image == 128).all()


def test_examples_are_images_of_the_builtin_task_with_both_names_and_a_point(tmp_path):
    examples = write_examples(tmp_path, count=2)
    assert len(examples) == 2
    for example in examples:
        image = Image.open(example.image_path)
        assert image.mode == "RGB" and len(example.class_names) == 2
        assert set(example.class_names) <= set(PARTS_CLASS_NAMES)
        assert example.class_text == ", ".join(example.class_names)
        x, y = example.point
        assert 0 <= x < image.width and 0 <= y < image.height


# ------------------------------------------------------------------------------------------ segmentation


def test_segmentation_gives_the_masks_of_segment_for_each_class_name(demo_model, tmp_path):
    image = np.asarray(make_image(width=80, height=48))
    prompts = Prompts().add_click(20, 20, "foreground point").add_click(70, 40, "background point")
    segmentation = segment_classes(demo_model, image, "circle, striped", prompts)

    expected = segment(demo_model, image, ["circle", "striped"], points=prompts.points, point_labels=[1, 0])
    assert [result.class_name for result in segmentation.results] == ["circle", "striped"]
    for result, reference in zip(segmentation.results, expected, strict=True):
        assert np.array_equal(result.mask, reference.mask) and result.score == reference.score

    # The page's view of it: the legend names each class with its predicted IoU, in its own colour.
    labels = [f"circle (IoU {expected[0].score:.2f})", f"striped (IoU {expected[1].score:.2f})"]
    assert segmentation.labels == labels
    assert list(segmentation.color_map) == labels and len(set(segmentation.color_map.values())) == 2
    base, annotations = segmentation.annotations()
    assert base is image and [label for _, label in annotations] == labels
    assert np.array_equal(annotations[0][0], expected[0].mask.astype(np.float32))
    assert segmentation.message.startswith("circle: ") and "predicted IoU" in segmentation.message

    # The downloads: one 0/255 PNG per class at the image's size.
    paths = segmentation.save_masks(tmp_path / "masks")
    assert [path.name for path in paths] == ["mask_1_circle.png", "mask_2_striped.png"]
    for path, reference in zip(paths, expected, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)), reference.mask.astype(np.uint8) * 255)


def test_without_prompts_the_class_name_alone_is_used_and_the_message_says_so(demo_model):
    image = np.asarray(make_image())
    segmentation = segment_classes(demo_model, image, "circle", Prompts())
    assert np.array_equal(segmentation.results[0].mask, segment(demo_model, image, "circle").mask)
    assert "No point or box" in segmentation.message
    prompted = segment_classes(demo_model, image, "circle", Prompts(box=[5, 5, 60, 40]))
    assert not np.array_equal(prompted.results[0].mask, segmentation.results[0].mask)  # the box reached SAM
    assert "No point or box" not in prompted.message


@pytest.mark.parametrize(
    ("image", "class_text", "prompts", "message"),
    [
        (None, "circle", Prompts(), "Upload an image"),
        (np.zeros((48, 80, 3), np.uint8), " , ", Prompts(), "Type a class name"),
        (np.zeros((48, 80, 3), np.uint8), "circle", Prompts([[90, 10]], [1]), r"point \(90, 10\) .* outside"),
    ],
)
def test_bad_input_is_a_message_not_a_crash(demo_model, image, class_text, prompts, message):
    with pytest.raises(DemoInputError, match=message):
        segment_classes(demo_model, image, class_text, prompts)


def test_a_second_click_on_the_same_class_does_not_run_the_image_encoder(demo_model):
    vision_encoder = demo_model.get_base_model().sam.vision_encoder
    calls = []
    hooks = [block.register_forward_hook(lambda *args: calls.append(1)) for block in vision_encoder.layers]
    try:
        predictors = SessionPredictors(demo_model)
        image = np.asarray(make_image())
        first = segment_classes(
            predictors.get("tab-1"), image, "circle", Prompts().add_click(20, 20, "foreground point")
        )
        assert calls  # the first click encodes the image and the class
        calls.clear()
        clicks = Prompts().add_click(20, 20, "foreground point").add_click(60, 30, "background point")
        second = segment_classes(predictors.get("tab-1"), image, "circle", clicks)
        assert calls == []  # the decoder's time only
        expected = segment(demo_model, image, "circle", points=clicks.points, point_labels=clicks.point_labels)
        assert np.array_equal(second.results[0].mask, expected.mask) and first.results[0].class_name == "circle"
        segment_classes(predictors.get("tab-2"), image, "circle", clicks)
        assert calls  # another session has its own predictor
    finally:
        for hook in hooks:
            hook.remove()


def test_sessions_beyond_the_limit_drop_the_least_recent(demo_model):
    predictors = SessionPredictors(demo_model, max_sessions=2)
    first = predictors.get("a")
    predictors.get("b")
    assert predictors.get("a") is first  # used again: now the most recent
    predictors.get("c")
    assert len(predictors) == 2 and predictors.get("a") is first
    predictors.drop("a")
    assert predictors.get("a") is not first
