"""Shared fixtures; and every test runs as on a fresh machine, with Hugging Face caches of its own.

The caches are chosen here, before anything imports huggingface_hub, datasets or evaluate (each reads its cache
location once, at import): a test never reads what an earlier run left in `~/.cache/huggingface` (an evaluate module,
a dataset, a Hub download) and never writes there. Subprocesses the tests start inherit the same caches.
"""

import os
import shutil
import tempfile
from pathlib import Path

_CACHE_VARIABLES = (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_MODULES_CACHE",
    "HF_EVALUATE_CACHE",
    "HF_XET_CACHE",
    "HF_ASSETS_CACHE",
    "TRANSFORMERS_CACHE",
)
_TEST_HF_HOME = tempfile.mkdtemp(prefix="samptx-tests-hf-home-")
os.environ["HF_HOME"] = _TEST_HF_HOME
for _variable in _CACHE_VARIABLES:  # each would override its part of HF_HOME
    os.environ.pop(_variable, None)

# Under pytest-xdist each worker takes one core: with two torch threads per worker, the workers (and the training
# subprocesses they start) would fight over the cores, which slows small torch ops many times over.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from factories import make_batch, make_model  # noqa: E402
from hub_factories import make_peft_model, save_frozen_components  # noqa: E402

from samptx_hf import SamPtxForTextSegmentation  # noqa: E402
from samptx_hf.hub import save_adapter_repo  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TEST_HF_HOME, ignore_errors=True)


def _visible_entries(folder: Path) -> set[str]:
    """What `ls` shows in `folder`: hidden entries (tool caches) and `__pycache__` left out."""
    return {name for name in os.listdir(folder) if not name.startswith(".") and name != "__pycache__"}


@pytest.fixture(autouse=True)
def _writes_nothing_into_the_repository():
    """Fail a test that leaves a file in the repository root or the working directory (e.g. `samptx eval` without
    `--output-dir`, which writes eval_results.json there): tests write under `tmp_path`."""
    folders = {REPOSITORY, Path.cwd()}
    before = {folder: _visible_entries(folder) for folder in folders}
    yield
    left = sorted(str(folder / name) for folder in folders for name in _visible_entries(folder) - before[folder])
    if left:
        pytest.fail(f"the test left {', '.join(left)}: write under tmp_path (or monkeypatch.chdir(tmp_path) first)")


@pytest.fixture
def model() -> SamPtxForTextSegmentation:
    return make_model()


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return make_batch()


@pytest.fixture(scope="module")
def peft_model(tmp_path_factory: pytest.TempPathFactory):
    """A `PeftModel` with trained-looking adapters on tiny frozen SAM and CLIP folders, one per test module."""
    return make_peft_model(*save_frozen_components(tmp_path_factory.mktemp("frozen")))


@pytest.fixture(scope="session")
def adapter_repo(tmp_path_factory: pytest.TempPathFactory):
    """An adapter repository as training writes it, on tiny frozen SAM and CLIP folders, with trained-looking
    adapters: what the CLI, the pipeline and the demo load. Tests read it; none may change it."""
    directory = tmp_path_factory.mktemp("adapter_repo")
    save_adapter_repo(make_peft_model(*save_frozen_components(directory)), directory / "adapter")
    return directory / "adapter"
