"""load_metric goes through evaluate.load on the package's own scripts, offline, never the Hub."""

import fnmatch
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import evaluate
import huggingface_hub
import numpy as np
import pytest
import tomllib

import samptx_hf.evaluation.metrics
from samptx_hf.evaluation.metrics import METRIC_SCRIPTS, CODMetrics, MeanIoU, load_metric, metric_script_path

REPO_ROOT = Path(__file__).resolve().parents[3]


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted with {args}")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Offline env, any socket or Hub download fails the test, and evaluate's modules cache is a tmp dir."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    # Both libraries read these variables once, at import: set what they read.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, _no_network)
    monkeypatch.setattr(evaluate.loading.HubEvaluationModuleFactory, "get_module", _no_network)

    # evaluate copies local scripts into HF_MODULES_CACHE, appends that folder to sys.path and imports them as
    # `evaluate_modules.*`. A modules cache an earlier load appended would come first on sys.path and hide this
    # test's `evaluate_modules` package: drop such folders for the duration of the test.
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path / "modules")
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if not _holds_evaluate_modules(entry)])
    _forget_evaluate_modules()
    yield
    _forget_evaluate_modules()


def _holds_evaluate_modules(sys_path_entry: str) -> bool:
    return (Path(sys_path_entry) / evaluate.config.MODULE_NAME_FOR_DYNAMIC_MODULES).is_dir()


def _forget_evaluate_modules() -> None:
    for module_name in [name for name in sys.modules if name.split(".")[0] == "evaluate_modules"]:
        del sys.modules[module_name]


@pytest.mark.parametrize(("name", "metric_class"), [("mean_iou", MeanIoU), ("cod", CODMetrics)])
@pytest.mark.usefixtures("offline")
def test_load_metric_offline(name: str, metric_class: type, tmp_path: Path) -> None:
    metric = load_metric(name, cache_dir=str(tmp_path / "metrics_cache"))
    assert isinstance(metric, metric_class)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 3:7] = True
    inputs = {"predictions": [mask], "references": [mask]}
    if name == "mean_iou":
        inputs["class_names"] = ["circle"]
    result = metric.compute(**inputs)
    assert result["num_samples"] == 1
    assert (tmp_path / "modules").is_dir()  # evaluate imported the script from the tmp modules cache


@pytest.mark.usefixtures("offline")
def test_load_metric_forwards_evaluate_load_arguments(tmp_path: Path) -> None:
    metric = load_metric("mean_iou", keep_in_memory=True, cache_dir=str(tmp_path), experiment_id="run-7")
    assert metric.keep_in_memory
    assert metric.experiment_id == "run-7"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'miou', expected one of \['cod', 'mean_iou'\]"):
        load_metric("miou")


def test_missing_script_is_reported_not_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METRIC_SCRIPTS, "mean_iou", "not_shipped")
    with pytest.raises(FileNotFoundError, match="package-data"):
        load_metric("mean_iou")


@pytest.mark.parametrize("name", sorted(METRIC_SCRIPTS))
def test_scripts_live_in_the_package_and_ship_as_package_data(name: str) -> None:
    package_root = Path(samptx_hf.__file__).resolve().parent
    relative = metric_script_path(name).relative_to(package_root).as_posix()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["samptx_hf"]
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), (relative, patterns)
