"""The export folder's `config.json` and the decoder's prompt points, without torch."""

import json

import numpy as np
import pytest

from samptx_hf.onnx.layout import ExportLayout, GraphSpec, ImagePreprocessing, decoder_prompt
from samptx_hf.onnx.quantization import quantize_export


def _layout(**changes) -> ExportLayout:
    fields = {
        "base": "sam",
        "method": "parallel_text",
        "text_injection": "parallel_text",
        "first_text_block": 1,
        "num_blocks": 2,
        "presence_head": True,
        "preprocessing": ImagePreprocessing(image_size=64, resize="longest_side"),
        "mask_threshold": 0.0,
        "low_res_mask_size": 16,
        "image_embedding_shape": [32, 4, 4],
        "text_dim": 32,
        "normalize_text_embeds": True,
        "prompt_template": "a photo of a {}",
        "graphs": {
            role: GraphSpec(f"{role}.onnx", ["a"], ["b"])
            for role in ("trunk", "image_encoder", "decoder", "decoder_multimask")
        },
        "opset": 18,
        "exporter": "torch.onnx.export(dynamo=True)",
    }
    return ExportLayout(**{**fields, **changes})


def test_config_round_trips(tmp_path):
    layout = _layout(class_names=["cat"])
    layout.save(tmp_path)
    assert ExportLayout.load(tmp_path) == layout
    assert layout.has_trunk and layout.image_encoder_reads_text and not layout.decoder_reads_text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base": "sam3"}, "base='sam3' is not one of ['sam', 'sam2']"),
        ({"text_injection": "everywhere"}, "text_injection='everywhere' is not one of"),
        ({"first_text_block": 3}, "first_text_block=3 must lie in 0..num_blocks=2"),
        ({"graphs": {}}, "export graphs lack 'image_encoder'"),
    ],
)
def test_bad_configs_are_named(changes, message):
    with pytest.raises(ValueError) as error:
        _layout(**changes)
    assert message in str(error.value)


def test_bad_preprocessing_is_named():
    with pytest.raises(ValueError, match="resize='crop' is not one of"):
        ImagePreprocessing(image_size=64, resize="crop")
    with pytest.raises(ValueError, match="image_mean=\\[0.5\\] must be a list of 3 numbers"):
        ImagePreprocessing(image_size=64, resize="square", image_mean=[0.5])


def test_load_names_a_missing_or_foreign_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        ExportLayout.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**_layout().to_dict(), "format_version": 99}))
    with pytest.raises(ValueError, match="format_version=99"):
        ExportLayout.load(tmp_path)


@pytest.mark.parametrize(
    ("base", "prompt", "labels"),
    [
        ("sam", {"points": [[1, 2]], "labels": [1]}, [1, -1]),
        ("sam", {"box": [1, 2, 3, 4]}, [2, 3]),
        ("sam", {"points": [[1, 2]], "labels": [0], "box": [1, 2, 3, 4]}, [0, 2, 3]),
        ("sam", {}, []),
        ("sam2", {"points": [[1, 2]], "labels": [1]}, [1, -1]),
        ("sam2", {"box": [1, 2, 3, 4]}, [2, 3, -1]),
        ("sam2", {"points": [[1, 2]], "labels": [0], "box": [1, 2, 3, 4]}, [0, 2, 3, -1]),
        ("sam2", {}, [-1, -1]),
    ],
)
def test_decoder_prompt_adds_the_padding_the_model_adds(base, prompt, labels):
    points, point_labels = decoder_prompt(base, **prompt)
    assert point_labels.tolist() == labels and point_labels.dtype == np.int64
    assert points.shape == (len(labels), 2) and points.dtype == np.float32
    if "box" in prompt:
        start = len(prompt.get("points", []))
        assert points[start : start + 2].tolist() == [[1, 2], [3, 4]]


def test_decoder_prompt_refuses_mismatched_prompts():
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        decoder_prompt("sam", points=[[1, 2], [3, 4]], labels=[1])
    with pytest.raises(ValueError, match="labels were given without points"):
        decoder_prompt("sam", labels=[1])
    with pytest.raises(ValueError, match=r"box must be \(x1, y1, x2, y2\)"):
        decoder_prompt("sam2", box=[1, 2, 3])


def test_quantize_export_refuses_another_mode_or_folder(tmp_path):
    with pytest.raises(ValueError, match="quantization mode 'int4' is not supported"):
        quantize_export(tmp_path, "int4")
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        quantize_export(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is missing"),
        (b"", "is not a NumPy .npy array"),
        (b"\x80\x04\x95junk pickle", "is not a NumPy .npy array"),
        (np.zeros((2, 32), np.float32), "holds an array of shape (2, 32)"),
        (np.zeros((1, 32), np.float64), "holds float64 values"),
    ],
    ids=["missing", "empty", "pickle", "shape", "dtype"],
)
def test_a_bad_class_embeddings_file_is_named_with_what_was_expected(tmp_path, content, message):
    layout = _layout(class_names=["cat"])
    path = tmp_path / "class_embeddings.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with open(path, "wb") as file:  # np.save(path) would add .npy to a name that has it: the same file
            np.save(file, content)
    with pytest.raises(ValueError) as error:
        layout.read_class_embeddings(tmp_path)
    assert str(error.value).startswith(f"{path} {message}")
    assert "expected a float32 array of shape (1, 32), one row per class of config.json" in str(error.value)
    assert "\n" not in str(error.value)
    with open(path, "wb") as file:
        np.save(file, np.ones((1, 32), np.float32))
    assert layout.read_class_embeddings(tmp_path).shape == (1, 32)
    assert _layout().read_class_embeddings(tmp_path / "elsewhere") is None  # no classes, no file needed
