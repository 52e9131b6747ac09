import math

import pytest
import torch

from samptx_hf.modeling.losses import (
    LOSS_WEIGHTS,
    binary_mask_iou,
    dice_loss,
    sam_segmentation_loss,
    sigmoid_focal_loss,
)


def test_focal_and_dice_match_hand_computed_values():
    logits = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    # p = 0.5 everywhere: ce = ln 2, (1 - p_t)^2 = 0.25; alpha 0.25 on the positive, 0.75 on the negatives.
    expected_focal = math.log(2) * 0.25 * (0.25 + 3 * 0.75) / 4
    assert sigmoid_focal_loss(logits, targets).item() == pytest.approx(expected_focal)
    # dice: 1 - (2 * 0.5 + 1) / (2 + 1 + 1)
    assert dice_loss(logits, targets).item() == pytest.approx(1 - 2 / 4)


def test_iou_of_thresholded_masks():
    logits = torch.tensor([[[5.0, 5.0], [-5.0, -5.0]], [[-1.0, -1.0], [-1.0, -1.0]]])
    targets = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    torch.testing.assert_close(binary_mask_iou(logits, targets), torch.tensor([1 / 3, 1.0]))


@pytest.mark.parametrize("loss_type", sorted(LOSS_WEIGHTS))
def test_a_confident_correct_prediction_scores_lower_than_a_wrong_one(loss_type):
    labels = torch.zeros(1, 8, 8)
    labels[0, 2:6, 2:6] = 1
    correct = (labels * 20 - 10)[:, None, None]
    wrong = -correct
    right_iou, wrong_iou = torch.ones(1, 1, 1), torch.zeros(1, 1, 1)
    good = sam_segmentation_loss(correct, right_iou, labels, **LOSS_WEIGHTS[loss_type])
    bad = sam_segmentation_loss(wrong, wrong_iou, labels, **LOSS_WEIGHTS[loss_type])
    assert good < 0.05 < bad


def test_multimask_trains_the_best_mask_only():
    labels = torch.zeros(1, 8, 8)
    labels[0, :4] = 1
    good, bad = labels * 20 - 10, -(labels * 20 - 10)
    pred_masks = torch.stack([bad, good, bad], dim=1)[:, None].requires_grad_()  # (1, 1, 3, 8, 8)
    loss = sam_segmentation_loss(pred_masks, torch.tensor([[[0.0, 1.0, 0.0]]]), labels)
    loss.backward()
    gradient_per_mask = pred_masks.grad.abs().flatten(3).sum(-1)[0, 0]
    assert gradient_per_mask[0] == 0 and gradient_per_mask[2] == 0 and gradient_per_mask[1] > 0


def test_presence_loss_weighs_present_and_absent_rows_alike():
    import torch.nn.functional as F

    from samptx_hf.modeling.losses import presence_loss

    logits = torch.tensor([0.3, -1.2, 2.0, 0.5])[:, None, None]  # (batch, point_batch, 1)
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0])  # three present, one absent
    bce = F.binary_cross_entropy_with_logits(logits.flatten(), labels, reduction="none")
    expected = 0.5 * bce[:3].mean() + 0.5 * bce[3]  # each kind half of the loss, whatever their counts
    torch.testing.assert_close(presence_loss(logits, labels), expected)
    one_kind = torch.ones(4)
    torch.testing.assert_close(
        presence_loss(logits, one_kind), F.binary_cross_entropy_with_logits(logits.flatten(), one_kind)
    )
    with pytest.raises(ValueError, match=r"presence_labels must have shape \(batch=4,\)"):
        presence_loss(logits, torch.ones(3))
