"""The Parallel-Text tuner on SAM 2's Hiera image encoder: the same peft behaviour as on SAM's ViT."""

import copy

import pytest
import torch
from factories import make_batch, make_model
from peft import PeftModel, get_peft_model
from transformers import Sam2Model
from transformers.models.sam2.modeling_sam2 import Sam2FeedForward

from samptx_hf import ParallelTextConfig, ParallelTextLayer, text_conditioning
from samptx_hf.modeling.tiny import tiny_sam2_config

NUM_BLOCKS = 5  # tiny_sam2_config: 1 + 1 + 2 + 1 Hiera blocks


def prompts(batch):
    return {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}


def trained_peft_model(seed=0, **config_kwargs):
    model = make_model(seed=seed, sam_version=2)
    return get_peft_model(model, ParallelTextConfig(r=4, init_weights=False, **config_kwargs)).eval()


def adapted_blocks(peft_model):
    return [
        int(name.split(".blocks.")[1].split(".")[0])
        for name, module in peft_model.named_modules()
        if isinstance(module, ParallelTextLayer)
    ]


def test_wraps_every_hiera_block_mlp_and_no_decoder_mlp():
    peft_model = get_peft_model(make_model(sam_version=2), ParallelTextConfig(r=4))
    wrapped = [name for name, module in peft_model.named_modules() if isinstance(module, ParallelTextLayer)]
    assert wrapped == [f"base_model.model.sam.vision_encoder.backbone.blocks.{i}.mlp" for i in range(NUM_BLOCKS)]
    decoder = [m for n, m in peft_model.named_modules() if "mask_decoder" in n and isinstance(m, Sam2FeedForward)]
    assert decoder  # the decoder's Sam2FeedForwards stay plain


def test_adapts_a_plain_transformers_sam2_model_with_text_conditioning():
    torch.manual_seed(0)
    sam = Sam2Model(tiny_sam2_config()).eval()
    peft_sam = get_peft_model(sam, ParallelTextConfig(r=4, text_dim=5, init_weights=False)).eval()
    pixel_values, text_embeds = torch.randn(2, 3, 64, 64), torch.randn(2, 5)
    with torch.no_grad(), text_conditioning(text_embeds):
        first = peft_sam.vision_encoder(pixel_values).fpn_hidden_states[-1]
        again = peft_sam.vision_encoder(pixel_values).fpn_hidden_states[-1]
    with torch.no_grad(), text_conditioning(text_embeds.flip(0)):
        swapped = peft_sam.vision_encoder(pixel_values).fpn_hidden_states[-1]
    assert torch.equal(first, again)
    assert not torch.allclose(first, swapped)


def test_layer_on_a_hiera_block_computes_the_documented_formula_and_checks_the_text():
    layer = trained_peft_model().base_model.model.sam.vision_encoder.backbone.blocks[2].mlp
    hidden, text_embeds = torch.randn(2, 4, 4, 32), torch.randn(2, 12)
    down, text, up = (getattr(layer, f"parallel_text_{n}")["default"] for n in ("down", "text", "up"))
    expected = layer.base_layer(hidden) + 0.1 * up(torch.relu(down(hidden) + text(text_embeds)[:, None, None, :]))
    with torch.no_grad(), text_conditioning(text_embeds):
        torch.testing.assert_close(layer(hidden), expected)
    with pytest.raises(ValueError, match="uses text .* but this forward pass has no text"):
        layer(hidden)


def test_unload_gives_back_the_plain_sam2_modules_and_outputs():
    model = make_model(sam_version=2).eval()
    batch = make_batch()
    with torch.no_grad():
        expected = model(**prompts(batch)).pred_masks
    peft_model = get_peft_model(copy.deepcopy(model), ParallelTextConfig(r=4, init_weights=False, use_text=False))
    unloaded = peft_model.unload().eval()
    assert all(type(block.mlp) is Sam2FeedForward for block in unloaded.sam.vision_encoder.backbone.blocks)
    with torch.no_grad():
        torch.testing.assert_close(unloaded(**prompts(batch)).pred_masks, expected)  # another instance


def test_merging_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="cannot be merged"):
        trained_peft_model().merge_and_unload()


def test_several_named_adapters_switch(tmp_path):
    batch, text_embeds = make_batch(), torch.randn(2, 12)
    first = trained_peft_model(seed=1).requires_grad_(False)
    first.save_pretrained(tmp_path / "first")
    with torch.no_grad():
        expected = first(**prompts(batch), text_embeds=text_embeds).pred_masks
    model = PeftModel.from_pretrained(make_model(seed=1, sam_version=2), tmp_path / "first", adapter_name="first")
    model.add_adapter("plain", ParallelTextConfig(r=2, use_text=False))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**prompts(batch), text_embeds=text_embeds).pred_masks, expected)
        model.set_adapter("plain")
        assert not torch.equal(model(**prompts(batch), text_embeds=text_embeds).pred_masks, expected)


@pytest.mark.parametrize(
    ("config_kwargs", "expected_blocks", "saved"),
    [
        ({"layers_to_transform": [-2, -1]}, [3, 4], [3, 4]),
        ({"layers_to_transform": [4, 0], "layers_pattern": "blocks"}, [0, 4], [0, 4]),
        ({"target_modules": ["mlp"], "layers_to_transform": [-1], "layers_pattern": "blocks"}, [4], [4]),
    ],
)
def test_layers_to_transform_counts_hiera_blocks(tmp_path, config_kwargs, expected_blocks, saved):
    peft_model = trained_peft_model(**config_kwargs).requires_grad_(False)
    assert adapted_blocks(peft_model) == expected_blocks
    assert peft_model.peft_config["default"].layers_to_transform == saved
    batch, text_embeds = make_batch(), torch.randn(2, 12)
    with torch.no_grad():
        expected = peft_model(**prompts(batch), text_embeds=text_embeds).pred_masks
    peft_model.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(make_model(sam_version=2), tmp_path).eval()
    assert adapted_blocks(loaded) == expected_blocks
    with torch.no_grad():
        torch.testing.assert_close(loaded(**prompts(batch), text_embeds=text_embeds).pred_masks, expected)


def test_layers_to_transform_outside_the_hiera_names_its_blocks():
    with pytest.raises(ValueError, match=r"names blocks \[5\] that do not exist: .* blocks 0..4 \(5 blocks"):
        get_peft_model(make_model(sam_version=2), ParallelTextConfig(r=4, layers_to_transform=[5]))


def test_the_object_score_head_that_no_loss_trains_stays_frozen_and_is_saved_as_the_base_has_it(tmp_path):
    peft_model = trained_peft_model()
    base_head = copy.deepcopy(peft_model.get_base_model().sam.mask_decoder.original_module.pred_obj_score_head)
    trainable = {name for name, parameter in peft_model.named_parameters() if parameter.requires_grad}
    decoder_copy = "sam.mask_decoder.modules_to_save.default."
    assert not any("pred_obj_score_head" in name for name in trainable)
    assert any(decoder_copy + "obj_score_token" in name for name in trainable)  # read by the mask tokens: trained
    assert any(decoder_copy + "iou_prediction_head" in name for name in trainable)

    batch = make_batch(batch_size=2)
    loss = peft_model.train()(
        **prompts(batch), text_embeds=torch.randn(2, peft_model.config.text_dim), labels=batch["labels"]
    ).loss
    loss.backward()
    assert all(parameter.grad is not None for name, parameter in peft_model.named_parameters() if name in trainable)

    peft_model.save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(make_model(seed=1, sam_version=2), tmp_path)
    head = reloaded.get_base_model().sam.mask_decoder.modules_to_save["default"].pred_obj_score_head
    for saved, original in zip(head.state_dict().values(), base_head.state_dict().values(), strict=True):
        assert torch.equal(saved, original)
