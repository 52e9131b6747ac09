"""The package's layers import downwards only: the model never reaches the inference, evaluation, data, training or
CLI layers, and loading and running it imports neither `datasets`, `gradio` nor `onnxruntime`."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import samptx_hf

PACKAGE_ROOT = Path(samptx_hf.__file__).resolve().parent
# The layers above the model, which nothing in `samptx_hf/modeling/` may import.
ABOVE_THE_MODEL = ("inference", "evaluation", "data", "cli", "training", "labelling", "onnx", "demo")
# The model's convenience methods that call the inference layer, importing it when called.
CONVENIENCE_METHODS = {"segment", "segment_semantic"}


def _imported_modules(path: Path, package: str) -> list[tuple[str, str | None]]:
    """(absolute module, enclosing function or None) of every import in the file at `path`."""
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - child.level + 1] if child.level else []
                found.append((".".join(base + ([child.module] if child.module else [])), function))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text()), None)
    return found


def upward_imports_of_the_model(root: Path = PACKAGE_ROOT) -> list[str]:
    found = []
    for path in sorted((root / "modeling").rglob("*.py")):
        package = "samptx_hf.modeling" + "".join("." + part for part in path.relative_to(root / "modeling").parts[:-1])
        for module, function in _imported_modules(path, package):
            layer = module.split(".")[1] if module.startswith("samptx_hf.") else None
            if layer in ABOVE_THE_MODEL and not (layer == "inference" and function in CONVENIENCE_METHODS):
                found.append(f"{path.relative_to(root)}: imports {module}")
    return found


def test_the_model_imports_no_layer_above_it():
    assert upward_imports_of_the_model() == []


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "modeling").mkdir()
    (tmp_path / "modeling" / "model.py").write_text(
        "from ..data.collator import X\n"
        "def segment(self):\n    from ..inference.segment import segment\n"
        "def other(self):\n    from ..inference.predictor import P\n"
    )
    assert upward_imports_of_the_model(tmp_path) == [
        "modeling/model.py: imports samptx_hf.data.collator",
        "modeling/model.py: imports samptx_hf.inference.predictor",
    ]


@pytest.mark.slow
def test_loading_and_running_the_model_imports_no_data_demo_or_onnx_library():
    script = textwrap.dedent(
        """
        import sys

        import torch

        from samptx_hf import SamPtxForTextSegmentation
        from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_samptx_config

        model = SamPtxForTextSegmentation(tiny_samptx_config(image_size=64)).eval()
        input_ids = tiny_clip_tokenizer()(["a photo of a fish"], return_tensors="pt").input_ids
        with torch.no_grad():
            outputs = model(
                pixel_values=torch.zeros(1, 3, 64, 64),
                input_ids=input_ids,
                input_points=torch.tensor([[[[32.0, 32.0]]]]),
                input_labels=torch.ones(1, 1, 1, dtype=torch.long),
            )
        assert outputs.pred_masks.shape[0] == 1
        print(sorted(name for name in ("datasets", "gradio", "onnxruntime") if name in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
