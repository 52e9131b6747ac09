"""CODMetrics must give exactly what pysodmetrics gives when called directly on the same images."""

from pathlib import Path

import numpy as np
import py_sod_metrics
import pytest

from samptx_hf.evaluation.metrics import CODMetrics


def _images(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three images of different sizes: blurred-blob probability maps (uint8) and binary references."""
    rng = np.random.default_rng(seed)
    predictions, references = [], []
    for height, width in [(24, 32), (40, 40), (17, 29)]:
        rows, cols = np.mgrid[:height, :width]
        center = rng.uniform(0.3, 0.7, size=2) * (height, width)
        distance = np.hypot(rows - center[0], cols - center[1]) / max(height, width)
        references.append(distance < 0.25)
        probabilities = np.clip(1.2 - 3 * distance + rng.normal(0, 0.1, distance.shape), 0, 1)
        predictions.append(np.round(probabilities * 255).astype(np.uint8))
    return predictions, references


def _pysodmetrics_directly(predictions: list[np.ndarray], references: list[np.ndarray]) -> dict[str, float]:
    s_measure, e_measure = py_sod_metrics.Smeasure(), py_sod_metrics.Emeasure()
    weighted_f_measure, mae = py_sod_metrics.WeightedFmeasure(), py_sod_metrics.MAE()
    for prediction, reference in zip(predictions, references, strict=True):
        gt = reference.astype(np.uint8) * 255
        for accumulator in (s_measure, e_measure, weighted_f_measure, mae):
            accumulator.step(pred=prediction, gt=gt)
    em = e_measure.get_results()["em"]
    return {
        "s_measure": s_measure.get_results()["sm"],
        "e_measure_mean": em["curve"].mean(),
        "e_measure_max": em["curve"].max(),
        "e_measure_adaptive": em["adp"],
        "weighted_f_measure": weighted_f_measure.get_results()["wfm"],
        "mae": mae.get_results()["mae"],
    }


@pytest.fixture
def metric(tmp_path: Path) -> CODMetrics:
    return CODMetrics(keep_in_memory=True, cache_dir=str(tmp_path))  # evaluate makes its cache dir even in memory


def test_matches_pysodmetrics_on_images_of_different_sizes(metric: CODMetrics) -> None:
    predictions, references = _images()
    metric.add_batch(predictions=predictions[:2], references=references[:2])
    metric.add(prediction=predictions[2], reference=references[2])
    result = metric.compute()
    expected = _pysodmetrics_directly(predictions, references)
    assert result.pop("num_samples") == 3
    assert result == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert set(result) == set(expected)
    assert 0.5 < result["s_measure"] < 1.0  # a sane, non-degenerate case


def test_float_probabilities_are_rounded_to_uint8(metric: CODMetrics) -> None:
    predictions, references = _images(seed=1)
    probabilities = [prediction / 255 for prediction in predictions]  # float64, rounds back exactly
    result = metric.compute(predictions=probabilities, references=references)
    result.pop("num_samples")
    assert result == pytest.approx(_pysodmetrics_directly(predictions, references), rel=1e-12, abs=1e-12)


def test_reference_encodings_agree(tmp_path: Path) -> None:
    predictions, references = _images(seed=2)
    encodings = {
        "bool": references,
        "0/1 int": [reference.astype(np.int64) for reference in references],
        "0/255 uint8": [reference.astype(np.uint8) * 255 for reference in references],
    }
    results = {
        name: CODMetrics(keep_in_memory=True, cache_dir=str(tmp_path)).compute(
            predictions=predictions, references=encoded
        )
        for name, encoded in encodings.items()
    }
    assert results["bool"] == results["0/1 int"] == results["0/255 uint8"]


def test_empty_reference_follows_pysodmetrics(metric: CODMetrics) -> None:
    prediction = np.zeros((8, 8), dtype=np.uint8)
    prediction[2:4, 2:4] = 200
    reference = np.zeros((8, 8), dtype=bool)
    result = metric.compute(predictions=[prediction], references=[reference])
    assert result["weighted_f_measure"] == 0.0  # pysodmetrics' convention for an empty reference
    assert result["mae"] == pytest.approx(4 / 64)  # min-max normalised: 4 pixels at 1.0
    result.pop("num_samples")
    assert result == pytest.approx(_pysodmetrics_directly([prediction], [reference]), rel=1e-12, abs=1e-12)


def test_shape_mismatch_names_both_shapes(metric: CODMetrics) -> None:
    with pytest.raises(ValueError, match=r"predictions\[0\] has shape \(4, 5\) but references\[0\] has shape \(5, 4\)"):
        metric.add(prediction=np.zeros((4, 5), np.uint8), reference=np.zeros((5, 4), bool))


def test_rejects_bad_predictions_and_references(metric: CODMetrics) -> None:
    reference = np.zeros((2, 2), dtype=bool)
    with pytest.raises(ValueError, match=r"predictions\[0\] has values in \[0.0, 1.5\], expected probabilities"):
        metric.add(prediction=np.array([[0.0, 1.5], [0.2, 0.3]]), reference=reference)
    with pytest.raises(TypeError, match=r"predictions\[0\] has dtype int64"):
        metric.add(prediction=np.array([[0, 1], [1, 0]], dtype=np.int64), reference=reference)
    with pytest.raises(ValueError, match=r"references\[0\] holds the value 7 and has dtype int64"):
        metric.add(prediction=np.zeros((2, 2), np.uint8), reference=np.array([[0, 7], [0, 0]]))
    with pytest.raises(ValueError, match="got 1 predictions, 2 references"):
        metric.add_batch(predictions=[reference], references=[reference, reference])
    empty = np.zeros((0, 5), np.float32)
    with pytest.raises(ValueError, match=r"predictions\[1\] has shape \(0, 5\), expected a non-empty"):
        metric.add_batch(predictions=[reference, empty], references=[reference, empty])


def test_compute_without_samples_raises(metric: CODMetrics) -> None:
    with pytest.raises(ValueError, match="no images"):
        metric.compute()
    with pytest.raises(ValueError, match="no images"):  # empty lists, not NaNs
        metric.compute(predictions=[], references=[])
