"""evaluate module script for `CODMetrics`: `evaluate.load` imports this file and takes the class from it.

The class lives in `samptx_hf.evaluation.metrics.cod` so that it is defined once and importable as usual; this file only
hands it to `evaluate.load` (see `samptx_hf.evaluation.metrics.load_metric`).
"""

from samptx_hf.evaluation.metrics.cod import CODMetrics

__all__ = ["CODMetrics"]
