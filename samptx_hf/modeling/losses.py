"""SAM's training loss: focal : dice = 20 : 1 on the mask logits, plus MSE between predicted and actual IoU.

`bce_dice` (binary cross-entropy + dice, plus the same IoU term) is the alternative for a randomly initialised
SAM: measured on the tiny synthetic task, the focal-dominated loss keeps a random decoder in the all-background
solution (0.0 held-out mIoU after 400 steps) where BCE + dice learns (40.9).
"""

import torch
import torch.nn.functional as F


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Focal loss (Lin et al.) per mask, averaged over pixels. `logits`, `targets`: (..., height, width)."""
    probs = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.flatten(-2).mean(-1)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft dice loss per mask. `logits`, `targets`: (..., height, width)."""
    probs = logits.sigmoid().flatten(-2)
    targets = targets.flatten(-2)
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return 1 - (numerator + eps) / (denominator + eps)


def binary_mask_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of the thresholded masks (`logits > 0`) with `targets`, per mask; 1.0 where both are empty."""
    predicted = (logits > 0).flatten(-2)
    targets = targets.flatten(-2) > 0.5
    intersection = (predicted & targets).sum(-1).float()
    union = (predicted | targets).sum(-1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def sam_segmentation_loss(
    pred_masks: torch.Tensor,
    iou_scores: torch.Tensor,
    labels: torch.Tensor,
    focal_weight: float = 20.0,
    dice_weight: float = 1.0,
    iou_weight: float = 1.0,
    bce_weight: float = 0.0,
    present: torch.Tensor | None = None,
) -> torch.Tensor:
    """SAM's loss for a batch.

    Args:
        pred_masks (`torch.Tensor` of shape `(batch, point_batch, num_masks, height, width)`):
            Mask logits; resized (bilinear) to the size of `labels` when they differ.
        iou_scores (`torch.Tensor` of shape `(batch, point_batch, num_masks)`): Predicted IoU of each mask.
        labels (`torch.Tensor` of shape `(batch, H, W)` or `(batch, point_batch, H, W)`): Binary target masks.

    `focal_weight`, `dice_weight`, `bce_weight` weigh the mask terms (SAM: 20, 1, 0); `iou_weight` the IoU MSE.
    `present` (`torch.BoolTensor` of shape `(batch,)`, *optional*): the rows whose class is in the image; only they
    are scored (an absent class has no mask to learn and no IoU to predict: the presence head answers it, see
    [`presence_loss`]); a batch without a present row gives 0.
    With several masks per prompt (multimask output) the mask with the lowest mask loss is trained, as in SAM;
    the IoU head is trained on every mask. Returns a scalar.
    """
    batch_size, point_batch_size, num_masks, height, width = pred_masks.shape
    if labels.dim() == 3:
        labels = labels[:, None]
    if labels.dim() != 4 or labels.shape[0] != batch_size or labels.shape[1] not in (1, point_batch_size):
        raise ValueError(
            f"labels must have shape (batch={batch_size}, H, W) or (batch={batch_size}, "
            f"point_batch={point_batch_size}, H, W), got {tuple(labels.shape)}"
        )
    targets = labels.to(pred_masks.dtype).expand(batch_size, point_batch_size, *labels.shape[-2:])
    logits = pred_masks
    if logits.shape[-2:] != targets.shape[-2:]:
        logits = F.interpolate(
            logits.flatten(0, 1), size=targets.shape[-2:], mode="bilinear", align_corners=False
        ).unflatten(0, (batch_size, point_batch_size))
    targets = targets[:, :, None].expand_as(logits)  # (batch, point_batch, num_masks, H, W)

    mask_loss = dice_weight * dice_loss(logits, targets)
    if focal_weight:
        mask_loss = mask_loss + focal_weight * sigmoid_focal_loss(logits, targets)
    if bce_weight:
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(-2).mean(-1)
        mask_loss = mask_loss + bce_weight * bce
    best_mask_loss = mask_loss.min(dim=-1).values  # (batch, point_batch)
    actual_iou = binary_mask_iou(logits.detach(), targets)
    iou_loss = F.mse_loss(iou_scores, actual_iou.to(iou_scores.dtype), reduction="none").mean(-1)
    row_loss = best_mask_loss + iou_weight * iou_loss  # (batch, point_batch)
    if present is not None:
        if present.shape != (batch_size,):
            raise ValueError(f"present must have shape (batch={batch_size},), got {tuple(present.shape)}")
        row_loss = row_loss[present.to(device=row_loss.device, dtype=torch.bool)]
        if row_loss.numel() == 0:
            return pred_masks.sum() * 0.0  # keeps the graph (every trained parameter gets a zero gradient)
    return row_loss.mean()


def presence_loss(presence_logits: torch.Tensor, presence_labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced binary cross-entropy of the presence answer: the present rows and the absent rows of a batch
    weigh half of the loss each (all of it when the batch holds one kind only).

    Balanced, the share of absent samples (`--absent_class_fraction`, 0.3 say) does not tilt the answer towards
    "present": on the built-in task, plain BCE answered 87 % of held-out absent pairs with an empty mask after 3000
    steps, the balanced loss 96 % (99 % after 4000; docs/ablation.md).

    Args:
        presence_logits (`torch.Tensor` of shape `(batch, point_batch, 1)`): Presence logits of the model.
        presence_labels (`torch.Tensor` of shape `(batch,)`): 1 where the class is in the image, 0 where it is not.
    """
    batch_size = presence_logits.shape[0]
    if presence_labels.shape != (batch_size,):
        raise ValueError(
            f"presence_labels must have shape (batch={batch_size},): 1 present, 0 absent, got "
            f"{tuple(presence_labels.shape)}"
        )
    targets = presence_labels.to(presence_logits.dtype)[:, None, None].expand_as(presence_logits)
    present = targets > 0.5
    num_present, num_absent = present.sum(), (~present).sum()
    weights = torch.where(present, 0.5 / num_present.clamp(min=1), 0.5 / num_absent.clamp(min=1))
    weights = weights / weights.sum()  # (batch, point_batch, 1), summing to 1
    return (F.binary_cross_entropy_with_logits(presence_logits, targets, reduction="none") * weights).sum()


LOSS_WEIGHTS = {
    "sam": {"focal_weight": 20.0, "dice_weight": 1.0, "bce_weight": 0.0, "iou_weight": 1.0},
    "bce_dice": {"focal_weight": 0.0, "dice_weight": 1.0, "bce_weight": 1.0, "iou_weight": 1.0},
}
