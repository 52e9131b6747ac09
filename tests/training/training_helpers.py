"""What the training tests share: the tiny model and data of a quick run, its command line, the example script."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = {
    "sam_model_name_or_path": "tiny-random",
    "text_model_name_or_path": "tiny-random",
    "tiny_image_size": 64,
    "tiny_hidden_size": 32,
    "tiny_num_layers": 2,
    "adapter_r": 4,
}
TINY_DATA = {"num_train_samples": 24, "num_eval_samples": 8}


def tiny_cli(output_dir, model: dict | None = None, **overrides) -> list[str]:
    options = {
        **(TINY_MODEL if model is None else model),
        **TINY_DATA,
        "output_dir": output_dir,
        "max_steps": 6,
        "warmup_steps": 2,
        "eval_steps": 100,
        "checkpointing_steps": 100,
        "logging_steps": 1,
        "disable_tqdm": "true",
        **overrides,
    }
    return [f"--{key}={value}" for key, value in options.items()]


def train_script():
    """`examples/train.py` imported as a module."""
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import train as script
    finally:
        sys.path.remove(str(REPO / "examples"))
    return script
