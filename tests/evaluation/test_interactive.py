"""The interactive protocol: where the next click goes, and the mIoU@k / NoC numbers of a simulated session."""

import numpy as np
import pytest

from samptx_hf.data import SyntheticShapesConfig, make_synthetic_dataset
from samptx_hf.evaluation.evaluate_model import evaluate_model
from samptx_hf.evaluation.interactive import evaluate_clicks, next_click
from samptx_hf.evaluation.metrics import mask_iou


def square(top, left, size, shape=(20, 30)):
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_a_missed_region_gets_a_positive_click_at_its_centre():
    target = square(2, 2, 9) | square(12, 20, 5)
    prediction = square(12, 20, 5)  # the large square is missed
    assert next_click(prediction, target) == ((6.0, 6.0), 1)


def test_a_wrong_region_larger_than_any_missed_one_gets_a_negative_click():
    target = square(2, 2, 5)
    prediction = square(2, 2, 4) | square(10, 15, 7)  # a 7x7 false positive, a thin missed rim
    (x, y), label = next_click(prediction, target)
    assert label == 0 and square(10, 15, 7)[int(y), int(x)]


def test_a_perfect_mask_needs_no_click_and_bad_masks_are_named():
    target = square(2, 2, 5)
    assert next_click(target.copy(), target) is None
    with pytest.raises(ValueError, match="prediction has shape"):
        next_click(np.zeros((3, 3), bool), target)
    with pytest.raises(ValueError, match="the target mask is empty"):
        next_click(target, np.zeros_like(target))
    assert mask_iou(target, target) == 1.0 and mask_iou(np.zeros_like(target), target) == 0.0


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic_dataset(5, seed=3, config=SyntheticShapesConfig(image_size=48, num_objects=2))


def test_one_click_scores_what_the_standard_evaluation_scores(peft_model, dataset):
    results = evaluate_model(peft_model, dataset, batch_size=2, num_clicks=3)
    metrics = results["metrics"]
    # The first click is the standard evaluation's interior point, without a mask prompt: the same masks.
    assert metrics["miou@1"] == pytest.approx(metrics["mean_sample_iou"], abs=1e-6)
    assert {"miou@2", "miou@3", "noc@85", "noc@90", "nof@85", "nof@90"} <= set(metrics)
    assert 1 <= metrics["noc@85"] <= metrics["noc@90"] <= 3
    assert 0 <= metrics["nof@85"] <= metrics["nof@90"] <= len(dataset)


def test_clicks_are_checked(peft_model, dataset):
    with pytest.raises(ValueError, match="num_clicks=0, expected a whole number of clicks of at least 1"):
        evaluate_clicks(peft_model, dataset, 0)
    with pytest.raises(ValueError, match="num_clicks=2.5"):
        evaluate_model(peft_model, dataset, num_clicks=2.5)
