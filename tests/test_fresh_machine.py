"""The suite sees what a fresh machine sees: every Hugging Face cache lies in the session's own empty HF_HOME."""

import os
import tempfile
from pathlib import Path

import datasets
import evaluate
import huggingface_hub


def test_every_hugging_face_cache_is_the_sessions_own() -> None:
    hf_home = Path(os.environ["HF_HOME"])
    assert hf_home.name.startswith("samptx-tests-hf-home-")
    assert hf_home.parent == Path(tempfile.gettempdir())
    caches = {
        "hub": huggingface_hub.constants.HF_HUB_CACHE,
        "datasets": datasets.config.HF_DATASETS_CACHE,
        "evaluate modules": evaluate.config.HF_MODULES_CACHE,
        "evaluate metrics": evaluate.config.HF_METRICS_CACHE,
    }
    outside = {name: path for name, path in caches.items() if not Path(path).is_relative_to(hf_home)}
    assert not outside, f"caches outside the session's HF_HOME {hf_home}: {outside}"
