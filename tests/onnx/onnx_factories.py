"""Tiny SAM-PTx models to export, for the ONNX tests (not in conftest.py: `from conftest import ...` finds whichever
test folder's conftest was imported last)."""

import torch
from factories import make_model
from peft import get_peft_model

from samptx_hf import peft_config_for, text_injection_for

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
