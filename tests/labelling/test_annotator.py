"""`BatchAnnotator`: every class of a vocabulary on a batch of images, as `segment()` answers them one by one."""

import numpy as np
import pytest
import torch
from factories import make_trained_looking_model, model_with_presence
from hub_factories import make_image

from samptx_hf import segment
from samptx_hf.labelling import BatchAnnotator, check_dtype, image_annotations

CLASSES = ["circle", "square", "dog"]


def assert_like_segment(predictions, results):
    for prediction, result in zip(predictions, results, strict=True):
        assert prediction.class_name == result.class_name
        assert prediction.iou_score == pytest.approx(result.score, abs=1e-5)
        assert (prediction.presence is None) == (result.presence is None)
        if result.presence is not None:
            assert prediction.presence == pytest.approx(result.presence, abs=1e-5)
        clear = np.abs(result.logits) > 1e-3  # pixels a float32 rounding cannot flip
        assert np.array_equal(prediction.mask[clear], result.mask[clear])


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize("adapter_layers", [None, "last:1"])
def test_a_batch_of_images_gets_the_results_of_segment(sam_version, adapter_layers):
    model = make_trained_looking_model(sam_version=sam_version, adapter_layers=adapter_layers)
    images = [make_image(seed=0), make_image(width=40, height=72, seed=1), make_image(seed=2)]
    annotator = BatchAnnotator(model, CLASSES, max_rows=2)  # rows in chunks: 2, then 1
    batch = annotator.annotate(images)
    assert len(batch) == len(images)
    for image, predictions in zip(images, batch, strict=True):
        assert [prediction.mask.shape for prediction in predictions] == [(image.height, image.width)] * 3
        assert_like_segment(predictions, segment(model, image, CLASSES, return_logits=True))


@pytest.mark.parametrize("sam_version", [1, 2])
def test_the_score_is_presence_times_iou_and_an_absent_class_gives_no_annotation(sam_version):
    present = BatchAnnotator(model_with_presence(sam_version, 10.0), ["dog"], threshold=-100.0)
    prediction = present.annotate([make_image()])[0][0]
    assert prediction.presence == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item())
    assert prediction.score == pytest.approx(prediction.presence * prediction.iou_score)
    assert prediction.mask.all()
    [annotation] = image_annotations([prediction], ["dog"], "semantic")
    assert annotation["score"] == pytest.approx(prediction.score, abs=1e-6) and annotation["area"] == 48 * 80

    absent = BatchAnnotator(model_with_presence(sam_version, -10.0), ["dog"], threshold=-100.0)
    prediction = absent.annotate([make_image()])[0][0]
    assert prediction.presence < 0.5 and not prediction.mask.any()
    assert image_annotations([prediction], ["dog"], "instances") == []


def test_bfloat16_labels_close_to_float32():
    model = make_trained_looking_model()
    image = make_image()
    reference = BatchAnnotator(model, CLASSES).annotate([image])[0]
    predictions = BatchAnnotator(model.to(torch.bfloat16), CLASSES).annotate([image])[0]
    for prediction, expected in zip(predictions, reference, strict=True):
        assert prediction.iou_score == pytest.approx(expected.iou_score, abs=0.05)
        assert (prediction.mask == expected.mask).mean() > 0.9


@pytest.mark.parametrize(
    "classes, message",
    [("dog", "is one string"), ([], "the class list is empty"), (["dog", " dog"], "names ['dog'] more than once")],
)
def test_a_bad_vocabulary_is_refused(classes, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BatchAnnotator(make_trained_looking_model(), classes)


def test_dtypes_are_checked_against_the_device():
    assert check_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="dtype 'float16' is not supported on the CPU"):
        check_dtype("float16", "cpu")
    with pytest.raises(ValueError, match="dtype 'int8' is not one of float32, bfloat16, float16"):
        check_dtype("int8", "cpu")
