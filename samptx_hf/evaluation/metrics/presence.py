"""Presence metrics: how well a model answers "is there an X in this image?" over (image, class) pairs.

Positive = present. Each pair has a reference (1 present, 0 absent, e.g. the collator's `presence_labels`) and an
answer (the presence probability, present when >= 0.5). Degenerate cases follow sklearn's `zero_division=0`: a ratio
whose denominator is 0 (precision without a present answer, recall without a present pair, F1 when both are 0, and
Matthews' correlation when a row or column of the confusion matrix is empty, e.g. every pair of one class) is 0.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

PRESENCE_THRESHOLD = 0.5  # a presence probability at or above it answers "present"


def presence_metrics(probabilities: Sequence[float] | np.ndarray, references: Sequence[Any] | np.ndarray) -> dict:
    """Precision, recall, F1 and Matthews' correlation of presence answers, positive = present.

    Args:
        probabilities: One presence probability (sigmoid of `presence_logits`) per (image, class) pair, in [0, 1];
            the answer is "present" when it is >= `PRESENCE_THRESHOLD` (0.5).
        references: One reference per pair: 1 (or `True`) present, 0 absent.

    Returns:
        `{"presence_precision", "presence_recall", "presence_f1", "presence_mcc": float, "presence_tp",
        "presence_fp", "presence_fn", "presence_tn": int}`: TP a present pair answered present, FP an absent pair
        answered present, FN a present pair answered absent, TN an absent pair answered absent. MCC is
        (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), in [-1, 1], 0 when the denominator is 0.

    Raises:
        ValueError: When the inputs differ in length or are empty, a probability is NaN or outside [0, 1], or a
            reference is not 0/1.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    references = np.asarray(references).reshape(-1)
    if len(probabilities) != len(references):
        raise ValueError(
            f"got {len(probabilities)} presence probabilities and {len(references)} references, expected one of "
            "each per (image, class) pair"
        )
    if len(probabilities) == 0:
        raise ValueError("got no (image, class) pair, expected at least one presence answer")
    outside = probabilities[~((probabilities >= 0) & (probabilities <= 1))]
    if outside.size:
        raise ValueError(f"a presence probability is {outside[0].item()!r}, expected probabilities in [0, 1]")
    if not np.isin(references, (0, 1)).all():
        bad = references[~np.isin(references, (0, 1))][0].item()
        raise ValueError(f"a presence reference is {bad!r}, expected 1 (present) or 0 (absent)")
    predicted = probabilities >= PRESENCE_THRESHOLD
    actual = references.astype(bool)
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted & ~actual))
    fn = int(np.count_nonzero(~predicted & actual))
    tn = int(np.count_nonzero(~predicted & ~actual))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "presence_precision": precision,
        "presence_recall": recall,
        "presence_f1": _ratio(2 * precision * recall, precision + recall),
        "presence_mcc": (tp * tn - fp * fn) / denominator if denominator > 0 else 0.0,
        "presence_tp": tp,
        "presence_fp": fp,
        "presence_fn": fn,
        "presence_tn": tn,
    }


def _ratio(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, 0.0 when the denominator is 0 (sklearn's `zero_division=0`)."""
    return float(numerator / denominator) if denominator > 0 else 0.0
