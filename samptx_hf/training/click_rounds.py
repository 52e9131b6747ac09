"""Training with simulated follow-up clicks, as SAM is trained: one image-encoder pass, several prompt rounds.

The first round uses the batch's prompts. Each next round adds one click per row, chosen by the interactive
evaluation's rule ([`next_click`]: inside the largest error region of the previous round's mask, positive in a
missed region, negative in a wrong one) on the low-resolution masks, and feeds the previous round's logits back as
the mask prompt (detached, as SAM does). The image embeddings of the first round serve every round, so a round costs
the prompt encoder and the mask decoder only; the loss is the mean of the rounds' losses. A row whose mask is
already exact gets a padding point (label -10) instead of a click.
"""

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel

from ..evaluation.interactive import next_click
from ..modeling.sam_backbones import ImageFeatures
from ..processing.input_checks import POINT_PAD_LABEL


def next_click_prompts(
    pred_masks: torch.Tensor, labels: torch.Tensor, valid_sizes: torch.Tensor, input_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One follow-up click per row, in the frame of the model's input points.

    Args:
        pred_masks (`torch.Tensor` of shape `(batch, height, width)`): Low-resolution mask logits.
        labels (`torch.Tensor` of shape `(batch, height, width)`): The 0/1 targets, at the same size.
        valid_sizes (`torch.LongTensor` of shape `(batch, 2)`): `(height, width)` of each resized image before
            padding (the collator's `reshaped_input_sizes`); the padding is never clicked.
        input_size (`int`): Side of the model's (square, padded) input, whose frame the points are in.

    Returns:
        `points` `(batch, 1, 1, 2)` float `(x, y)` at the centre of the clicked low-resolution pixel, and `labels`
        `(batch, 1, 1)` long: 1 positive, 0 negative, -10 padding where the mask is exact (or the target vanished
        at low resolution).
    """
    if pred_masks.shape != labels.shape or pred_masks.dim() != 3:
        raise ValueError(
            f"pred_masks {tuple(pred_masks.shape)} and labels {tuple(labels.shape)} must both be (batch, height, width)"
        )
    batch_size, mask_size = labels.shape[0], labels.shape[-1]
    scale = input_size / mask_size
    predictions = (pred_masks > 0).cpu().numpy()
    targets = (labels > 0.5).cpu().numpy()
    points = torch.zeros(batch_size, 1, 1, 2)
    point_labels = torch.full((batch_size, 1, 1), POINT_PAD_LABEL, dtype=torch.long)
    for row in range(batch_size):
        height, width = (math.ceil(int(side) / scale) for side in valid_sizes[row])
        target = targets[row, :height, :width]
        if not target.any():
            continue
        click = next_click(predictions[row, :height, :width], target)
        if click is None:
            continue
        (x, y), label = click
        points[row, 0, 0] = torch.tensor([(x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5])
        point_labels[row, 0, 0] = label
    return points, point_labels


def follow_up_rounds(
    outputs: Any,
    decode: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any],
    input_points: torch.Tensor,
    input_labels: torch.Tensor,
    labels: torch.Tensor,
    valid_sizes: torch.Tensor,
    input_size: int,
    rounds: int,
) -> list[Any]:
    """The outputs of rounds 2..`rounds`, each one click and the previous logits on top of the one before.

    Args:
        outputs: The first round's output, with `pred_masks` `(batch, point_batch, masks, h, w)`.
        decode: `decode(input_points, input_labels, input_masks)` runs the prompt encoder and the mask decoder on
            the cached image embeddings and returns an output with `pred_masks`.
        input_points, input_labels: The first round's point prompts, `(batch, 1, n, 2)` and `(batch, 1, n)`.
        labels (`torch.Tensor` of shape `(batch, H, W)`): The 0/1 targets, padded like the input image.
        valid_sizes, input_size: As for [`next_click_prompts`].
        rounds (`int`): Prompt rounds in all, at least 1.
    """
    _check_rounds(rounds)
    points, point_labels = input_points, input_labels
    later = []
    for _ in range(rounds - 1):
        mask_prompt = outputs.pred_masks[:, 0, :1].detach()  # (batch, 1, h, w): the first point batch's mask
        logits = mask_prompt
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        new_points, new_labels = next_click_prompts(logits[:, 0], labels, valid_sizes, input_size)
        points = torch.cat([points, new_points.to(points)], dim=2)
        point_labels = torch.cat([point_labels, new_labels.to(point_labels)], dim=2)
        outputs = decode(points, point_labels, mask_prompt)
        later.append(outputs)
    return later


def click_rounds_loss(model: Any, inputs: dict[str, Any], rounds: int, valid_sizes: torch.Tensor) -> torch.Tensor:
    """The mean loss over `rounds` prompt rounds of one batch (see the module).

    Args:
        model: The model to train (a `PeftModel` around [`SamPtxForTextSegmentation`], possibly wrapped by
            `accelerator.prepare`). The first round runs through it as given; the later rounds call the module it
            wraps: they add gradients to the same parameters within the one backward pass.
        inputs: `forward`'s keyword arguments for the first round, with `input_points`, `input_labels` and
            `labels` (batch, height, width) padded like the input image.
        rounds (`int`): Prompt rounds, at least 1; 1 is the plain loss.
        valid_sizes (`torch.LongTensor` of shape `(batch, 2)`): The collator's `reshaped_input_sizes`.
    """
    _check_rounds(rounds)
    outputs = model(**inputs)
    if rounds == 1:
        return outputs.loss
    unwrapped = extract_model_from_parallel(model)  # one forward through DistributedDataParallel per step
    features = ImageFeatures(outputs.image_embeddings, outputs.high_resolution_features)
    text = {key: inputs.get(key) for key in ("text_embeds", "input_ids", "attention_mask")}

    def decode(points: torch.Tensor, point_labels: torch.Tensor, mask_prompt: torch.Tensor) -> Any:
        return unwrapped(
            image_embeddings=features,
            input_points=points,
            input_labels=point_labels,
            input_masks=mask_prompt,
            labels=inputs["labels"],
            **text,
        )

    later = follow_up_rounds(
        outputs,
        decode,
        inputs["input_points"],
        inputs["input_labels"],
        inputs["labels"],
        valid_sizes,
        inputs["pixel_values"].shape[-1],
        rounds,
    )
    return torch.stack([outputs.loss, *(round_outputs.loss for round_outputs in later)]).mean()


def _check_rounds(rounds: Any) -> None:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}, expected a whole number of prompt rounds of at least 1")


__all__ = ["click_rounds_loss", "follow_up_rounds", "next_click_prompts"]
