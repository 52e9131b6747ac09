"""Every exported graph against the PyTorch model it came from, at batch and prompt sizes other than the export's."""

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx_factories import CLASS_NAMES, make_exportable_model

from samptx_hf.onnx import export as export_module
from samptx_hf.onnx.export import DYNAMO_EXPORTER, LEGACY_EXPORTER, MAX_OPSETS, export_model
from samptx_hf.onnx.layout import (
    CLASS_EMBEDDINGS_FILE,
    DECODER,
    DECODER_MULTIMASK,
    IMAGE_ENCODER,
    TEXT_ENCODER,
    TRUNK,
    ExportLayout,
    GraphSpec,
    decoder_prompt,
)

TOLERANCE = 1e-4  # float32, another CPU in CI


def _run(folder, layout: ExportLayout, role: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    spec = layout.graphs[role]
    session = ort.InferenceSession(str(folder / spec.file), providers=["CPUExecutionProvider"])
    outputs = session.run(spec.outputs, {name: inputs[name] for name in spec.inputs})
    return dict(zip(spec.outputs, outputs, strict=True))


def _close(actual: np.ndarray, expected: torch.Tensor) -> None:
    expected = expected.detach().float().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


def _image_features(model, folder, layout, pixel_values, text_embeds):
    """The image-encoder graphs' outputs for rows of (image, class), through the trunk when there is one."""
    inputs = {"pixel_values": pixel_values.numpy(), "text_embeds": text_embeds.numpy()}
    if layout.has_trunk:
        inputs.update(_run(folder, layout, TRUNK, inputs))
    return _run(folder, layout, IMAGE_ENCODER, inputs)


def test_layout_describes_the_model(exported):
    model, folder, layout = exported
    base = model.get_base_model()
    assert ExportLayout.load(folder) == layout
    assert layout.base == ("sam2" if base.config.sam_config.model_type == "sam2" else "sam")
    assert layout.text_injection == base.config.text_injection
    assert layout.has_trunk == (layout.method in ("parallel_text",))
    assert layout.image_encoder_reads_text == ("text_embeds" in layout.graphs[IMAGE_ENCODER].inputs)
    assert layout.decoder_reads_text == ("text_embeds" in layout.graphs[DECODER].inputs)
    assert ("presence_logits" in layout.graphs[DECODER].outputs) == layout.presence_head
    stored = np.load(folder / CLASS_EMBEDDINGS_FILE)
    _close(stored, base.encode_text(CLASS_NAMES))


def test_layout_names_the_exporter_that_ran(exported):
    _, _, layout = exported
    expected = DYNAMO_EXPORTER if layout.method == "parallel_text" else LEGACY_EXPORTER  # as the fixture asks
    assert layout.exporter == expected


def test_an_unknown_exporter_is_refused_before_anything_is_written(tmp_path):
    model = make_exportable_model("parallel_text", 1)
    with pytest.raises(ValueError, match="exporter='onnx' is not one of dynamo, torchscript"):
        export_model(model, tmp_path / "out", exporter="onnx")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("class_names", "message"),
    [(["cat", " cat"], r"class_names names \['cat'\] more than once"), ("cat", "class_names='cat' is one string")],
)
def test_a_bad_vocabulary_is_refused_before_anything_is_written(tmp_path, class_names, message):
    model = make_exportable_model("decoder_only", 1)
    with pytest.raises(ValueError, match=message):
        export_model(model, tmp_path / "out", class_names=class_names, exporter="torchscript")
    assert not (tmp_path / "out").exists()


def test_image_graphs_match_the_model(exported):
    model, folder, layout = exported
    base = model.get_base_model()
    torch.manual_seed(1)
    pixel_values = torch.randn(3, 3, 64, 64)  # exported with 2 rows
    text_embeds = base.encode_text(["cat", "dog", "a red car"])
    outputs = _image_features(model, folder, layout, pixel_values, text_embeds)
    with torch.no_grad():
        if layout.has_trunk:
            trunk = base.get_image_trunk(pixel_values)
            trunk_outputs = _run(folder, layout, TRUNK, {"pixel_values": pixel_values.numpy()})
            for name, tensor in zip(
                layout.graphs[TRUNK].outputs, [trunk.hidden_states, *trunk.stage_outputs], strict=True
            ):
                _close(trunk_outputs[name], tensor)
        features = base.get_image_embeddings(pixel_values, text_embeds=text_embeds)
    _close(outputs["image_embeddings"], features.image_embeddings)
    for index, level in enumerate(features.high_resolution_features or ()):
        _close(outputs[f"high_res_feats_{index}"], level)


def _prompt_batch(base: str, prompts: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Prompts of one row as `(1, point_batch, n, 2)` points and `(1, point_batch, n)` labels, padded with -10."""
    encoded = [decoder_prompt(base, **prompt) for prompt in prompts]
    length = max(len(labels) for _, labels in encoded)
    points = np.zeros((1, len(encoded), length, 2), dtype=np.float32)
    labels = np.full((1, len(encoded), length), -10, dtype=np.int64)
    for index, (coords, point_labels) in enumerate(encoded):
        points[0, index, : len(coords)] = coords
        labels[0, index, : len(point_labels)] = point_labels
    return points, labels


@pytest.mark.parametrize("multimask", [False, True], ids=["one-mask", "multimask"])
def test_decoder_graph_matches_the_model(exported, multimask):
    model, folder, layout = exported
    base = model.get_base_model()
    torch.manual_seed(2)
    pixel_values = torch.randn(1, 3, 64, 64)
    text_embeds = base.encode_text(["dog"])
    with torch.no_grad():
        features = base.get_image_embeddings(pixel_values, text_embeds=text_embeds)
    feature_inputs = {"image_embeddings": features.image_embeddings.numpy()}
    for index, level in enumerate(features.high_resolution_features or ()):
        feature_inputs[f"high_res_feats_{index}"] = level.numpy()
    role = DECODER_MULTIMASK if multimask else DECODER
    mask_size = layout.low_res_mask_size
    mask_prompt = torch.randn(1, 1, mask_size, mask_size)

    points = torch.tensor([[[10.0, 20.0], [40.0, 30.0]], [[50.0, 12.0], [0.0, 0.0]]])  # 2 prompts, padded
    point_labels = torch.tensor([[1, 0], [1, -10]])
    boxes = torch.tensor([[8.0, 10.0, 40.0, 50.0], [20.0, 4.0, 60.0, 30.0]])
    cases = {  # name: (model keyword arguments, the same prompts as decoder-graph points)
        "points (2 prompts, one padded)": (
            {"input_points": points[None], "input_labels": point_labels[None]},
            [{"points": points[0].numpy(), "labels": [1, 0]}, {"points": points[1, :1].numpy(), "labels": [1]}],
        ),
        "boxes": ({"input_boxes": boxes[None]}, [{"box": box.numpy()} for box in boxes]),
        "points and a box": (
            {"input_points": points[None, :1], "input_labels": point_labels[None, :1], "input_boxes": boxes[None, :1]},
            [{"points": points[0].numpy(), "labels": [1, 0], "box": boxes[0].numpy()}],
        ),
        "class name alone": ({}, [{}]),
        "a mask prompt": ({"input_masks": mask_prompt}, [{}]),
    }
    for name, (model_inputs, prompts) in cases.items():
        with torch.no_grad():
            expected = base(
                image_embeddings=features, text_embeds=text_embeds, multimask_output=multimask, **model_inputs
            )
        graph_points, graph_labels = _prompt_batch(layout.base, prompts)
        has_mask = "input_masks" in model_inputs
        outputs = _run(
            folder,
            layout,
            role,
            {
                **feature_inputs,
                "input_points": graph_points,
                "input_labels": graph_labels,
                "mask_input": (mask_prompt if has_mask else torch.zeros(1, 1, mask_size, mask_size)).numpy(),
                "has_mask_input": np.array([1.0 if has_mask else 0.0], dtype=np.float32),
                "text_embeds": text_embeds.numpy(),
            },
        )
        try:
            _close(outputs["low_res_masks"], expected.pred_masks)
            _close(outputs["iou_scores"], expected.iou_scores)
            if layout.presence_head:
                _close(outputs["presence_logits"], expected.presence_logits)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


def test_decoder_graph_takes_several_rows(exported):
    """Three (image, class) rows at once, each with its own mask prompt switch: row by row the same answers."""
    model, folder, layout = exported
    base = model.get_base_model()
    torch.manual_seed(3)
    pixel_values = torch.randn(3, 3, 64, 64)
    text_embeds = base.encode_text(["cat", "dog", "a red car"])
    features = _image_features(model, folder, layout, pixel_values, text_embeds)
    points, labels = _prompt_batch(layout.base, [{"points": np.array([[30.0, 30.0]]), "labels": [1]}])
    mask_size = layout.low_res_mask_size
    mask_input = np.random.default_rng(0).normal(size=(3, 1, mask_size, mask_size)).astype(np.float32)
    has_mask_input = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    inputs = {
        **features,
        "input_points": np.repeat(points, 3, axis=0),
        "input_labels": np.repeat(labels, 3, axis=0),
        "mask_input": mask_input,
        "has_mask_input": has_mask_input,
        "text_embeds": text_embeds.numpy(),
    }
    batched = _run(folder, layout, DECODER, inputs)
    for row in range(3):
        single = _run(folder, layout, DECODER, {name: value[row : row + 1] for name, value in inputs.items()})
        for name, value in single.items():
            np.testing.assert_allclose(batched[name][row : row + 1], value, rtol=0, atol=TOLERANCE)


def test_text_encoder_graph_matches_the_model(exported):
    model, folder, layout = exported
    if TEXT_ENCODER not in layout.graphs:
        pytest.skip("the text encoder is exported with parallel_text only (the same graph for every method)")
    base = model.get_base_model()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / layout.tokenizer_file))
    prompts = [layout.prompt_template.format(name) for name in ["cat", "a big red car", "dog"]]
    encodings = tokenizer.encode_batch(prompts)
    length = max(len(encoding.ids) for encoding in encodings)
    input_ids = np.full((3, length), layout.pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((3, length), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    outputs = _run(folder, layout, TEXT_ENCODER, {"input_ids": input_ids, "attention_mask": attention_mask})
    _close(outputs["text_embeds"], base.encode_text(["cat", "a big red car", "dog"]))


# ------------------------------------------------------------------ checked first; the folder replaced whole


def _fake_export_graph(module, inputs, output_dir, spec, extra_axes, opset, exporter):
    """`_export_graph` without torch.onnx: the graph file holds its name (the folder logic is what is tested)."""
    (Path(output_dir) / spec.file).write_text(f"graph {spec.file}")
    return LEGACY_EXPORTER


def _refuse_to_export(*args):
    raise AssertionError("a graph was exported before the bad input was refused")


def test_a_class_name_longer_than_the_text_encoder_takes_is_refused_before_any_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_graph", _refuse_to_export)
    model = make_exportable_model("decoder_only", 1)
    with pytest.raises(ValueError, match=r"class prompt 'a photo of a word word .*' is too long: \d+ tokens, at most"):
        export_model(model, tmp_path / "out", class_names=["cat", "word " * 60])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("opset", "exporter", "message"),
    [(99, "dynamo", rf"opset 99 is not supported by the dynamo exporter .* from 17 .* to {MAX_OPSETS['dynamo']}"),
     (MAX_OPSETS["torchscript"] + 1, "torchscript", rf"torchscript exporter .* to {MAX_OPSETS['torchscript']}"),
     (16, "torchscript", "opset 16 is not supported"),
     ("18", "dynamo", "opset '18' is not supported")],
)  # fmt: skip
def test_an_opset_the_exporter_does_not_write_is_refused_before_anything(
    tmp_path, monkeypatch, opset, exporter, message
):
    monkeypatch.setattr(export_module, "_export_graph", _refuse_to_export)
    with pytest.raises(ValueError, match=message):
        export_model(make_exportable_model("decoder_only", 1), tmp_path / "out", opset=opset, exporter=exporter)
    assert list(tmp_path.iterdir()) == []


def test_a_text_encoder_flag_that_is_not_a_bool_is_refused_before_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_graph", _refuse_to_export)
    with pytest.raises(TypeError, match="text_encoder='no' is a str, expected True or False"):
        export_model(make_exportable_model("decoder_only", 1), tmp_path / "out", text_encoder="no")
    assert list(tmp_path.iterdir()) == []


def test_an_export_replaces_an_earlier_one_whole_and_a_failed_one_leaves_it_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_graph", _fake_export_graph)
    output = tmp_path / "out"
    export_model(make_exportable_model("parallel_text", 1), output, class_names=CLASS_NAMES)
    assert (output / "trunk.onnx").exists()  # adapters in the last block: a trunk graph
    umask = os.umask(0o022)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o777 & ~umask  # as a folder made by os.makedirs, not private
    earlier = {path.name: path.read_bytes() for path in output.iterdir()}

    def fail_on_the_decoder(module, inputs, output_dir, spec, *rest):
        if spec.file == "decoder.onnx":
            raise RuntimeError("interrupted")
        return _fake_export_graph(module, inputs, output_dir, spec, *rest)

    monkeypatch.setattr(export_module, "_export_graph", fail_on_the_decoder)
    with pytest.raises(RuntimeError, match="interrupted"):
        export_model(make_exportable_model("decoder_only", 1), output)
    assert {path.name: path.read_bytes() for path in output.iterdir()} == earlier
    assert [path.name for path in tmp_path.iterdir()] == ["out"]  # no partial folder left beside it

    monkeypatch.setattr(export_module, "_export_graph", _fake_export_graph)
    layout = export_model(make_exportable_model("decoder_only", 1), output, text_encoder=False)
    assert ExportLayout.load(output) == layout and layout.method == "decoder_only"
    assert sorted(path.name for path in output.iterdir()) == sorted(
        ["config.json", CLASS_EMBEDDINGS_FILE, *(spec.file for spec in layout.graphs.values())]
    )  # no trunk.onnx, text_encoder.onnx or tokenizer.json of the earlier export
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_an_output_folder_that_cannot_hold_the_export_is_refused_before_any_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_graph", _refuse_to_export)
    model = make_exportable_model("decoder_only", 1)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"output_dir '.*notes' holds files and no config.json of an export"):
        export_model(model, tmp_path / "notes")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match=r"output_dir '.*a-file' is a file, expected a folder for the export"):
        export_model(model, tmp_path / "a-file")
    with pytest.raises(ValueError, match=r"output_dir '.*a-file/sub' lies under the file '.*a-file'"):
        export_model(model, tmp_path / "a-file" / "sub")
    if Path("/proc/self").is_dir():  # Linux: /proc takes no new files, whoever runs the tests
        with pytest.raises(ValueError, match=r"output_dir '/proc/v20' cannot be written: '/proc' does not take new"):
            export_model(model, "/proc/v20")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def test_an_earlier_export_beside_other_files_is_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_export_graph", _fake_export_graph)
    output = tmp_path / "out"
    export_model(make_exportable_model("decoder_only", 1), output, text_encoder=False)
    (output / "README.md").write_text("mine")
    with pytest.raises(ValueError, match=r"holds an export and other files \['README.md'\]"):
        export_model(make_exportable_model("decoder_only", 1), output, text_encoder=False)
    assert (output / "README.md").read_text() == "mine"


def test_the_fallback_from_dynamo_to_torchscript_says_why(tmp_path, monkeypatch, caplog):
    def export(module, inputs, path, dynamo, **kwargs):
        if dynamo:
            raise RuntimeError("cannot trace this\nsecond line")
        Path(path).write_text("torchscript graph")

    monkeypatch.setattr(torch.onnx, "export", export)
    spec = GraphSpec("decoder.onnx", ["x"], ["y"])
    with caplog.at_level("WARNING", logger="samptx_hf.onnx.export"):
        exporter = export_module._export_graph(
            torch.nn.Identity(), (torch.zeros(1),), str(tmp_path), spec, {}, 18, "dynamo"
        )
    assert exporter == LEGACY_EXPORTER and (tmp_path / "decoder.onnx").read_text() == "torchscript graph"
    assert caplog.messages == [
        "the dynamo exporter could not export decoder.onnx (RuntimeError: cannot trace this second line); exported "
        "it with TorchScript (torch.onnx.export(dynamo=False)) instead, which gives the same outputs"
    ]
    newest = MAX_OPSETS["torchscript"]
    with pytest.raises(ValueError, match=rf"TorchScript exporter writes opsets up to {newest}, not {newest + 1}"):
        export_module._export_graph(
            torch.nn.Identity(), (torch.zeros(1),), str(tmp_path), spec, {}, newest + 1, "dynamo"
        )
