import numpy as np
import pytest
import torch
from factories import make_model, model_with_presence
from hub_factories import make_image, make_peft_model, save_frozen_components
from peft import get_peft_model
from PIL import Image

from samptx_hf import ParallelTextConfig
from samptx_hf.inference.segment import SegmentationResult, load_image, overlay_mask, segment
from samptx_hf.processing.input_checks import NOT_A_POINT_LABEL
from samptx_hf.processing.processing_samptx import SamPtxProcessor


@pytest.fixture
def peft_model(tmp_path):
    return make_peft_model(*save_frozen_components(tmp_path))


def test_segment_gives_a_boolean_mask_at_the_original_size_as_the_manual_pipeline(peft_model):
    image = make_image(width=80, height=48)
    result = peft_model.segment(image, "circle", points=[(20, 20)], box=(5, 5, 60, 40))
    assert isinstance(result, SegmentationResult)
    assert result.mask.shape == (48, 80) and result.mask.dtype == bool
    assert 0 < result.mask.mean() < 1
    assert isinstance(result.score, float) and result.class_name == "circle"

    processor = SamPtxProcessor.from_model(peft_model)
    inputs = processor(image, "circle", input_points=[[20, 20]], input_boxes=[5, 5, 60, 40])
    sizes = inputs.pop("original_sizes"), inputs.pop("reshaped_input_sizes")
    with torch.no_grad():
        outputs = peft_model(**inputs)
    expected = processor.post_process_masks(outputs.pred_masks, *sizes)[0][0, 0].numpy()
    assert np.array_equal(result.mask, expected)
    assert result.score == pytest.approx(outputs.iou_scores[0, 0, 0].item())


def test_segment_runs_through_the_adapters_of_a_peft_model(peft_model):
    image = make_image()
    through_method = peft_model.segment(image, "circle", points=[(20, 20)])
    through_function = segment(peft_model, image, "circle", points=[(20, 20)])
    with peft_model.disable_adapter():
        without_adapters = segment(peft_model, image, "circle", points=[(20, 20)])
    assert np.array_equal(through_method.masks, through_function.masks)
    assert through_method.score == through_function.score
    assert through_method.score != without_adapters.score
    assert not np.array_equal(through_method.mask, without_adapters.mask)


def test_several_class_names_give_one_result_each_in_order(peft_model):
    image = make_image()
    results = segment(peft_model, image, ["circle", "striped"], points=[(20, 20)])
    assert [result.class_name for result in results] == ["circle", "striped"]
    for result in results:
        alone = segment(peft_model, image, result.class_name, points=[(20, 20)])
        assert result.score == pytest.approx(alone.score, abs=1e-6)
        assert (result.mask != alone.mask).mean() < 1e-3
    assert results[0].score != results[1].score  # the text conditions the prediction


def test_multimask_output_keeps_the_mask_with_the_best_predicted_iou(peft_model):
    result = peft_model.segment(make_image(), "circle", points=[(20, 20)], multimask_output=True)
    assert result.masks.shape == (3, 48, 80) and result.scores.shape == (3,)
    best = int(np.argmax(result.scores))
    assert np.array_equal(result.mask, result.masks[best])
    assert result.score == pytest.approx(float(result.scores[best]))


def test_threshold_moves_the_mask_boundary(peft_model):
    image = make_image()
    loose = segment(peft_model, image, "circle", points=[(20, 20)], threshold=-1e6)
    strict = segment(peft_model, image, "circle", points=[(20, 20)], threshold=1e6)
    assert loose.mask.all() and not strict.mask.any()


def test_segment_accepts_a_path_and_restores_the_training_mode(tmp_path):
    model = make_model()
    peft_model = get_peft_model(model, ParallelTextConfig(r=4)).train()
    make_image().save(tmp_path / "image.png")
    result = segment(peft_model, tmp_path / "image.png", "circle", points=[(1, 2)], point_labels=[0])
    assert result.mask.shape == (48, 80)
    assert peft_model.training and model.sam.training


def test_load_image_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read .*notes.png.* as an image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(ValueError, match=r"shape \(height, width\[, 3\]\)"):
        load_image(np.zeros((4, 4, 7), np.uint8))
    with pytest.raises(ValueError, match="is a folder, expected an image file"):
        load_image(tmp_path)
    with pytest.raises(ValueError, match=r"dtype uint8 \(0..255\), got float32; convert a \[0, 1\] float image"):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"image is a torch.Tensor, expected .* \(for a \(3, height, width\) tensor"):
        load_image(torch.zeros(3, 4, 4))


@pytest.mark.parametrize(
    ("mode", "pixels", "expected"),
    [("I;16", np.array([[0, 257, 65535]], np.uint16), [0, 1, 255]),
     ("I", np.array([[0, 1000, 65535]], np.int32), [0, 4, 255]),
     ("I", np.array([[0, 7, 255]], np.int32), [0, 7, 255]),
     ("F", np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255])],
)  # fmt: skip
def test_deep_grayscale_images_are_scaled_to_8_bits_not_clipped_to_white(tmp_path, mode, pixels, expected):
    image = Image.fromarray(pixels, mode=mode) if mode != "I;16" else Image.fromarray(pixels)
    assert image.mode == mode
    rgb = np.asarray(load_image(image))
    assert rgb.shape == (1, 3, 3) and rgb[0, :, 0].tolist() == expected
    if mode == "I;16":  # and read from a 16-bit PNG file the same way
        image.save(tmp_path / "deep.png")
        assert np.asarray(load_image(tmp_path / "deep.png"))[0, :, 0].tolist() == expected


@pytest.mark.parametrize("points", [(32, 32), [32, 32], np.array([32, 32]), [(1, 2), (3,)]])
def test_segment_names_points_that_are_not_a_list_of_points(peft_model, points):
    with pytest.raises(ValueError, match=r"must be a list of \(x, y\) points, e.g. \[\(320, 240\)\]"):
        segment(peft_model, make_image(), "circle", points=points)


def test_overlay_tints_the_mask_and_leaves_the_rest_of_the_image():
    image = make_image(width=40, height=30)
    mask = np.zeros((30, 40), bool)
    mask[5:20, 10:30] = True
    overlay = np.asarray(overlay_mask(image, mask, points=[(35, 25)]), dtype=int)
    pixels = np.asarray(image, dtype=int)
    assert overlay.shape == pixels.shape
    assert (np.abs(overlay - pixels).sum(-1)[mask] > 0).all()
    untouched = ~mask
    untouched[20:, 30:] = False  # around the point
    assert np.array_equal(overlay[untouched], pixels[untouched])
    with pytest.raises(ValueError, match=r"expected the image's \(height, width\) \(30, 40\)"):
        overlay_mask(image, mask.T)


@pytest.mark.parametrize(
    ("threshold", "error", "message"),
    [(float("nan"), ValueError, "threshold is NaN, expected a real number"),
     ("0.5", TypeError, "threshold='0.5' is a str, expected a real number"),
     (True, TypeError, "threshold=True is a bool, expected a real number")],
)  # fmt: skip
def test_a_threshold_that_is_not_a_number_is_refused(peft_model, threshold, error, message):
    with pytest.raises(error, match=message):
        segment(peft_model, make_image(), "circle", threshold=threshold)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [({"multimask_output": "no"}, TypeError, "multimask_output='no' is a str, expected True or False"),
     ({"return_logits": 1}, TypeError, "return_logits=1 is a int, expected True or False"),
     ({"processor": "abc"}, TypeError, r"processor='abc' is a str, expected a SamPtxProcessor \(or None"),
     ({"points": [("a", "b")]}, ValueError, r"points must be a list of \(x, y\) points, .* got \[\('a', 'b'\)\]"),
     ({"box": "0,0,10,10"}, ValueError, r"box must be \(x1, y1, x2, y2\): four numbers .* got '0,0,10,10'"),
     ({"text": b"red"}, ValueError, r"text=b'red' is bytes, expected a class name as a str")],
)  # fmt: skip
def test_arguments_of_the_wrong_type_are_named_with_what_was_expected(peft_model, arguments, error, message):
    arguments = {"text": "circle", **arguments}
    with pytest.raises(error, match=message):
        segment(peft_model, make_image(), **arguments)


def test_a_folder_name_where_the_model_goes_says_how_to_load_it(tmp_path):
    from samptx_hf.inference.semantic import segment_semantic

    message = rf"model='{tmp_path}' is a path, expected a loaded model: load it with SamPtxForTextSegmentation"
    with pytest.raises(TypeError, match=message):
        segment(str(tmp_path), make_image(), "red")
    with pytest.raises(TypeError, match=message):
        segment_semantic(str(tmp_path), make_image(), ["red"])
    with pytest.raises(TypeError, match="model is a int, expected a SamPtxForTextSegmentation or a PeftModel"):
        segment(5, make_image(), "red")


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 5, 3), (5, 0)])
def test_an_empty_image_is_refused_with_its_size(peft_model, shape):
    height, width = shape[:2]
    with pytest.raises(ValueError, match=rf"image 0 is {width}x{height} pixels, expected an image of at least 1x1"):
        segment(peft_model, np.zeros(shape, np.uint8), "circle")


# ----------------------------------------------------------------------------------------- text only, presence

SAM_VERSIONS = pytest.mark.parametrize("sam_version", [1, 2], ids=["sam", "sam2"])


@SAM_VERSIONS
def test_a_class_name_alone_is_the_not_a_point_prompt_the_model_was_trained_with(sam_version):
    model = model_with_presence(sam_version, 10.0)
    image = make_image()
    result = segment(model, image, "circle", return_logits=True)

    processor = SamPtxProcessor.from_model(model)
    inputs = processor(image, "circle")
    sizes = inputs.pop("original_sizes"), inputs.pop("reshaped_input_sizes")
    with torch.no_grad():
        outputs = model(
            **inputs, input_points=torch.zeros(1, 1, 1, 2), input_labels=torch.full((1, 1, 1), NOT_A_POINT_LABEL)
        )
    logits = processor.post_process_masks(outputs.pred_masks, *sizes, binarize=False)[0][0, 0].numpy()
    assert result.presence == pytest.approx(torch.sigmoid(outputs.presence_logits).item()) and result.presence > 0.99
    assert np.array_equal(result.mask, logits > 0) and 0 < result.mask.mean() < 1
    np.testing.assert_allclose(result.logits, logits, rtol=1e-5, atol=1e-5)


@SAM_VERSIONS
def test_an_absent_class_gives_empty_masks_and_a_presence_below_the_threshold(sam_version):
    model = model_with_presence(sam_version, -10.0)
    results = segment(model, make_image(), ["circle", "square"], multimask_output=True)
    for result in results:
        assert result.presence < 0.5
        assert result.mask.shape == (48, 80) and not result.mask.any() and not result.masks.any()
    # a threshold of 0 takes every class as present: the decoder's masks come back
    assert segment(model, make_image(), "circle", presence_threshold=0.0).mask.any()


def test_with_points_the_presence_answer_empties_the_masks_too():
    image = make_image()
    present = segment(model_with_presence(1, 10.0), image, "circle", points=[(20, 20)])
    absent = segment(model_with_presence(1, -10.0), image, "circle", points=[(20, 20)])
    assert present.presence > 0.5 and present.mask.any()
    assert absent.presence < 0.5 and not absent.mask.any()


@SAM_VERSIONS
def test_a_model_without_a_presence_head_answers_text_only_with_a_mask_and_no_presence(sam_version):
    result = segment(make_model(sam_version=sam_version).eval(), make_image(), "circle", presence_threshold=1.0)
    assert result.presence is None and result.logits is None
    assert result.mask.any()


@pytest.mark.parametrize(
    ("presence_threshold", "error", "message"),
    [(1.5, ValueError, r"presence_threshold=1.5, expected a probability in \[0, 1\]"),
     (-0.1, ValueError, r"presence_threshold=-0.1, expected a probability in \[0, 1\]"),
     (float("nan"), ValueError, r"presence_threshold=nan, expected a probability in \[0, 1\]"),
     ("0.5", TypeError, "presence_threshold='0.5' is a str, expected a real number in"),
     (True, TypeError, "presence_threshold=True is a bool, expected a real number in")],
)  # fmt: skip
def test_a_presence_threshold_that_is_not_a_probability_is_refused(presence_threshold, error, message):
    with pytest.raises(error, match=message):
        segment(make_model(), make_image(), "circle", presence_threshold=presence_threshold)
