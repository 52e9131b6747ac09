"""Tiny SAM-PTx models of every method on both bases, exported once per (base, method) for the ONNX tests."""

import pytest
import torch
from factories import make_model
from peft import get_peft_model

from samptx_hf import peft_config_for, text_injection_for
from samptx_hf.onnx.export import export_model

METHODS = ("parallel_text", "parallel_adapter", "decoder_only", "text_prompt_encoder", "text_mask_decoder")
SAM_VERSIONS = (1, 2)
CLASS_NAMES = ["cat", "dog"]


def make_exportable_model(method: str, sam_version: int, presence_head: bool = True, seed: int = 0):
    """A tiny peft model of `method` (adapters in the last block, so the image encoder splits into a trunk and the
    text blocks), with trained-looking adapters, text projection and presence head; in eval mode."""
    model = make_model(
        seed=seed,
        sam_version=sam_version,
        text_injection=text_injection_for(method).value,
        presence_head=presence_head,
    )
    config = peft_config_for(method, r=4, adapter_layers="last:1")
    config.init_weights = False
    peft_model = get_peft_model(model, config).eval()
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "text_prompt_projection" in name or "parallel_text_up" in name or "presence" in name:
                parameter.add_(0.5 * torch.randn_like(parameter))
    return peft_model


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
