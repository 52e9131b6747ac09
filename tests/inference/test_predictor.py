"""`SamPtxPredictor`: the image encoded once, each class once, every click in the decoder's time; the results are
`segment()`'s."""

import numpy as np
import pytest
import torch
from factories import make_model, make_trained_looking_model, model_with_presence
from hub_factories import make_image

from samptx_hf import SamPtxPredictor, segment
from samptx_hf.inference.engine import inputs_on_model
from samptx_hf.inference.segment import prepare_inputs


def count_block_calls(model):
    """Every image-encoder block call is recorded, by index."""
    vision_encoder = model.get_base_model().sam.vision_encoder
    blocks = vision_encoder.backbone.blocks if hasattr(vision_encoder, "backbone") else vision_encoder.layers
    calls = []
    for index, block in enumerate(blocks):
        block.register_forward_hook(lambda module, args, output, index=index: calls.append(index))
    return calls, len(blocks)


def assert_same(ours, theirs):
    assert ours.class_name == theirs.class_name
    np.testing.assert_array_equal(ours.masks, theirs.masks)
    np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "sam_version", "adapter_layers"),
    [("parallel_text", 1, None), ("parallel_text", 1, "last:1"), ("parallel_text", 2, None),
     ("decoder_only", 1, None), ("text_mask_decoder", 2, None)],
)  # fmt: skip
def test_predictions_are_segment_s(method, sam_version, adapter_layers):
    model = make_trained_looking_model(method, sam_version, adapter_layers)
    image = make_image()
    predictor = SamPtxPredictor(model)
    predictor.set_image(image)
    for prompts in (
        {"points": [(20, 20)]},
        {"box": (5, 5, 60, 40)},
        {"points": [(20, 20), (50, 30)], "point_labels": [1, 0]},
    ):
        for text in ("circle", ["circle", "striped"]):
            ours = predictor.predict(text, multimask_output=True, **prompts)
            theirs = segment(model, image, text, multimask_output=True, **prompts)
            for one, other in zip(
                ours if isinstance(text, list) else [ours], theirs if isinstance(text, list) else [theirs], strict=True
            ):
                assert_same(one, other)


def test_a_second_click_runs_no_encoder_block_and_a_new_class_only_the_adapted_ones():
    model = make_trained_looking_model(adapter_layers="last:1")
    calls, num_blocks = count_block_calls(model)
    predictor = SamPtxPredictor(model)
    predictor.set_image(make_image())
    assert calls == list(range(num_blocks - 1))  # the trunk: every block before the adapted one
    calls.clear()
    predictor.predict("circle", points=[(20, 20)])
    assert calls == [num_blocks - 1]  # the first click on a class: the adapted block
    calls.clear()
    predictor.predict("circle", points=[(20, 20), (40, 30)], point_labels=[1, 0])
    assert calls == []  # a second click: decoder only
    predictor.predict("striped", points=[(20, 20)])
    assert calls == [num_blocks - 1]  # another class on the same image: the adapted block only
    info = predictor.cache_info()
    assert (info.classes, info.hits, info.misses) == (2, 1, 2)
    assert info.trunk_bytes > 0 and info.class_embeddings_bytes > 0


def test_mask_input_is_sam_s_mask_prompt():
    model = make_trained_looking_model()
    image = make_image()
    predictor = SamPtxPredictor(model)
    predictor.set_image(image)
    first = predictor.predict("circle", points=[(20, 20)])
    assert first.low_res_logits.shape == (1, 32, 32)
    refined = predictor.predict(
        "circle", points=[(20, 20), (50, 30)], point_labels=[1, 0], mask_input=first.low_res_logits
    )
    inputs = prepare_inputs(predictor.processor, image, "circle", [(20, 20), (50, 30)], None, [1, 0])
    inputs.pop("original_sizes"), inputs.pop("reshaped_input_sizes")
    with torch.no_grad():
        direct = model(**inputs_on_model(inputs, model), input_masks=torch.from_numpy(first.low_res_logits)[None])
    np.testing.assert_allclose(refined.low_res_logits, direct.pred_masks[0, 0].numpy(), rtol=1e-4, atol=1e-12)
    without = predictor.predict("circle", points=[(20, 20), (50, 30)], point_labels=[1, 0])
    assert not np.allclose(refined.low_res_logits, without.low_res_logits, rtol=1e-3, atol=0)


def test_the_cache_keeps_the_most_recent_classes_within_its_bytes():
    model = make_trained_looking_model()
    probe = SamPtxPredictor(model)
    probe.set_image(make_image())
    probe.predict("circle", points=[(20, 20)])
    per_class, trunk = probe.cache_info().class_embeddings_bytes, probe.cache_info().trunk_bytes
    predictor = SamPtxPredictor(model, max_cache_bytes=trunk + 2 * per_class)
    predictor.set_image(make_image())
    for name in ("circle", "striped", "dotted"):
        predictor.predict(name, points=[(20, 20)])
    assert predictor.cache_info().classes == 2
    predictor.predict("striped", points=[(20, 20)])  # kept
    predictor.predict("circle", points=[(20, 20)])  # dropped first, computed again
    assert (predictor.cache_info().hits, predictor.cache_info().misses) == (1, 4)


def test_a_new_image_forgets_the_old_one_and_the_same_image_keeps_it():
    model = make_trained_looking_model()
    calls, _ = count_block_calls(model)
    predictor = SamPtxPredictor(model)
    predictor.set_image(make_image(seed=0))
    predictor.predict("circle", points=[(20, 20)])
    calls.clear()
    predictor.set_image(make_image(seed=0))  # the same pixels: nothing to do
    predictor.predict("circle", points=[(20, 20)])
    assert calls == [] and predictor.cache_info().classes == 1
    predictor.set_image(make_image(seed=1))
    assert predictor.cache_info().classes == 0 and predictor.original_size == (48, 80)
    predictor.reset_image()
    assert not predictor.is_image_set
    with pytest.raises(RuntimeError, match="no image is set: call predictor.set_image"):
        predictor.predict("circle")


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda p: p.predict("circle", mask_input=np.zeros((64, 64))), r"mask_input must be .* shape \(1, 32, 32\)"),
     (lambda p: p.predict(["a", "b"], mask_input=[np.zeros((32, 32))]), "1 masks for 2 class names"),
     (lambda p: p.predict(" "), "every class name must be a non-empty string"),
     (lambda p: p.predict("circle", points=[(500, 20)]), r"point \(500, 20\) of image 0 lies outside the image"),
     (lambda p: p.predict("circle", points=[("a", "b")]), r"points must be a list of \(x, y\) points"),
     (lambda p: p.predict("circle", box="0,0,10,10"), r"box must be \(x1, y1, x2, y2\): four numbers"),
     (lambda p: p.predict("circle", mask_input="abc"), "mask_input must be low-resolution logits .* got 'abc'"),
     (lambda p: p.predict("circle", mask_input=np.full((32, 32), np.nan)),
      "mask_input holds 1024 NaN or infinite values of 1024, expected finite logits"),
     (lambda p: p.predict("circle", mask_input=np.full((1, 32, 32), np.inf)), "holds 1024 NaN or infinite values")],
)  # fmt: skip
def test_bad_prompts_are_named(call, message):
    predictor = SamPtxPredictor(make_trained_looking_model())
    predictor.set_image(make_image())
    with pytest.raises(ValueError, match=message):
        call(predictor)


def test_a_flag_that_is_not_a_bool_or_a_processor_that_is_not_one_is_a_type_error():
    model = make_trained_looking_model()
    with pytest.raises(TypeError, match="processor='abc' is a str, expected a SamPtxProcessor"):
        SamPtxPredictor(model, processor="abc")
    predictor = SamPtxPredictor(model)
    predictor.set_image(make_image())
    with pytest.raises(TypeError, match="multimask_output='no' is a str, expected True or False"):
        predictor.predict("circle", points=[(20, 20)], multimask_output="no")
    assert predictor.predict("circle", points=[(20, 20)], multimask_output=np.bool_(True)).masks.shape[0] == 3


def test_a_cache_size_must_be_a_positive_number_of_bytes():
    with pytest.raises(ValueError, match="max_cache_bytes must be a positive number of bytes, got 0"):
        SamPtxPredictor(make_trained_looking_model(), max_cache_bytes=0)


@pytest.mark.parametrize(
    ("model", "message"),
    [("outputs/sam-ptx-synthetic", r"model is a str \('outputs/sam-ptx-synthetic'; a folder or Hub id is loaded "
      r"with SamPtxForTextSegmentation.from_pretrained\), expected a SamPtxForTextSegmentation or a PeftModel"),
     (torch.nn.Linear(2, 2), "model is a Linear, expected a SamPtxForTextSegmentation or a PeftModel around one")],
)  # fmt: skip
def test_a_model_that_is_not_sam_ptx_is_a_type_error(model, message):
    with pytest.raises(TypeError, match=message):
        SamPtxPredictor(model)


def test_images_segment_refuses_are_refused_by_set_image_with_the_same_message():
    model = make_trained_looking_model("parallel_text", 1, None)
    predictor = SamPtxPredictor(model)
    for shape, message in (
        ((4000, 10, 3), r"is 10x4000 pixels: with its long side resized to .* 64 px its short side would be 0 px"),
        ((0, 0, 3), r"is 0x0 pixels, expected an image of at least 1x1 pixel"),
    ):
        image = np.zeros(shape, np.uint8)
        with pytest.raises(ValueError, match=message):
            segment(model, image, "circle")
        with pytest.raises(ValueError, match=rf"^image {message}"):
            predictor.set_image(image)
        assert not predictor.is_image_set


@pytest.mark.parametrize(
    ("threshold", "error"), [(float("nan"), ValueError), ("0", TypeError), (torch.tensor(0.0), TypeError)]
)
def test_predict_refuses_a_threshold_that_is_not_a_number(threshold, error):
    predictor = SamPtxPredictor(make_trained_looking_model("decoder_only", 1, None))
    predictor.set_image(make_image())
    with pytest.raises(error, match="threshold.* expected a real number"):
        predictor.predict("circle", points=[(20, 20)], threshold=threshold)
    assert predictor.cache_info().classes == 0  # refused before the class was encoded


@pytest.mark.parametrize("presence_logit", [10.0, -10.0], ids=["present", "absent"])
@pytest.mark.parametrize("sam_version", [1, 2], ids=["sam", "sam2"])
def test_a_class_name_alone_answers_as_segment_with_the_presence(sam_version, presence_logit):
    model = model_with_presence(sam_version, presence_logit)
    image = make_image()
    predictor = SamPtxPredictor(model)
    predictor.set_image(image)
    ours = predictor.predict(["circle", "square"])
    theirs = segment(model, image, ["circle", "square"])
    for one, other in zip(ours, theirs, strict=True):
        assert_same(one, other)
        assert one.presence == pytest.approx(other.presence)
        assert (one.presence > 0.5) == (presence_logit > 0) and one.mask.any() == (presence_logit > 0)


def test_text_only_predictions_come_from_the_caches_and_without_a_presence_head_have_no_presence():
    model = make_trained_looking_model()
    calls, _ = count_block_calls(model)
    predictor = SamPtxPredictor(model)
    predictor.set_image(make_image())
    first = predictor.predict("circle")
    calls.clear()
    again = predictor.predict(["striped", "circle"])[1]
    assert first.presence is None and first.mask.any()
    assert calls == list(range(len(calls))) and len(calls) > 0  # "striped" encoded, "circle" from the cache
    calls.clear()
    predictor.predict(["circle", "striped"])
    assert calls == []
    np.testing.assert_array_equal(first.masks, again.masks)


@pytest.mark.parametrize("presence_threshold", [1.01, -1, float("nan"), "high"])
def test_predict_refuses_a_presence_threshold_that_is_not_a_probability(presence_threshold):
    predictor = SamPtxPredictor(make_model())
    predictor.set_image(make_image())
    with pytest.raises((ValueError, TypeError), match="presence_threshold=.*expected a"):
        predictor.predict("circle", presence_threshold=presence_threshold)
