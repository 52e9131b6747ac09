"""MeanIoU on masks whose IoU is worked out by hand in the comments."""

from pathlib import Path

import numpy as np
import pytest
import torch

from samptx_hf.evaluation.metrics import MeanIoU, mask_iou

# 2x2: intersection 1 pixel (top-left), union 3 pixels -> IoU 1/3.
PRED_2X2 = np.array([[1, 1], [0, 0]])
REF_2X2 = np.array([[1, 0], [1, 0]])

# 4x4: prediction is the top-left 2x2 block (4 px), reference the top two rows (8 px): intersection 4,
# union 8 -> IoU 1/2.
PRED_4X4 = np.zeros((4, 4), dtype=bool)
PRED_4X4[:2, :2] = True
REF_4X4 = np.zeros((4, 4), dtype=bool)
REF_4X4[:2, :] = True

# 1x3: intersection 1 (middle), union 3 -> IoU 1/3.
PRED_1X3 = np.array([[1, 1, 0]], dtype=np.uint8)
REF_1X3 = np.array([[0, 1, 1]], dtype=np.uint8)


@pytest.fixture
def metric(tmp_path: Path) -> MeanIoU:
    return MeanIoU(keep_in_memory=True, cache_dir=str(tmp_path))  # evaluate makes its cache dir even in memory


def test_single_sample_iou_by_hand(metric: MeanIoU) -> None:
    result = metric.compute(predictions=[PRED_2X2], references=[REF_2X2], class_names=["circle"])
    assert result["per_sample_iou"] == pytest.approx([1 / 3])
    assert result["per_class_iou"] == pytest.approx({"circle": 1 / 3})
    assert result["mean_iou"] == pytest.approx(1 / 3)
    assert result["mean_sample_iou"] == pytest.approx(1 / 3)
    assert result["num_samples"] == 1


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ([[1, 1], [1, 0]], [[1, 1], [0, 0]], 2 / 3),  # intersection 2, union 3
        ([[1, 0], [0, 1]], [[1, 0], [0, 1]], 1.0),  # identical
        ([[1, 0], [0, 0]], [[0, 0], [0, 1]], 0.0),  # disjoint
        ([[0, 0], [0, 0]], [[0, 1], [0, 0]], 0.0),  # empty prediction, non-empty reference
        ([[0, 0], [0, 0]], [[0, 0], [0, 0]], 1.0),  # both empty
    ],
)
def test_known_overlaps(metric: MeanIoU, prediction: list, reference: list, expected: float) -> None:
    result = metric.compute(predictions=[prediction], references=[reference], class_names=["x"])
    assert result["per_sample_iou"][0] == pytest.approx(expected)
    assert mask_iou(np.array(prediction, bool), np.array(reference, bool)) == result["per_sample_iou"][0]


def test_per_class_sums_intersection_and_union_over_samples_of_different_sizes(metric: MeanIoU) -> None:
    metric.add_batch(
        predictions=[PRED_2X2, PRED_4X4, PRED_1X3],
        references=[REF_2X2, REF_4X4, REF_1X3],
        class_names=["circle", "circle", "square"],
    )
    result = metric.compute()
    circle = (1 + 4) / (3 + 8)  # summed, not the mean of 1/3 and 1/2
    square = 1 / 3
    assert result["per_class_iou"] == pytest.approx({"circle": circle, "square": square})
    assert list(result["per_class_iou"]) == ["circle", "square"]
    assert result["mean_iou"] == pytest.approx((circle + square) / 2)
    assert result["per_sample_iou"] == pytest.approx([1 / 3, 1 / 2, 1 / 3])
    assert result["mean_sample_iou"] == pytest.approx(7 / 18)
    assert result["num_samples"] == 3


def test_add_add_batch_and_compute_inputs_accumulate_alike(tmp_path: Path) -> None:
    one_by_one = MeanIoU(keep_in_memory=True, cache_dir=str(tmp_path))
    one_by_one.add(prediction=PRED_2X2, reference=REF_2X2, class_name="circle")
    one_by_one.add(prediction=PRED_4X4, reference=REF_4X4, class_name="circle")
    in_two_steps = MeanIoU(keep_in_memory=True, cache_dir=str(tmp_path))
    in_two_steps.add_batch(predictions=[PRED_2X2], references=[REF_2X2], class_names=["circle"])
    result = in_two_steps.compute(predictions=[PRED_4X4], references=[REF_4X4], class_names=["circle"])
    assert one_by_one.compute() == result
    assert result["per_class_iou"] == pytest.approx({"circle": 5 / 11})


def test_batched_arrays_and_tensors(metric: MeanIoU) -> None:
    predictions = torch.tensor(np.stack([PRED_4X4, ~PRED_4X4]))  # (batch, height, width)
    references = np.stack([REF_4X4, REF_4X4]).astype(np.float32)
    result = metric.compute(predictions=predictions, references=references, class_names=["a", "b"])
    # ~PRED_4X4 covers the other 12 pixels: intersection 4 (top-right block), union 16.
    assert result["per_sample_iou"] == pytest.approx([1 / 2, 4 / 16])


def test_both_empty_counts_as_one_and_does_not_dilute_the_class(metric: MeanIoU) -> None:
    empty = np.zeros((3, 3), dtype=bool)
    result = metric.compute(
        predictions=[empty, PRED_2X2, empty],
        references=[empty, REF_2X2, empty],
        class_names=["circle", "circle", "square"],
    )
    assert result["per_sample_iou"] == pytest.approx([1.0, 1 / 3, 1.0])
    assert result["per_class_iou"] == pytest.approx({"circle": 1 / 3, "square": 1.0})
    assert result["mean_sample_iou"] == pytest.approx((1 + 1 / 3 + 1) / 3)


def test_shape_mismatch_names_both_shapes(metric: MeanIoU) -> None:
    with pytest.raises(ValueError, match=r"predictions\[1\] has shape \(2, 2\) but references\[1\] has shape \(3, 3\)"):
        metric.add_batch(
            predictions=[PRED_2X2, PRED_2X2], references=[REF_2X2, np.zeros((3, 3))], class_names=["a", "a"]
        )


def test_rejects_non_binary_and_non_2d_masks(metric: MeanIoU) -> None:
    with pytest.raises(ValueError, match=r"predictions\[0\] holds the value 0.7.*probabilities > 0.5"):
        metric.add(prediction=[[0.7, 0.0], [1.0, 0.0]], reference=REF_2X2, class_name="a")
    with pytest.raises(ValueError, match=r"references\[0\] has shape \(1, 2, 2\), expected a non-empty 2-D"):
        metric.add(prediction=PRED_2X2, reference=REF_2X2[None], class_name="a")


def test_rejects_inconsistent_inputs(metric: MeanIoU) -> None:
    with pytest.raises(ValueError, match="got 2 predictions, 2 references, 1 class_names"):
        metric.add_batch(predictions=[PRED_2X2] * 2, references=[REF_2X2] * 2, class_names=["a"])
    with pytest.raises(ValueError, match=r"missing inputs \['class_names'\]"):
        metric.compute(predictions=[PRED_2X2], references=[REF_2X2])
    with pytest.raises(ValueError, match="class_names is the str 'ab'"):
        metric.add_batch(predictions=[PRED_2X2] * 2, references=[REF_2X2] * 2, class_names="ab")
    with pytest.raises(ValueError, match=r"class_names\[0\] is 3, expected a str"):
        metric.add(prediction=PRED_2X2, reference=REF_2X2, class_name=3)


def test_compute_without_samples_raises(metric: MeanIoU) -> None:
    with pytest.raises(ValueError, match="no samples"):
        metric.compute()
    with pytest.raises(ValueError, match="no samples"):  # empty lists, not NaNs
        metric.compute(predictions=[], references=[], class_names=[])


def test_compute_consumes_the_samples(metric: MeanIoU) -> None:
    metric.add(prediction=PRED_2X2, reference=REF_2X2, class_name="a")
    metric.compute()
    result = metric.compute(predictions=[PRED_4X4], references=[REF_4X4], class_names=["a"])
    assert result["num_samples"] == 1


def test_disk_cache_is_removed_after_compute(tmp_path: Path) -> None:
    metric = MeanIoU(cache_dir=str(tmp_path))
    metric.add(prediction=PRED_2X2, reference=REF_2X2, class_name="a")
    assert metric.compute()["mean_iou"] == pytest.approx(1 / 3)
    assert not list(tmp_path.rglob("*.arrow"))
