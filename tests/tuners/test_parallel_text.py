import copy
import subprocess
import sys

import pytest
import torch
from factories import make_batch, make_model
from peft import PeftConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import SamModel
from transformers.models.sam.modeling_sam import SamMLPBlock

from samptx_hf import ParallelTextConfig, ParallelTextLayer, SamPtxPeftType, text_conditioning
from samptx_hf.modeling.tiny import tiny_sam_config

NUM_LAYERS = 2


def prompts(batch):
    return {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}


def trained_peft_model(seed=0, **config_kwargs):
    model = make_model(seed=seed)
    peft_model = get_peft_model(model, ParallelTextConfig(r=4, init_weights=False, **config_kwargs))
    return peft_model.eval()


def test_wraps_every_image_encoder_mlp_and_nothing_else():
    peft_model = get_peft_model(make_model(), ParallelTextConfig(r=4))
    wrapped = [name for name, module in peft_model.named_modules() if isinstance(module, ParallelTextLayer)]
    assert wrapped == [f"base_model.model.sam.vision_encoder.layers.{i}.mlp" for i in range(NUM_LAYERS)]
    decoder_mlps = [m for n, m in peft_model.named_modules() if "mask_decoder" in n and isinstance(m, SamMLPBlock)]
    assert decoder_mlps  # the decoder's SamMLPBlocks stay plain
    attention = peft_model.base_model.model.sam.vision_encoder.layers[0].attn
    assert not any(isinstance(m, ParallelTextLayer) for m in attention.modules())


def test_text_dim_is_read_from_the_samptx_config_and_checked():
    peft_model = get_peft_model(make_model(), ParallelTextConfig(r=4))
    assert peft_model.peft_config["default"].text_dim == 12
    with pytest.raises(ValueError, match="text_dim=7 does not match"):
        get_peft_model(make_model(), ParallelTextConfig(r=4, text_dim=7))


def test_adapts_a_plain_transformers_sam_model_with_text_conditioning():
    torch.manual_seed(0)
    sam = SamModel(tiny_sam_config()).eval()
    peft_sam = get_peft_model(sam, ParallelTextConfig(r=4, text_dim=5, init_weights=False)).eval()
    pixel_values = torch.randn(2, 3, 64, 64)
    text_embeds = torch.randn(2, 5)
    with torch.no_grad(), text_conditioning(text_embeds):
        first = peft_sam.vision_encoder(pixel_values).last_hidden_state
        again = peft_sam.vision_encoder(pixel_values).last_hidden_state
    with torch.no_grad(), text_conditioning(text_embeds.flip(0)):
        swapped = peft_sam.vision_encoder(pixel_values).last_hidden_state
    assert torch.equal(first, again)
    assert not torch.allclose(first, swapped)


def test_each_sample_sees_only_its_own_text():
    layer = trained_peft_model().base_model.model.sam.vision_encoder.layers[0].mlp
    hidden = torch.randn(3, 4, 4, 32)
    text_embeds = torch.randn(3, 12)
    with torch.no_grad(), text_conditioning(text_embeds):
        together = layer(hidden)
    for i in range(3):
        with torch.no_grad(), text_conditioning(text_embeds[i : i + 1]):
            alone = layer(hidden[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone)


def test_layer_computes_the_documented_formula():
    layer = trained_peft_model(scaling=0.5, activation="gelu").base_model.model.sam.vision_encoder.layers[0].mlp
    hidden, text_embeds = torch.randn(2, 4, 4, 32), torch.randn(2, 12)
    down, text, up = (getattr(layer, f"parallel_text_{n}")["default"] for n in ("down", "text", "up"))
    expected = layer.base_layer(hidden) + 0.5 * up(
        torch.nn.functional.gelu(down(hidden) + text(text_embeds)[:, None, None, :])
    )
    with torch.no_grad(), text_conditioning(text_embeds):
        torch.testing.assert_close(layer(hidden), expected)


def test_parallel_adapter_baseline_needs_no_text():
    peft_model = trained_peft_model(use_text=False)
    assert not any("parallel_text_text" in name for name, _ in peft_model.named_parameters())
    batch = make_batch()
    with torch.no_grad():
        output = peft_model(**prompts(batch))
    assert output.pred_masks.shape == (2, 1, 1, 32, 32)


def test_missing_or_mismatched_text_raises_a_clear_error():
    layer = trained_peft_model().base_model.model.sam.vision_encoder.layers[0].mlp
    hidden = torch.randn(2, 4, 4, 32)
    with pytest.raises(ValueError, match="uses text .* but this forward pass has no text"):
        layer(hidden)
    with (
        text_conditioning(torch.randn(3, 12)),
        pytest.raises(ValueError, match="batch size 3 .* batch size 2"),
    ):
        layer(hidden)
    with (
        text_conditioning(torch.randn(2, 9)),
        pytest.raises(ValueError, match="width 9, expected text_dim=12"),
    ):
        layer(hidden)
    with pytest.raises(ValueError, match=r"shape \(batch, text_dim\)"), text_conditioning(torch.randn(12)):
        pass


def test_save_holds_only_adapter_weights_and_loads_to_identical_outputs(tmp_path):
    peft_model = trained_peft_model()
    # Loaded adapters are frozen (inference mode); on CPU, torch picks its linear kernel for non-contiguous
    # inputs by requires_grad, so compare in the same state.
    peft_model.requires_grad_(False)
    batch = make_batch()
    text_embeds = torch.randn(2, 12)
    with torch.no_grad():
        expected = peft_model(**prompts(batch), text_embeds=text_embeds)
    peft_model.save_pretrained(tmp_path)

    weights = load_file(tmp_path / "adapter_model.safetensors")
    assert all(".parallel_text_" in key or "mask_decoder" in key for key in weights)
    assert not any("vision_encoder" in key and ".parallel_text_" not in key for key in weights)
    assert not any("text_encoder" in key or "prompt_encoder" in key for key in weights)
    adapter_bytes = (tmp_path / "adapter_model.safetensors").stat().st_size
    base_bytes = sum(p.numel() * p.element_size() for p in peft_model.get_base_model().parameters())
    print(f"adapter file: {adapter_bytes} bytes; base model parameters: {base_bytes} bytes")
    assert adapter_bytes < base_bytes / 2

    config = PeftConfig.from_pretrained(tmp_path)
    assert isinstance(config, ParallelTextConfig) and config.peft_type == SamPtxPeftType.PARALLEL_TEXT
    fresh_base = make_model(seed=0)  # same frozen base, fresh process-equivalent model
    loaded = PeftModel.from_pretrained(fresh_base, tmp_path).eval()
    with torch.no_grad():
        actual = loaded(**prompts(batch), text_embeds=text_embeds)
    # another model instance: equal to float32 rounding (docs/method.md, what is bit-exact)
    torch.testing.assert_close(actual.pred_masks, expected.pred_masks)
    torch.testing.assert_close(actual.iou_scores, expected.iou_scores)


def test_several_named_adapters_load_switch_and_delete(tmp_path):
    batch = make_batch()
    text_embeds = torch.randn(2, 12)
    first, second = (
        trained_peft_model(seed=1).requires_grad_(False),
        trained_peft_model(seed=2).requires_grad_(False),
    )
    first.save_pretrained(tmp_path / "first")
    second.save_pretrained(tmp_path / "second")
    with torch.no_grad():
        expected = {
            name: model(**prompts(batch), text_embeds=text_embeds).pred_masks
            for name, model in (("first", first), ("second", second))
        }

    # Both were trained on the same frozen base (seed 1 and 2 only change the adapters' random init).
    base = make_model(seed=1)
    model = PeftModel.from_pretrained(base, tmp_path / "first", adapter_name="first")
    model.load_adapter(tmp_path / "second", adapter_name="second")
    model.eval()
    for name in ("first", "second"):
        model.set_adapter(name)
        model.requires_grad_(False)  # set_adapter makes the adapter trainable; compare in the frozen state
        with torch.no_grad():
            actual = model(**prompts(batch), text_embeds=text_embeds).pred_masks
        if name == "first":
            torch.testing.assert_close(actual, expected[name])
        else:  # trained on another random base (seed 2): same adapter, different frozen weights
            assert not torch.equal(actual, expected["first"])
    model.delete_adapter("second")
    assert list(model.peft_config) == ["first"]
    layer = model.base_model.model.sam.vision_encoder.layers[0].mlp
    assert "second" not in layer.parallel_text_down and "second" not in layer.use_text


def test_second_adapter_is_created_frozen_and_set_adapter_makes_it_trainable():
    model = get_peft_model(make_model(), ParallelTextConfig(r=4), adapter_name="shapes")
    model.add_adapter("plain", ParallelTextConfig(r=2, use_text=False))
    layer = model.base_model.model.sam.vision_encoder.layers[0].mlp
    assert layer.parallel_text_down["shapes"].weight.requires_grad
    assert not layer.parallel_text_down["plain"].weight.requires_grad
    model.set_adapter("plain")
    assert layer.parallel_text_down["plain"].weight.requires_grad
    assert not layer.parallel_text_down["shapes"].weight.requires_grad
    assert layer.parallel_text_down["plain"].out_features == 2


def test_unload_gives_back_the_plain_sam_modules_and_outputs():
    model = make_model().eval()
    batch = make_batch()
    with torch.no_grad():
        expected = model(**prompts(batch)).pred_masks
    peft_model = get_peft_model(copy.deepcopy(model), ParallelTextConfig(r=4, init_weights=False, use_text=False))
    unloaded = peft_model.unload().eval()
    assert all(type(layer.mlp) is SamMLPBlock for layer in unloaded.sam.vision_encoder.layers)
    assert not any(".parallel_text_" in name for name, _ in unloaded.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(unloaded(**prompts(batch)).pred_masks, expected)  # another instance


def test_merging_is_refused_with_a_clear_error():
    peft_model = trained_peft_model()
    with pytest.raises(TypeError, match="cannot be merged"):
        peft_model.merge_and_unload()
    with pytest.raises(TypeError, match="cannot be merged"):
        peft_model.base_model.model.sam.vision_encoder.layers[0].mlp.merge()


def test_adapters_follow_dtype_and_device_moves():
    peft_model = trained_peft_model().to(torch.float64)
    layer = peft_model.base_model.model.sam.vision_encoder.layers[0].mlp
    assert layer.parallel_text_down["default"].weight.dtype == torch.float64
    batch = {k: (v.double() if v.is_floating_point() else v) for k, v in prompts(make_batch()).items()}
    with torch.no_grad():
        output = peft_model(**batch, text_embeds=torch.randn(2, 12, dtype=torch.float64))
    assert output.pred_masks.dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"r": 0}, "r must be a positive integer"),
        ({"r": 2.5}, "r must be a positive integer"),
        ({"scaling": float("nan")}, "scaling must be a finite number"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"activation": "swishy"}, "activation='swishy' is not a known activation"),
        ({"text_dim": -1}, "text_dim must be a positive integer"),
        ({"layers_to_transform": []}, "layers_to_transform must be a block index or a non-empty list"),
        ({"layers_to_transform": [1, "2"]}, "layers_to_transform must be a block index or a non-empty list"),
        ({"layers_to_transform": [1, 1]}, r"layers_to_transform=\[1, 1\] names a block twice"),
        ({"layers_pattern": "layers"}, "layers_pattern='layers' needs layers_to_transform"),
        ({"layers_to_transform": 0, "layers_pattern": [""]}, "layers_pattern must be a name or a list of names"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ParallelTextConfig(**kwargs)


@pytest.mark.slow
def test_peft_sees_the_method_after_importing_samptx_only():
    code = (
        "import samptx_hf, peft;"
        "from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING;"
        "assert PEFT_TYPE_TO_TUNER_MAPPING['PARALLEL_TEXT'] is samptx_hf.ParallelTextModel;"
        "c = peft.PeftConfig.from_peft_type(peft_type='PARALLEL_TEXT', r=3);"
        "assert isinstance(c, samptx_hf.ParallelTextConfig) and c.peft_type.value == 'PARALLEL_TEXT'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def adapted_blocks(peft_model):
    return [
        int(name.split(".layers.")[1].split(".")[0])
        for name, module in peft_model.named_modules()
        if isinstance(module, ParallelTextLayer)
    ]


@pytest.mark.parametrize(
    ("config_kwargs", "expected_blocks", "saved"),
    [
        ({"layers_to_transform": [-2, -1]}, [2, 3], [2, 3]),  # from the end, resolved and saved absolute
        ({"layers_to_transform": 1}, [1], 1),
        ({"layers_to_transform": [3, 0], "layers_pattern": "layers"}, [0, 3], [0, 3]),
        # peft's own convention: a list of target names with layers_to_transform
        ({"target_modules": ["mlp"], "layers_to_transform": [-1], "layers_pattern": "layers"}, [3], [3]),
    ],
)
def test_layers_to_transform_places_adapters_in_those_blocks_only(tmp_path, config_kwargs, expected_blocks, saved):
    config = ParallelTextConfig(r=4, init_weights=False, **config_kwargs)
    peft_model = get_peft_model(make_model(num_hidden_layers=4), config).eval()
    assert adapted_blocks(peft_model) == expected_blocks
    assert not any(isinstance(m, ParallelTextLayer) for n, m in peft_model.named_modules() if "mask_decoder" in n)
    assert peft_model.peft_config["default"].layers_to_transform == saved

    peft_model.requires_grad_(False)
    batch, text_embeds = make_batch(), torch.randn(2, 12)
    with torch.no_grad():
        expected = peft_model(**prompts(batch), text_embeds=text_embeds).pred_masks
    peft_model.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(make_model(num_hidden_layers=4), tmp_path).eval()
    assert adapted_blocks(loaded) == expected_blocks
    with torch.no_grad():
        torch.testing.assert_close(loaded(**prompts(batch), text_embeds=text_embeds).pred_masks, expected)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([4], r"layers_to_transform=\[4\] names blocks \[4\] that do not exist: .* blocks 0..3 \(4 blocks; -4..-1"),
        ([-5, -1], r"names blocks \[-5\] that do not exist: the targeted modules lie in blocks 0..3"),
        ([0, -4], r"names a block twice \(as \[0, 0\] of blocks 0..3\)"),
    ],
)
def test_layers_to_transform_outside_the_model_names_the_blocks_that_exist(layers, message):
    with pytest.raises(ValueError, match=message):
        get_peft_model(make_model(num_hidden_layers=4), ParallelTextConfig(r=4, layers_to_transform=layers))


def test_layers_pattern_that_matches_no_block_is_refused():
    config = ParallelTextConfig(r=4, layers_to_transform=[0], layers_pattern="blocks")
    with pytest.raises(ValueError, match="lie in no numbered block of layers_pattern='blocks'"):
        get_peft_model(make_model(), config)
