"""SemanticIoU: ADE20K's per-class sums over images, with absent classes that are painted as false positives."""

import numpy as np
import pytest

from samptx_hf.evaluation.metrics import SemanticIoU

TOP = np.array([[1, 1], [0, 0]], dtype=bool)
LEFT = np.array([[1, 0], [1, 0]], dtype=bool)
EMPTY = np.zeros((2, 2), dtype=bool)


def test_per_class_sums_over_images_before_dividing():
    metric = SemanticIoU()
    metric.add(TOP, LEFT, "cat")  # I 1, U 3
    metric.add(TOP, TOP, "cat")  # I 2, U 2
    metric.add(LEFT, LEFT, "dog")  # I 2, U 2
    result = metric.compute()
    assert result["per_class_iou"] == pytest.approx({"cat": 3 / 5, "dog": 1.0})
    assert result["semantic_mean_iou"] == pytest.approx((3 / 5 + 1.0) / 2)
    assert result["num_pairs"] == 3


def test_an_absent_class_that_is_painted_lowers_its_iou():
    answered_absent, painted = SemanticIoU(), SemanticIoU()
    for metric, prediction in ((answered_absent, EMPTY), (painted, LEFT)):
        metric.add(TOP, TOP, "cat")  # the image that holds a cat: I 2, U 2
        metric.add(prediction, EMPTY, "cat")  # the image without one
    assert answered_absent.compute()["per_class_iou"] == {"cat": 1.0}
    assert painted.compute()["per_class_iou"] == pytest.approx({"cat": 2 / 4})  # the 2 painted pixels join the union


def test_classes_never_present_nor_painted_are_left_out_of_the_mean():
    metric = SemanticIoU()
    metric.add(TOP, LEFT, "cat")  # I 1, U 3
    metric.add(EMPTY, EMPTY, "dog")  # absent and answered absent everywhere: union 0
    result = metric.compute()
    assert result["per_class_iou"] == pytest.approx({"cat": 1 / 3})
    assert result["semantic_mean_iou"] == pytest.approx(1 / 3)


def test_an_absent_class_painted_without_any_image_holding_it_scores_zero():
    metric = SemanticIoU()
    metric.add(LEFT, EMPTY, "dog")
    assert metric.compute()["per_class_iou"] == {"dog": 0.0}


def test_nothing_to_find_and_nothing_painted_is_one_and_no_pair_is_an_error():
    metric = SemanticIoU()
    with pytest.raises(ValueError, match="no .image, class. pair"):
        metric.compute()
    metric.add(EMPTY, EMPTY, "dog")
    assert metric.compute()["semantic_mean_iou"] == 1.0


def test_rejects_masks_that_do_not_match():
    metric = SemanticIoU()
    with pytest.raises(ValueError, match=r"has shape \(2, 2\) but references\[0\] has shape \(1, 2\)"):
        metric.add(TOP, np.array([[1, 0]]), "cat")
    with pytest.raises(ValueError, match="prediction holds the value 0.5"):
        metric.add(TOP * 0.5, TOP, "cat")
    with pytest.raises(ValueError, match="class_name is 3, expected a str"):
        metric.add(TOP, TOP, 3)
