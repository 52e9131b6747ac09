"""`OnnxPredictor` on an export answers as `SamPtxPredictor` on the model: masks (at most 0.1 % of pixels apart),
scores, presence, for SAM and SAM 2 and every method; the same caches and the same errors."""

import re

import numpy as np
import pytest
from hub_factories import make_image
from onnx_factories import CLASS_NAMES

from samptx_hf import SamPtxPredictor
from samptx_hf.onnx import OnnxPredictor
from samptx_hf.onnx.predictor import OnnxPredictorResult

PROMPTS = [
    {},  # the class name alone: every X, or none
    {"points": [(20, 20)]},
    {"box": (5, 5, 60, 40)},
    {"points": [(20, 20), (50, 30)], "point_labels": [1, 0], "box": (5, 5, 60, 40)},
]


def assert_same_answers(ours, theirs):
    ours, theirs = (ours, theirs) if isinstance(ours, list) else ([ours], [theirs])
    assert len(ours) == len(theirs)
    for one, other in zip(ours, theirs, strict=True):
        assert isinstance(one, OnnxPredictorResult)
        assert one.class_name == other.class_name
        assert one.masks.shape == other.masks.shape and one.masks.dtype == np.bool_
        assert (one.masks != other.masks).mean() <= 1e-3
        np.testing.assert_allclose(one.scores, other.scores, atol=1e-4)
        assert one.score == pytest.approx(other.score, abs=1e-4)
        assert (one.presence is None) == (other.presence is None)
        if one.presence is not None:
            assert one.presence == pytest.approx(other.presence, abs=1e-4)
            assert (one.presence >= 0.5) == (other.presence >= 0.5)
        assert one.low_res_logits.shape == other.low_res_logits.shape
        np.testing.assert_allclose(one.low_res_logits, other.low_res_logits, atol=1e-3)


@pytest.fixture(scope="module")
def image():
    return make_image()  # 80x48: SAM pads it, SAM 2 stretches it


def test_answers_are_the_torch_predictor_s(exported, image):
    model, folder, _ = exported
    ours, theirs = OnnxPredictor(folder), SamPtxPredictor(model)
    ours.set_image(image)
    theirs.set_image(image)
    assert ours.original_size == theirs.original_size == (48, 80)
    for prompts in PROMPTS:
        for text in (CLASS_NAMES[0], CLASS_NAMES):
            for multimask_output in (False, True):
                assert_same_answers(
                    ours.predict(text, multimask_output=multimask_output, **prompts),
                    theirs.predict(text, multimask_output=multimask_output, **prompts),
                )


def test_a_second_click_with_the_first_mask_is_the_torch_predictor_s(exported, image):
    model, folder, _ = exported
    ours, theirs = OnnxPredictor(folder), SamPtxPredictor(model)
    ours.set_image(image)
    theirs.set_image(image)
    first = ours.predict("cat", points=[(20, 20)])
    second = {"points": [(20, 20), (60, 30)], "point_labels": [1, 0]}
    assert_same_answers(
        ours.predict("cat", mask_input=first.low_res_logits, **second),
        theirs.predict("cat", mask_input=first.low_res_logits, **second),
    )
    logits = [first.low_res_logits, first.low_res_logits[0]]  # (1, size, size) and (size, size)
    assert_same_answers(
        ours.predict(CLASS_NAMES, mask_input=logits, **second),
        theirs.predict(CLASS_NAMES, mask_input=logits, **second),
    )


def test_thresholds_are_applied_as_the_torch_predictor_does(exported, image):
    model, folder, _ = exported
    ours, theirs = OnnxPredictor(folder), SamPtxPredictor(model)
    ours.set_image(image)
    theirs.set_image(image)
    for threshold, presence_threshold in ((-0.5, 0.0), (0.5, 1.0)):
        assert_same_answers(
            ours.predict(CLASS_NAMES, threshold=threshold, presence_threshold=presence_threshold),
            theirs.predict(CLASS_NAMES, threshold=threshold, presence_threshold=presence_threshold),
        )


def test_a_class_outside_the_export_s_classes(exported, image):
    """With the text encoder exported, any class name; without it, a clear error, unless the model does not read the
    text at all (decoder_only)."""
    model, folder, layout = exported
    ours = OnnxPredictor(folder)
    ours.set_image(image)
    if "text_encoder" in layout.graphs or layout.text_injection == "none":
        theirs = SamPtxPredictor(model)
        theirs.set_image(image)
        assert_same_answers(ours.predict(["bird", "cat"]), theirs.predict(["bird", "cat"]))
    else:
        with pytest.raises(ValueError, match="class 'bird' is not among the export's classes .* no text encoder"):
            ours.predict(["cat", "bird"])


def test_the_image_is_encoded_once_and_each_class_once(exported, image):
    _, folder, layout = exported
    predictor = OnnxPredictor(folder)
    assert not predictor.is_image_set and predictor.original_size is None
    predictor.set_image(image)
    trunk = predictor._trunk
    predictor.predict("cat", points=[(20, 20)])
    predictor.predict(["cat", "dog", "dog"])
    predictor.predict("dog", box=(5, 5, 60, 40))
    info = predictor.cache_info()
    if layout.image_encoder_reads_text:
        assert (info.misses, info.hits, info.classes) == (2, 3, 2)  # cat, then dog (once for the repeated name)
    else:
        assert (info.misses, info.hits, info.classes) == (1, 4, 1)  # one image embedding serves every class
    assert info.trunk_bytes > 0 and info.class_embeddings_bytes > 0
    predictor.set_image(np.asarray(image))  # the same pixels: nothing is computed again
    assert predictor._trunk is trunk and predictor.cache_info().classes == info.classes
    predictor.set_image(make_image(seed=1))
    assert predictor._trunk is not trunk and predictor.cache_info().classes == 0
    predictor.reset_image()
    assert not predictor.is_image_set


def test_a_small_cache_keeps_the_most_recent_classes(exported, image):
    _, folder, layout = exported
    if not layout.image_encoder_reads_text:
        pytest.skip("one image embedding serves every class")
    predictor = OnnxPredictor(folder)
    predictor.set_image(image)
    predictor.predict("cat")
    one_class = predictor.cache_info().class_embeddings_bytes
    predictor.max_cache_bytes = predictor.cache_info().trunk_bytes + one_class  # room for one class
    predictor.predict("dog")
    assert list(predictor._class_features) == ["dog"]


def test_errors_are_the_torch_predictor_s(exported, image):
    model, folder, layout = exported
    ours, theirs = OnnxPredictor(folder), SamPtxPredictor(model)
    size = layout.low_res_mask_size
    no_image_yet = lambda predictor: predictor.predict("cat")  # noqa: E731
    assert error_of(no_image_yet, ours) == error_of(no_image_yet, theirs)
    ours.set_image(image)
    theirs.set_image(image)
    calls = [
        lambda predictor: predictor.predict(""),
        lambda predictor: predictor.predict([]),
        lambda predictor: predictor.predict("cat", points=[(100, 10)]),
        lambda predictor: predictor.predict("cat", points=[(10, 10)], point_labels=[1, 1]),
        lambda predictor: predictor.predict("cat", point_labels=[1]),
        lambda predictor: predictor.predict("cat", box=(10, 10, 5, 5)),
        lambda predictor: predictor.predict("cat", threshold="0"),
        lambda predictor: predictor.predict("cat", threshold=float("nan")),
        lambda predictor: predictor.predict("cat", presence_threshold=2),
        lambda predictor: predictor.predict("cat", mask_input=np.zeros((size // 2, size // 2))),
        lambda predictor: predictor.predict("cat", mask_input=np.zeros((2, size, size))),
        lambda predictor: predictor.predict(["cat", "dog"], mask_input=[np.zeros((size, size))]),
        lambda predictor: predictor.predict("cat", mask_input="abc"),
        lambda predictor: predictor.predict("cat", mask_input=np.full((size, size), np.nan)),
        lambda predictor: predictor.predict("cat", multimask_output="no"),
        lambda predictor: predictor.predict("cat", points=[("a", "b")]),
        lambda predictor: predictor.predict("cat", box="0,0,10,10"),
        lambda predictor: predictor.predict(b"cat"),
        lambda predictor: predictor.set_image("missing.png"),
    ]
    if layout.preprocessing.pad:  # SAM: too elongated for its input
        calls.append(lambda predictor: predictor.set_image(np.zeros((1, 200, 3), dtype=np.uint8)))
    for call in calls:
        assert error_of(call, ours) == error_of(call, theirs)


def error_of(call, predictor):
    with pytest.raises((TypeError, ValueError, RuntimeError, FileNotFoundError)) as raised:
        call(predictor)
    return type(raised.value), str(raised.value)


def test_an_adapter_repository_is_named_as_such_with_the_command_that_exports_it(adapter_repo):
    message = (
        f"{adapter_repo} is an adapter repository, not an ONNX export: export it first with `samptx export --model "
        f"{adapter_repo} --output <export folder>`"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        OnnxPredictor(adapter_repo)


def test_a_folder_that_is_not_an_export_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        OnnxPredictor(tmp_path)
    with pytest.raises(ValueError, match="max_cache_bytes must be a positive number of bytes, got 0"):
        OnnxPredictor(tmp_path, max_cache_bytes=0)
