"""Presence precision, recall, F1 and MCC against confusion matrices worked out by hand."""

import math

import numpy as np
import pytest

from samptx_hf.evaluation.metrics import presence_metrics


def test_scores_of_a_confusion_matrix_worked_out_by_hand():
    # Answers 0.9 0.6 0.5 0.2 0.7 0.1 0.4 on references 1 1 1 1 0 0 0: TP 3 (0.9, 0.6, 0.5 at the threshold),
    # FN 1 (0.2), FP 1 (0.7), TN 2.
    scores = presence_metrics([0.9, 0.6, 0.5, 0.2, 0.7, 0.1, 0.4], [1, 1, 1, 1, 0, 0, 0])
    assert (scores["presence_tp"], scores["presence_fp"], scores["presence_fn"], scores["presence_tn"]) == (3, 1, 1, 2)
    assert scores["presence_precision"] == pytest.approx(3 / 4)
    assert scores["presence_recall"] == pytest.approx(3 / 4)
    assert scores["presence_f1"] == pytest.approx(3 / 4)
    assert scores["presence_mcc"] == pytest.approx((3 * 2 - 1 * 1) / math.sqrt(4 * 4 * 3 * 3))  # 5/12


def test_perfect_and_inverted_answers_give_mcc_one_and_minus_one():
    references = np.array([1, 0, 1, 0, 0])
    assert presence_metrics(references.astype(float), references)["presence_mcc"] == pytest.approx(1.0)
    inverted = presence_metrics(1.0 - references, references.astype(bool))
    assert inverted["presence_mcc"] == pytest.approx(-1.0)
    assert inverted["presence_precision"] == inverted["presence_recall"] == inverted["presence_f1"] == 0.0


@pytest.mark.parametrize(
    ("probabilities", "references", "expected"),
    [
        # Every pair present and answered present: precision = recall = F1 = 1, MCC 0 (no absent row or column).
        ([0.9, 0.8], [1, 1], (1.0, 1.0, 1.0, 0.0)),
        # Every answer absent: no present answer, precision 0; recall 0; MCC 0.
        ([0.1, 0.2, 0.3], [1, 0, 1], (0.0, 0.0, 0.0, 0.0)),
        # Every pair absent, one answered present: no present pair, recall 0, precision 0 (TP 0 of 1), MCC 0.
        ([0.9, 0.1], [0, 0], (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_degenerate_confusion_matrices_score_zero_where_a_denominator_is_zero(probabilities, references, expected):
    scores = presence_metrics(probabilities, references)
    names = ("presence_precision", "presence_recall", "presence_f1", "presence_mcc")
    assert tuple(scores[name] for name in names) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("probabilities", "references", "message"),
    [
        ([0.5], [1, 0], "got 1 presence probabilities and 2 references"),
        ([], [], "got no .image, class. pair"),
        ([1.5], [1], "a presence probability is 1.5, expected probabilities in .0, 1."),
        ([float("nan")], [1], "a presence probability is nan"),
        ([0.5], [2], "a presence reference is 2, expected 1 .present. or 0 .absent."),
    ],
)
def test_rejects_inputs_that_are_not_one_probability_and_reference_per_pair(probabilities, references, message):
    with pytest.raises(ValueError, match=message):
        presence_metrics(probabilities, references)
