"""The model of a training run: every parameter it trains is reached by the loss of a training step, which
DistributedDataParallel requires (it refuses a trainable parameter without a gradient)."""

import pytest
import torch
from factories import make_batch, make_model
from peft import get_peft_model

from samptx_hf import peft_config_for, text_injection_for
from samptx_hf.training.click_rounds import click_rounds_loss
from samptx_hf.training.modeling import freeze_unprompted_parts


@pytest.mark.parametrize(
    ("method", "form", "rounds", "sam_version", "frozen_parts"),
    [
        ("parallel_text", "adaptformer", 1, 1, set()),  # no trained prompt encoder
        # SAM's box corners, and its mask embedding unless later rounds feed a mask back
        ("parallel_text", "reference", 1, 1, {"mask_embed", "point_embed.2", "point_embed.3"}),
        ("parallel_adapter", "reference", 1, 1, {"mask_embed", "point_embed.2", "point_embed.3"}),
        ("parallel_text", "reference", 3, 1, {"point_embed.2", "point_embed.3"}),
        ("parallel_text", "reference", 1, 2, {"mask_embed"}),  # SAM 2's one point table trains with its point rows
    ],
)
def test_every_trained_parameter_gets_a_gradient_from_one_training_step(
    method, form, rounds, sam_version, frozen_parts
):
    model = make_model(sam_version=sam_version, text_injection=text_injection_for(method).value)
    peft_model = get_peft_model(model, peft_config_for(method, r=4, form=form)).train()
    frozen = freeze_unprompted_parts(peft_model, rounds)
    inputs = {**make_batch(batch_size=3), "text_embeds": model.encode_text(["cat", "dog", "cat"])}

    loss = click_rounds_loss(peft_model, inputs, rounds, valid_sizes=torch.tensor([[64, 64]] * 3))
    loss.backward()

    without_gradient = [
        name for name, parameter in peft_model.named_parameters() if parameter.requires_grad and parameter.grad is None
    ]
    assert without_gradient == []
    assert {_part(name) for name in frozen} == frozen_parts


def _part(name: str) -> str:
    """`mask_embed.conv1.weight` -> `mask_embed`; `point_embed.2.weight` -> `point_embed.2`."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "point_embed" else parts[0]
