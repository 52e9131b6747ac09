"""Camouflaged-object-detection metrics (S-measure, E-measure, weighted F-measure, MAE) as an evaluate Metric.

Every number comes from `pysodmetrics` (`py_sod_metrics`), the package the COD literature reports with.
"""

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import numpy as np
from py_sod_metrics import MAE, Emeasure, Smeasure, WeightedFmeasure

from samptx_hf.evaluation.metrics._masks import check_batch_lengths, check_same_shape, to_numpy_2d

E_MEASURE_CURVE_LENGTH = 256  # pysodmetrics evaluates the E-measure at the thresholds 0..255

_DESCRIPTION = """
The standard camouflaged-object-detection (COD10K) metrics, as `pysodmetrics` computes them: S-measure (Sα,
alpha 0.5), E-measure (Eφ) mean and max over the 256 thresholds of the dataset-mean curve and adaptive
(threshold twice the prediction's mean), weighted F-measure (Fβω, beta 1) and mean absolute error. Each is
computed per image and averaged over images. Inputs follow pysodmetrics' convention of uint8 grayscale maps:
each prediction is min-max normalised per image and references are foreground where their grayscale is > 128.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of (height, width) arrays or tensors, or one (batch, height, width) array):
        Predicted foreground probability maps: floats in [0, 1] (converted to uint8 by `round(255 * p)`),
        uint8 grayscale 0..255 (used as is) or bool (0 or 255). Samples may differ in size.
    references (same as `predictions`):
        Reference masks, each with the shape of its prediction: bool or numbers 0 and 1, or uint8 grayscale
        0..255 such as a COD10K ground-truth PNG (foreground where > 128).
    (`add` takes one `prediction` and `reference`.)

Returns:
    s_measure (`float`): mean S-measure.
    e_measure_mean (`float`): mean over thresholds of the image-averaged E-measure curve.
    e_measure_max (`float`): max over thresholds of the image-averaged E-measure curve.
    e_measure_adaptive (`float`): mean adaptive-threshold E-measure.
    weighted_f_measure (`float`): mean weighted F-measure (0 for an image whose reference is empty).
    mae (`float`): mean absolute error, on [0, 1] maps.
    num_samples (`int`): number of images.

Raises:
    ValueError: if a prediction and its reference differ in shape, a map is not 2-D, a float prediction
        leaves [0, 1], a reference is not binary (nor uint8), the inputs differ in length, or `compute` is
        called before any sample was added.
    TypeError: if a prediction is neither float, uint8 nor bool.

Example:
    >>> import numpy as np
    >>> from samptx_hf.evaluation.metrics import load_metric
    >>> metric = load_metric("cod")
    >>> probabilities = np.array([[0.9, 0.8], [0.1, 0.0]])
    >>> reference = np.array([[1, 1], [0, 0]])
    >>> round(metric.compute(predictions=[probabilities], references=[reference])["mae"], 4)
    0.0565
"""


class CODMetrics(evaluate.Metric):
    """COD metrics computed by pysodmetrics; see `_DESCRIPTION` and `_KWARGS_DESCRIPTION`.

    evaluate keeps whatever `add_batch` stores in an Arrow cache until `compute`. Instead of the maps, each
    image is scored by pysodmetrics on arrival and only its scores are stored (4 numbers and the 256-point
    E-measure curve). `_compute` averages them over images exactly as pysodmetrics' `get_results` does, so the
    result equals one pysodmetrics accumulator fed every image, and distributed evaluation (`num_process > 1`)
    still works. `self.features` therefore describes the stored rows, not the inputs.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            codebase_urls=["https://github.com/lartpang/PySODMetrics"],
            features=datasets.Features(
                {
                    "s_measure": datasets.Value("float64"),
                    "e_measure_curve": datasets.List(datasets.Value("float64"), length=E_MEASURE_CURVE_LENGTH),
                    "e_measure_adaptive": datasets.Value("float64"),
                    "weighted_f_measure": datasets.Value("float64"),
                    "mae": datasets.Value("float64"),
                }
            ),
        )

    def add_batch(self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None) -> None:
        """Add a batch of (prediction, reference) images."""
        num_samples = check_batch_lengths(predictions=predictions, references=references)
        rows = []
        for index in range(num_samples):
            prediction = to_numpy_2d(predictions[index], f"predictions[{index}]")
            reference = to_numpy_2d(references[index], f"references[{index}]")
            check_same_shape(prediction, reference, index)
            rows.append(
                _image_scores(
                    prediction_u8=_prediction_to_uint8(prediction, f"predictions[{index}]"),
                    reference_u8=_reference_to_uint8(reference, f"references[{index}]"),
                )
            )
        super().add_batch(**{key: [row[key] for row in rows] for key in self.features})

    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        """Add one (prediction, reference) image."""
        self.add_batch(predictions=[prediction], references=[reference])

    def compute(
        self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None
    ) -> dict[str, Any] | None:
        """Add the given images, if any, and compute the metrics over every image added so far.

        Returns `None` on processes other than `process_id=0` in distributed evaluation.
        """
        if not (predictions is None and references is None):
            self.add_batch(predictions=predictions, references=references)
        if self.writer is None and self.num_process == 1:
            raise ValueError("no images to compute CODMetrics on: call add, add_batch or compute with inputs first")
        return super().compute()

    def _compute(
        self,
        s_measure: list[float],
        e_measure_curve: list[list[float]],
        e_measure_adaptive: list[float],
        weighted_f_measure: list[float],
        mae: list[float],
    ) -> dict[str, Any]:
        if not s_measure:  # `add_batch` with empty lists opens the cache without adding an image
            raise ValueError("no images to compute CODMetrics on: call add, add_batch or compute with inputs first")
        # The same reductions as pysodmetrics' get_results: a float64 mean over images.
        mean_curve = np.mean(np.asarray(e_measure_curve, dtype=np.float64), axis=0)  # (256,)
        return {
            "s_measure": float(np.mean(np.asarray(s_measure, dtype=np.float64))),
            "e_measure_mean": float(mean_curve.mean()),
            "e_measure_max": float(mean_curve.max()),
            "e_measure_adaptive": float(np.mean(np.asarray(e_measure_adaptive, dtype=np.float64))),
            "weighted_f_measure": float(np.mean(np.asarray(weighted_f_measure, dtype=np.float64))),
            "mae": float(np.mean(np.asarray(mae, dtype=np.float64))),
            "num_samples": len(s_measure),
        }


def _image_scores(prediction_u8: np.ndarray, reference_u8: np.ndarray) -> dict[str, Any]:
    """Score one image with fresh pysodmetrics accumulators and return its row of stored scores."""
    s_measure, e_measure, weighted_f_measure, mae = Smeasure(), Emeasure(), WeightedFmeasure(), MAE()
    for accumulator in (s_measure, e_measure, weighted_f_measure, mae):
        accumulator.step(pred=prediction_u8, gt=reference_u8)
    e_measure_results = e_measure.get_results()["em"]
    return {
        "s_measure": float(s_measure.get_results()["sm"]),
        "e_measure_curve": e_measure_results["curve"].tolist(),
        "e_measure_adaptive": float(e_measure_results["adp"]),
        "weighted_f_measure": float(weighted_f_measure.get_results()["wfm"]),
        "mae": float(mae.get_results()["mae"]),
    }


def _prediction_to_uint8(prediction: np.ndarray, name: str) -> np.ndarray:
    """Convert a probability map to pysodmetrics' uint8 grayscale (0..255)."""
    if prediction.dtype == np.uint8:
        return prediction
    if prediction.dtype == np.bool_:
        return prediction.astype(np.uint8) * 255
    if np.issubdtype(prediction.dtype, np.floating):
        if prediction.size and not (prediction.min() >= 0.0 and prediction.max() <= 1.0):  # also catches NaN
            value_range = f"[{prediction.min()}, {prediction.max()}]"
            raise ValueError(f"{name} has values in {value_range}, expected probabilities in [0, 1]")
        return np.round(prediction * 255).astype(np.uint8)
    raise TypeError(
        f"{name} has dtype {prediction.dtype}, expected float probabilities in [0, 1], uint8 grayscale or bool"
    )


def _reference_to_uint8(reference: np.ndarray, name: str) -> np.ndarray:
    """Convert a reference mask to pysodmetrics' uint8 grayscale, where foreground is > 128."""
    if reference.dtype == np.bool_:
        return reference.astype(np.uint8) * 255
    if np.array_equal(reference, reference.astype(bool)):  # only 0 and 1
        return reference.astype(np.uint8) * 255
    if reference.dtype == np.uint8:
        return reference
    bad_value = reference[(reference != 0) & (reference != 1)].flat[0].item()
    raise ValueError(
        f"{name} holds the value {bad_value!r} and has dtype {reference.dtype}, expected a binary mask "
        "(bool, or numbers 0 and 1) or uint8 grayscale 0..255"
    )
