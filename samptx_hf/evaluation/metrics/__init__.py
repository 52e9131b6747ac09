"""Evaluation metrics: mean IoU over (image, class) samples and the COD metrics, as `evaluate` modules; presence
precision/recall/F1/MCC and the semantic mIoU over a vocabulary (text-only prompting)."""

from samptx_hf.evaluation.metrics.cod import CODMetrics
from samptx_hf.evaluation.metrics.loading import METRIC_SCRIPTS, load_metric, metric_script_path
from samptx_hf.evaluation.metrics.mean_iou import MeanIoU, mask_iou
from samptx_hf.evaluation.metrics.presence import PRESENCE_THRESHOLD, presence_metrics
from samptx_hf.evaluation.metrics.semantic import SemanticIoU

__all__ = [
    "CODMetrics",
    "METRIC_SCRIPTS",
    "MeanIoU",
    "PRESENCE_THRESHOLD",
    "SemanticIoU",
    "load_metric",
    "mask_iou",
    "metric_script_path",
    "presence_metrics",
]
