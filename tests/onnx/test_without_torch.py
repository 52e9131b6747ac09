"""`from samptx_hf.onnx import OnnxPredictor` where torch and transformers cannot be imported: in a subprocess that
blocks them, and (slow) in a fresh virtual environment holding only onnxruntime, numpy and pillow."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hub_factories import make_image
from onnx_factories import CLASS_NAMES

from samptx_hf import SamPtxPredictor

REPOSITORY = Path(__file__).resolve().parents[2]

# Predicts on an export and saves the masks, presences and the modules it loaded. argv: export, image, output.
PREDICT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from samptx_hf.onnx import OnnxPredictor

    export, image, output = sys.argv[1:4]
    predictor = OnnxPredictor(export)
    predictor.set_image(image)
    results = predictor.predict(json.loads(sys.argv[4])) + predictor.predict(json.loads(sys.argv[4]), points=[(20, 20)])
    np.savez(output, masks=np.stack([r.masks for r in results]), presence=[r.presence for r in results])
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    with open(output + ".modules.json", "w") as file:
        json.dump(loaded, file)
    """
)
BLOCK_TORCH = "import sys\nfor name in ('torch', 'transformers', 'peft', 'accelerate'):\n    sys.modules[name] = None\n"


def torch_answers(model, image_path):
    predictor = SamPtxPredictor(model)
    predictor.set_image(str(image_path))
    results = predictor.predict(CLASS_NAMES) + predictor.predict(CLASS_NAMES, points=[(20, 20)])
    return np.stack([r.masks for r in results]), [r.presence for r in results]


def run_prediction(python, folder, tmp_path, prelude="", env=None):
    """Run PREDICT_SCRIPT with `python`; returns (masks, presences, loaded module names)."""
    image_path, output = tmp_path / "image.png", str(tmp_path / "answers.npz")
    make_image().save(image_path)
    script = tmp_path / "predict.py"
    script.write_text(prelude + PREDICT_SCRIPT)
    completed = subprocess.run(
        [python, str(script), str(folder), str(image_path), output, json.dumps(CLASS_NAMES)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = np.load(output)
    with open(output + ".modules.json") as file:
        return answers["masks"], list(answers["presence"]), json.load(file), image_path


def assert_same_as_torch(model, masks, presences, image_path):
    expected_masks, expected_presences = torch_answers(model, image_path)
    assert masks.shape == expected_masks.shape
    assert (masks != expected_masks).mean() <= 1e-3
    np.testing.assert_allclose(presences, expected_presences, atol=1e-4)


def test_predicts_where_torch_and_transformers_cannot_be_imported(exported, tmp_path):
    model, folder, _ = exported
    masks, presences, modules, image_path = run_prediction(sys.executable, folder, tmp_path, prelude=BLOCK_TORCH)
    loaded = [name for name in modules if name.split(".")[0] in ("torch", "transformers", "peft", "accelerate")]
    assert loaded == []
    assert_same_as_torch(model, masks, presences, image_path)


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A virtual environment with onnxruntime, numpy and pillow, and the project installed with --no-deps."""
    folder = tmp_path_factory.mktemp("bare-venv")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    source = folder / "source"  # a copy, so that the build writes nothing into the repository
    shutil.copytree(REPOSITORY / "samptx_hf", source / "samptx_hf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    for arguments in (["onnxruntime", "numpy", "pillow"], ["--no-deps", str(source)]):
        completed = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if completed.returncode != 0:
            pytest.skip(f"pip could not install {arguments} into a fresh venv (no package index?): {completed.stderr}")
    return python


@pytest.mark.slow
def test_predicts_in_a_fresh_venv_with_onnxruntime_numpy_and_pillow_only(exported, request, tmp_path):
    model, folder, layout = exported
    if layout.method != "parallel_text":
        pytest.skip("the install is checked once per base; every method runs without torch in the test above")
    # Asked for here, after the skip: pytest sets a fixture up again whenever the parametrized `exported` changes.
    bare_venv = request.getfixturevalue("bare_venv")
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    masks, presences, modules, image_path = run_prediction(bare_venv, folder, tmp_path, env=environment)
    assert not any(name.split(".")[0] in ("torch", "transformers", "tokenizers") for name in modules)
    assert_same_as_torch(model, masks, presences, image_path)
