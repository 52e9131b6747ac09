"""Tiny SAM-PTx models of every method on both bases, exported once per (base, method) for the ONNX tests."""

import pytest
from onnx_factories import CLASS_NAMES, METHODS, SAM_VERSIONS, make_exportable_model

from samptx_hf.onnx.export import export_model


@pytest.fixture(
    scope="session", params=[(v, m) for v in SAM_VERSIONS for m in METHODS], ids=lambda p: f"sam{p[0]}-{p[1]}"
)
def exported(request, tmp_path_factory: pytest.TempPathFactory):
    """(peft model, export folder, layout) for each base and method, exported once for the whole session (the export
    and predictor tests share it; tests only read it). `parallel_text` is exported with torch's dynamo exporter and
    with the text encoder (the same graph for every method); the other methods with the TorchScript exporter, which
    takes seconds where dynamo takes a minute on two cores, so both exporters are held to the same parity."""
    sam_version, method = request.param
    model = make_exportable_model(method, sam_version)
    folder = tmp_path_factory.mktemp(f"export-sam{sam_version}-{method}")
    main_method = method == "parallel_text"
    layout = export_model(
        model,
        folder,
        class_names=CLASS_NAMES,
        text_encoder=main_method,
        exporter="dynamo" if main_method else "torchscript",
    )
    return model, folder, layout
