"""Methods as adapter configurations, and where their adapters go."""

import pytest
from factories import make_model
from peft import get_peft_model
from peft.utils.constants import DUMMY_TARGET_MODULES

from samptx_hf import ParallelTextLayer, parse_adapter_layers, peft_config_for
from samptx_hf.training import ModelArguments
from samptx_hf.training.modeling import build_peft_model, save_tiny_random_components


@pytest.mark.parametrize(
    ("value", "expected"),
    [("all", None), (None, None), ("last:2", [-2, -1]), ("4, 5,6", [4, 5, 6]), ("-1", [-1]), ([0, 3], [0, 3])],
)
def test_parse_adapter_layers(value, expected):
    assert parse_adapter_layers(value) == expected


@pytest.mark.parametrize("value", ["last:0", "last:x", "last", "1,,2", "first:2", "", [], [1.0]])
def test_parse_adapter_layers_rejects_anything_else(value):
    with pytest.raises(ValueError, match=r"adapter_layers=.* expected 'all', 'last:K'"):
        parse_adapter_layers(value)


def test_peft_config_for_places_the_adapters_of_both_adapter_methods():
    for method in ("parallel_text", "parallel_adapter"):
        config = peft_config_for(method, r=4, adapter_layers="last:1")
        peft_model = get_peft_model(make_model(num_hidden_layers=3), config)
        wrapped = [name for name, module in peft_model.named_modules() if isinstance(module, ParallelTextLayer)]
        assert wrapped == ["base_model.model.sam.vision_encoder.layers.2.mlp"]
    assert peft_config_for("decoder_only", adapter_layers="last:1").target_modules == DUMMY_TARGET_MODULES


def test_adapter_layers_flag_is_parsed_and_checked_once():
    args = ModelArguments(adapter_layers="last:2")
    assert args.adapter_layers == "last:2" and args.layers_to_transform == [-2, -1]
    with pytest.raises(ValueError, match=r"argument --adapter_layers: adapter_layers='last:two' is not understood"):
        ModelArguments(adapter_layers="last:two")
    # A block named twice: the check of ParallelTextConfig, the one owner of it, in the flag's form.
    with pytest.raises(
        ValueError, match=r"argument --adapter_layers: .*layers_to_transform=\[1, 1\] names a block twice"
    ):
        ModelArguments(adapter_layers="1,1")


def test_training_builds_the_adapters_in_the_blocks_of_the_flag(tmp_path):
    args = ModelArguments(
        sam_model_name_or_path="tiny-random",
        text_model_name_or_path="tiny-random",
        adapter_layers="last:1",
        adapter_r=4,
        tiny_image_size=64,
        tiny_hidden_size=32,
        tiny_num_layers=3,
    )
    sam_path, clip_path = save_tiny_random_components(args, tmp_path, seed=0)
    peft_model = build_peft_model(args, sam_path, clip_path)
    wrapped = [name for name, module in peft_model.named_modules() if isinstance(module, ParallelTextLayer)]
    last = args.tiny_num_layers - 1
    assert wrapped == [f"base_model.model.sam.vision_encoder.layers.{last}.mlp"]
    assert peft_model.peft_config["default"].layers_to_transform == [last]
