"""The evaluation layer: a model scored on a dataset split.

- `evaluate_model`: `evaluate_model`, mean IoU (and COD or presence metrics) over a split, and its results file.
- `interactive`: click-by-click evaluation (`evaluate_clicks`, `next_click`).
- `metrics`: the metrics, as `evaluate` modules where they are one.
"""
