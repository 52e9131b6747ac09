"""evaluate module script for `MeanIoU`: `evaluate.load` imports this file and takes the class from it.

The class lives in `samptx_hf.evaluation.metrics.mean_iou` so that it is defined once and importable as usual; this file
only hands it to `evaluate.load` (see `samptx_hf.evaluation.metrics.load_metric`).
"""

from samptx_hf.evaluation.metrics.mean_iou import MeanIoU

__all__ = ["MeanIoU"]
