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
from samptx_hf.demo.interactions import MASK_COLORS
from samptx_hf.inference.segment import POINT_COLORS, segment

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


def test_with_no_click_the_page_says_which_classes_are_present_and_shows_only_those(model_answering, tmp_path):
    model = model_answering([10.0, 2.0, -4.0])  # presence 1.00, 0.88, 0.02
    image = np.asarray(make_image(width=80, height=48))
    segmentation = segment_classes(model, image, "red, blue, green", Prompts())

    assert segmentation.message.startswith("present: red (1.00), blue (0.88); absent: green (0.02).")
    assert [result.class_name for result in segmentation.results] == ["red", "blue", "green"]
    assert [result.class_name for result in segmentation.shown] == ["red", "blue"]
    expected = segment(model, image, ["red", "blue", "green"])  # the text-only answer of `segment`
    for result, reference in zip(segmentation.results, expected, strict=True):
        assert np.array_equal(result.mask, reference.mask) and result.presence == pytest.approx(reference.presence)
    assert not segmentation.results[2].mask.any()

    # The absent class has no mask on the page, no legend entry and no file; the others keep their colours.
    labels = [
        f"red (IoU {expected[0].score:.2f}, presence 1.00)",
        f"blue (IoU {expected[1].score:.2f}, presence 0.88)",
    ]
    _, annotations = segmentation.annotations()
    assert [label for _, label in annotations] == labels == segmentation.labels
    assert segmentation.color_map == {labels[0]: MASK_COLORS[0], labels[1]: MASK_COLORS[1]}
    paths = segmentation.save_masks(tmp_path)
    assert [path.name for path in paths] == ["mask_1_red.png", "mask_2_blue.png"]


def test_with_no_click_a_higher_presence_threshold_makes_a_class_absent(model_answering):
    segmentation = segment_classes(
        model_answering([10.0, 2.0]), np.asarray(make_image()), "red, blue", Prompts(), presence_threshold=0.9
    )
    assert segmentation.message.startswith("present: red (1.00); absent: blue (0.88).")
    assert [label.split(" ")[0] for label in segmentation.labels] == ["red"]
    assert not segmentation.results[1].mask.any()


def test_with_no_click_and_no_class_present_the_page_shows_no_mask(model_answering, tmp_path):
    segmentation = segment_classes(model_answering([-10.0, -10.0]), np.asarray(make_image()), "red, blue", Prompts())
    assert segmentation.message.startswith("present: none; absent: red (0.00), blue (0.00).")
    assert segmentation.annotations()[1] == [] and segmentation.color_map == {}
    assert segmentation.save_masks(tmp_path) == []


def test_with_no_click_a_model_without_presence_shows_every_class_and_says_so(model_answering):
    image = np.asarray(make_image())
    segmentation = segment_classes(model_answering(None), image, "red, blue", Prompts())
    assert [result.presence for result in segmentation.results] == [None, None]
    assert [result.class_name for result in segmentation.shown] == ["red", "blue"]
    assert [label.split(" (IoU ")[0] for label in segmentation.labels] == ["red", "blue"]
    assert "presence" not in " ".join(segmentation.labels)
    assert "no presence answer" in segmentation.message and "present:" not in segmentation.message


def test_with_a_click_every_class_is_shown_with_its_presence_beside_the_iou(model_answering):
    model = model_answering([10.0, -10.0])
    image = np.asarray(make_image(width=80, height=48))
    prompts = Prompts().add_click(20, 20, "foreground point")
    segmentation = segment_classes(model, image, "red, blue", prompts)

    expected = segment(model, image, ["red", "blue"], points=prompts.points)
    assert segmentation.labels == [
        f"red (IoU {expected[0].score:.2f}, presence 1.00)",
        f"blue (IoU {expected[1].score:.2f}, presence 0.00)",
    ]
    assert [label for _, label in segmentation.annotations()[1]] == segmentation.labels
    assert not segmentation.results[1].mask.any()  # absent: its mask is empty, as `segment` gives it
    assert segmentation.message.startswith(f"red: {expected[0].mask.mean():.1%} of the image, predicted IoU ")
    assert "presence 1.00" in segmentation.message and "present:" not in segmentation.message


def test_sessions_beyond_the_limit_drop_the_least_recent(demo_model):
    predictors = SessionPredictors(demo_model, max_sessions=2)
    first = predictors.get("a")
    predictors.get("b")
    assert predictors.get("a") is first  # used again: now the most recent
    predictors.get("c")
    assert len(predictors) == 2 and predictors.get("a") is first
    predictors.drop("a")
    assert predictors.get("a") is not first
