"""`samptx export`: an adapter repository to an export folder (int8 too), and one-line errors on bad input."""

import json
import os

import numpy as np
import onnxruntime as ort
import pytest

from samptx_hf.cli.main import main
from samptx_hf.onnx.layout import DECODER, IMAGE_ENCODER, ExportLayout


@pytest.mark.slow
def test_export_writes_a_quantized_folder_that_onnxruntime_runs(adapter_repo, tmp_path, capsys):
    output = tmp_path / "exported"
    # TorchScript: seconds where dynamo takes a minute; both exporters' graphs are held to parity in test_export.py.
    assert main(["export", "--model", str(adapter_repo), "--output", str(output), "--classes", "cat,dog",
                 "--quantize", "int8", "--exporter", "torchscript"]) == 0  # fmt: skip
    layout = ExportLayout.load(output)
    assert layout.quantization == "int8" and layout.class_names == ["cat", "dog"]
    assert layout.exporter == "torch.onnx.export(dynamo=False)"
    assert np.load(output / "class_embeddings.npy").shape == (2, layout.text_dim)
    assert f"to {output}" in capsys.readouterr().out
    # The int8 graphs run and keep the float32 interface (quality: docs/deploy.md).
    size = layout.preprocessing.image_size
    inputs = {
        "pixel_values": np.zeros((1, 3, size, size), np.float32),
        "text_embeds": np.load(output / "class_embeddings.npy")[:1],
    }
    for role in (["trunk"] if layout.has_trunk else []) + [IMAGE_ENCODER]:
        spec = layout.graphs[role]
        session = ort.InferenceSession(str(output / spec.file), providers=["CPUExecutionProvider"])
        inputs.update(zip(spec.outputs, session.run(None, {n: inputs[n] for n in spec.inputs}), strict=True))
    assert inputs["image_embeddings"].dtype == np.float32
    assert json.loads((output / "config.json").read_text())["graphs"][DECODER]["file"] == "decoder.onnx"


def _export_argv(adapter_repo, tmp_path, **flags):
    arguments = {"--model": str(adapter_repo), "--output": str(tmp_path / "out"), **flags}
    return ["export", *[item for pair in arguments.items() for item in pair]]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"--quantize": "int4"}, "argument --quantize: invalid choice: 'int4'"),
        ({"--classes": "cat,,dog"}, "'cat,,dog' is not a list of class names"),
        ({"--classes": "cat,cat"}, "names ['cat'] more than once"),
        ({"--opset": "9"}, "'9' is not an ONNX opset: expected an integer >= 17"),
        ({"--exporter": "onnx"}, "argument --exporter: invalid choice: 'onnx'"),
    ],
)
def test_export_refuses_bad_flags_in_one_line(adapter_repo, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(_export_argv(adapter_repo, tmp_path, **flags))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_export_names_a_missing_model(tmp_path, capsys):
    assert main(_export_argv(tmp_path / "no-such-model", tmp_path)) == 1
    error = capsys.readouterr().err
    assert error.startswith("samptx export: error: ") and "no-such-model" in error
    assert len(error.strip().splitlines()) == 1


def test_export_refuses_an_output_that_is_a_file(adapter_repo, tmp_path, capsys):
    output = tmp_path / "a-file"
    output.write_text("not a folder")
    assert main(["export", "--model", str(adapter_repo), "--output", str(output)]) == 1
    error = capsys.readouterr().err.strip()
    assert error == (
        f"samptx export: error: --output '{output}' is a file, expected a folder for the export (created if missing; "
        "an earlier export in it is replaced)"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--opset", "99"], "--opset 99 is not supported by the dynamo exporter of torch"),
        (["--opset", "21", "--exporter", "torchscript"], "--opset 21 is not supported by the torchscript exporter"),
        (["--output", "/proc/v20"], "--output '/proc/v20' cannot be written: '/proc' does not take new files"),
    ],
)
def test_export_refuses_what_it_cannot_write_before_the_model_loads(tmp_path, capsys, flags, message):
    if "/proc/v20" in flags and not os.path.isdir("/proc/self"):
        pytest.skip("/proc is Linux's")
    # A model that does not exist: the flags are refused before it would be looked for.
    assert main(["export", "--model", str(tmp_path / "no-such-model"), "--output", str(tmp_path / "out"), *flags]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"samptx export: error: {message}") and len(error.strip().splitlines()) == 1
