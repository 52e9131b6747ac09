"""Evaluation metrics: mean IoU over (image, class) samples and the COD metrics, as `evaluate` modules."""

from samptx_hf.metrics.cod import CODMetrics
from samptx_hf.metrics.loading import METRIC_SCRIPTS, load_metric, metric_script_path
from samptx_hf.metrics.mean_iou import MeanIoU, mask_iou

__all__ = ["CODMetrics", "METRIC_SCRIPTS", "MeanIoU", "load_metric", "mask_iou", "metric_script_path"]
