"""Load the package's metrics through `evaluate.load`, from the scripts shipped inside the package."""

from pathlib import Path
from typing import Any

import evaluate

# Name accepted by `load_metric` -> folder (and script name) of its evaluate module script next to this file.
METRIC_SCRIPTS: dict[str, str] = {"mean_iou": "samptx_mean_iou", "cod": "samptx_cod"}


def metric_script_path(name: str) -> Path:
    """Return the path of metric `name`'s evaluate module script inside the installed package.

    Args:
        name (`str`):
            One of the keys of `METRIC_SCRIPTS`: `"mean_iou"` or `"cod"`.

    Raises:
        ValueError: if `name` is not a known metric.
        FileNotFoundError: if the script is missing from the installed package.
    """
    if name not in METRIC_SCRIPTS:
        raise ValueError(f"unknown metric {name!r}, expected one of {sorted(METRIC_SCRIPTS)}")
    script = METRIC_SCRIPTS[name]
    path = Path(__file__).resolve().parent / script / f"{script}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"the evaluate script of metric {name!r} is missing at {path}; the package was installed without "
            'its `[tool.setuptools.package-data] "samptx_hf" = ["evaluation/metrics/*/*.py"]`'
        )
    return path


def load_metric(name: str, **load_kwargs: Any) -> evaluate.EvaluationModule:
    """Load one of the package's metrics with `evaluate.load`, offline.

    The script is passed to `evaluate.load` as an absolute `.py` path, which evaluate never resolves on the
    Hub: this works with `HF_HUB_OFFLINE=1`, from an editable install or from site-packages. evaluate still
    copies the script into its modules cache (`HF_MODULES_CACHE`) to import it, as for every local script.

    Args:
        name (`str`):
            `"mean_iou"` for `MeanIoU` (binary masks with a class name per sample) or `"cod"` for `CODMetrics`
            (S-measure, E-measure, weighted F-measure and MAE by pysodmetrics).
        **load_kwargs:
            Passed on to `evaluate.load`, e.g. `keep_in_memory=True`, `cache_dir`, `num_process`,
            `process_id`, `experiment_id`.

    Returns:
        `evaluate.EvaluationModule`: a fresh `MeanIoU` or `CODMetrics` instance.

    Raises:
        ValueError: if `name` is not a known metric.

    Example:
        >>> from samptx_hf.evaluation.metrics import load_metric
        >>> metric = load_metric("mean_iou", keep_in_memory=True)
    """
    return evaluate.load(str(metric_script_path(name)), **load_kwargs)
