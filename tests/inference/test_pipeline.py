import numpy as np
import pytest
import torch
from factories import make_model
from hub_factories import hub_offline, make_image
from PIL import Image
from transformers import pipeline

from samptx_hf import SamPtxForTextSegmentation, TextGuidedSegmentationPipeline, segment

CLASSES = ["circle", "square"]


@pytest.fixture(scope="module", autouse=True)
def offline():
    with hub_offline():  # every route works without the network
        yield


@pytest.fixture(scope="module")
def repo(adapter_repo):
    return adapter_repo


@pytest.fixture(scope="module")
def model(repo):
    return SamPtxForTextSegmentation.from_pretrained(repo)


@pytest.fixture(scope="module")
def segmenter(repo):
    return pipeline("text-guided-segmentation", model=str(repo), device="cpu")


def as_array(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask) == 255


def test_pipeline_from_a_repository_gives_one_dict_per_class_with_the_masks_of_segment(segmenter, model):
    assert isinstance(segmenter, TextGuidedSegmentationPipeline)
    image = make_image(width=80, height=48)
    results = segmenter(image, text=CLASSES, points=[(20, 20)], box=(5, 5, 60, 40))
    expected = model.segment(image, CLASSES, points=[(20, 20)], box=(5, 5, 60, 40))
    assert [result["label"] for result in results] == CLASSES
    for result, reference in zip(results, expected, strict=True):
        # The pipeline may reuse image embeddings that an earlier call computed in a batch of another size: the
        # same numbers up to float32 rounding.
        assert type(result["score"]) is float and result["score"] == pytest.approx(reference.score, rel=1e-5)
        assert result["mask"].mode == "L" and result["mask"].size == (80, 48)
        assert set(np.unique(np.asarray(result["mask"]))) <= {0, 255}
        assert np.array_equal(as_array(result["mask"]), reference.mask)


def test_pipeline_options_are_those_of_segment(segmenter, model, tmp_path):
    image = make_image(seed=3)
    image.save(tmp_path / "image.png")
    kwargs = {"points": [(20, 20), (70, 40)], "point_labels": [1, 0], "threshold": 0.5, "multimask_output": True}
    expected = model.segment(image, "circle", **kwargs)
    for source in (str(tmp_path / "image.png"), np.asarray(image)):  # a path and an array
        (result,) = segmenter(source, text="circle", **kwargs)
        assert result["score"] == expected.score and np.array_equal(as_array(result["mask"]), expected.mask)


def test_several_images_with_shared_or_own_prompts_batched_or_not(segmenter, model):
    images = [make_image(seed=seed) for seed in range(3)]
    inputs = [images[0], images[1], {"image": images[2], "text": "square", "points": [(10, 30)]}]
    one_by_one = segmenter(inputs, text=CLASSES, points=[(20, 20)])
    batched = segmenter(inputs, text=CLASSES, points=[(20, 20)], batch_size=2)
    assert [len(results) for results in one_by_one] == [2, 2, 1]
    expected = model.segment(images[2], "square", points=[(10, 30)])
    assert one_by_one[2][0]["label"] == "square" and np.array_equal(as_array(one_by_one[2][0]["mask"]), expected.mask)
    for image_results, batched_results in zip(one_by_one, batched, strict=True):
        for result, batched_result in zip(image_results, batched_results, strict=True):
            assert batched_result["label"] == result["label"]
            assert batched_result["score"] == pytest.approx(result["score"], rel=1e-5)
            # Batching changes the floating-point order of the computation: allow a few pixels at the threshold.
            assert np.mean(as_array(batched_result["mask"]) != as_array(result["mask"])) < 0.01


def test_class_names_of_one_image_go_through_one_model_call(segmenter):
    calls, images_encoded = [], []
    base = segmenter.model.get_base_model()
    handles = [
        base.register_forward_pre_hook(
            lambda module, args, kwargs: calls.append(kwargs["image_embeddings"].image_embeddings.shape[0]),
            with_kwargs=True,
        ),
        base.sam.vision_encoder.patch_embed.register_forward_hook(
            lambda module, args, output: images_encoded.append(output.shape[0])
        ),
    ]
    try:
        segmenter(make_image(seed=7), text=["circle", "square", "star"])
        segmenter([make_image(seed=8), make_image(seed=9)], text=CLASSES, batch_size=2)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [3, 4]  # one decoder call per model call: every (image, class) row
    assert images_encoded == [1, 2]  # each image's text-free start once, whatever its number of classes


def test_several_prompt_sets_of_one_image_encode_it_once(segmenter, model):
    image = make_image(seed=11)
    encoder_calls = []
    handle = (
        segmenter.model.get_base_model()
        .sam.vision_encoder.layers[0]
        .register_forward_hook(lambda *args: encoder_calls.append(1))
    )
    try:
        answers = segmenter([{"image": image, "points": [(20, 20)]}, {"image": image, "points": [(60, 30)]}],
                            text="circle")  # fmt: skip
    finally:
        handle.remove()
    assert len(encoder_calls) == 1  # the second set of prompts reuses the image embeddings of the first
    for (answer,), point in zip(answers, [(20, 20), (60, 30)], strict=True):
        expected = segment(model, image, "circle", points=[point], processor=segmenter.processor)
        assert np.array_equal(as_array(answer["mask"]), expected.mask)


def test_pipeline_from_a_loaded_model_object(model):
    segmenter = pipeline("text-guided-segmentation", model=model, device="cpu")
    (result,) = segmenter(make_image(), text="circle")
    assert result["score"] == model.segment(make_image(), "circle").score


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s(make_image()), "no class name given"),
        (lambda s: s(make_image(), text=[""]), "every class name must be a non-empty string"),
        (lambda s: s({"picture": make_image(), "text": "circle"}), "expected 'image' and any of text, points"),
        (lambda s: s(make_image(), text="circle", points=[(500, 5)]), r"point \(500, 5\) of image 0 lies outside"),
        (lambda s: s([], text="red"), r"images=\[\] is an empty list, expected an image"),
        (lambda s: s(make_image(), text="red", points=[("a", "b")]), r"points must be a list of \(x, y\) points"),
        (lambda s: s(make_image(), text="red", box="0,0,10,10"), r"box must be \(x1, y1, x2, y2\): four numbers"),
        (lambda s: s(make_image(), text="red", mask_input=np.full((32, 32), np.nan)), "1024 NaN or infinite values"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(segmenter, call, message):
    with pytest.raises(ValueError, match=message):
        call(segmenter)


def test_a_mask_prompt_refines_as_the_predictor_does(segmenter, model):
    from samptx_hf import SamPtxPredictor

    image = make_image()
    predictor = SamPtxPredictor(model, segmenter.processor)
    predictor.set_image(image)
    first = predictor.predict("circle", points=[(20, 20)])
    points, labels = [(20, 20), (60, 30)], [1, 0]
    refined = predictor.predict("circle", points=points, point_labels=labels, mask_input=first.low_res_logits)
    (answer,) = segmenter(image, text="circle", points=points, point_labels=labels, mask_input=first.low_res_logits)
    assert np.array_equal(as_array(answer["mask"]), refined.mask)
    assert answer["score"] == pytest.approx(refined.score, rel=1e-5)
    with pytest.raises(ValueError, match=r"input_masks of image 0 must be low-resolution logits .* got \(2, 32, 32\)"):
        segmenter(image, text="circle", points=points, mask_input=np.zeros((2, 32, 32)))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s(make_image(), text="circle", threshold=float("nan")), ValueError, "threshold is NaN"),
        (lambda s: s(make_image(), text="circle", threshold="0.5"), TypeError, "threshold='0.5' is a str"),
        (lambda s: s(make_image(), text="circle", multimask_output="no"), TypeError, "multimask_output='no' is a str"),
        (lambda s: s([make_image()] * 2, text="circle", batch_size=0), ValueError, "batch_size=0, expected a whole"),
        (lambda s: s([make_image()] * 2, text="circle", batch_size=1.5), ValueError, "batch_size=1.5, expected"),
    ],
)
def test_bad_options_are_refused_before_any_image_is_encoded(segmenter, call, error, message):
    encoded = []
    handle = segmenter.model.get_base_model().sam.vision_encoder.register_forward_hook(lambda *args: encoded.append(1))
    try:
        with pytest.raises(error, match=message):
            call(segmenter)
    finally:
        handle.remove()
    assert encoded == []


def test_a_pipeline_built_with_batch_size_0_is_refused(model):
    with pytest.raises(ValueError, match="batch_size=0, expected a whole number of images per model call, at least 1"):
        pipeline("text-guided-segmentation", model=model, device="cpu", batch_size=0)
    with pytest.raises(ValueError, match="threshold is NaN"):
        pipeline("text-guided-segmentation", model=model, device="cpu", threshold=float("nan"))


def presence_model(presence_logits: list[float] | None):
    """A tiny model whose presence head answers `presence_logits`, one per class of an image, in order (None: a model
    without a presence head)."""
    model = make_model(presence_head=presence_logits is not None).eval()
    if presence_logits is not None:
        answer = torch.tensor(presence_logits).view(-1, 1, 1)  # (classes, 1, 1)
        model.presence_head.register_forward_hook(
            lambda module, args, output: answer.repeat(len(output) // len(answer), 1, 1).to(output)
        )
    return model


TEXT_ONLY_CLASSES = ["circle", "square", "dog"]


def test_text_only_gives_the_present_classes_scored_by_presence_with_segment_s_masks():
    model = presence_model([10.0, -10.0, 2.0])
    segmenter = pipeline("text-guided-segmentation", model=model, device="cpu")
    image = make_image()
    results = segmenter(image, text=TEXT_ONLY_CLASSES)
    expected = segment(model, image, TEXT_ONLY_CLASSES)
    assert [result["label"] for result in results] == ["circle", "dog"]  # "square" is absent: no entry
    for result, reference in zip(results, [expected[0], expected[2]], strict=True):
        assert result["score"] == pytest.approx(reference.presence)
        assert np.array_equal(as_array(result["mask"]), reference.mask) and reference.mask.any()
    assert [r["label"] for r in segmenter(image, text=TEXT_ONLY_CLASSES, top_k=1)] == ["circle"]
    assert [r["label"] for r in segmenter(image, text=TEXT_ONLY_CLASSES, presence_threshold=0.9)] == ["circle"]
    # with a point, every class keeps its entry: the absent one with an empty mask
    prompted = segmenter(image, text=TEXT_ONLY_CLASSES, points=[(20, 20)])
    assert [r["label"] for r in prompted] == TEXT_ONLY_CLASSES and not as_array(prompted[1]["mask"]).any()


def test_text_only_with_no_class_present_is_an_empty_list():
    segmenter = pipeline("text-guided-segmentation", model=presence_model([-10.0, -10.0]), device="cpu")
    assert segmenter(make_image(), text=["circle", "square"]) == []
    assert segmenter([make_image(), make_image(seed=1)], text=["circle", "square"], batch_size=2) == [[], []]


def test_text_only_without_a_presence_head_gives_every_class_as_before():
    model = presence_model(None)
    results = pipeline("text-guided-segmentation", model=model, device="cpu")(make_image(), text=["circle", "dog"])
    expected = segment(model, make_image(), ["circle", "dog"])
    assert [result["label"] for result in results] == ["circle", "dog"]
    assert [result["score"] for result in results] == pytest.approx([reference.score for reference in expected])


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [({"presence_threshold": 1.5}, ValueError, r"presence_threshold=1.5, expected a probability in \[0, 1\]"),
     ({"presence_threshold": "0.5"}, TypeError, "presence_threshold='0.5' is a str"),
     ({"top_k": 0}, ValueError, r"top_k=0, expected a whole number of classes, at least 1 \(None keeps all\)")],
)  # fmt: skip
def test_a_bad_presence_threshold_or_top_k_is_refused(arguments, error, message):
    segmenter = pipeline("text-guided-segmentation", model=presence_model(None), device="cpu")
    with pytest.raises(error, match=message):
        segmenter(make_image(), text="circle", **arguments)
