"""The reference form of the Parallel-Text adapter (the authors' code), option by option, and the text embedding
of the authors (`subtract_empty_prompt`)."""

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factories import make_batch, make_model
from hub_factories import make_image
from peft import get_peft_model
from torch import nn
from transformers import CLIPTextModelWithProjection, SamVisionConfig
from transformers.models.sam.modeling_sam import SamVisionLayer

from samptx_hf import ParallelTextConfig, SamPtxForTextSegmentation, text_conditioning
from samptx_hf.modeling.methods import REFERENCE_FORM_OPTIONS, peft_config_for
from samptx_hf.modeling.tiny import tiny_clip_tokenizer
from samptx_hf.pretrained import resolve_component
from samptx_hf.processing.class_prompts import EMPTY_PROMPT_TEMPLATES
from samptx_hf.tuners.parallel_text import ParallelTextAttentionLayer, ParallelTextLayer


class OneViTBBlock(nn.Module):
    """`vision_encoder.layers.0` of SAM ViT-B, alone (the names the adapter targets)."""

    def __init__(self) -> None:
        super().__init__()
        config = SamVisionConfig(hidden_size=768, mlp_dim=3072, num_attention_heads=12, window_size=14)
        config._attn_implementation = "eager"
        self.vision_encoder = nn.Module()
        self.vision_encoder.layers = nn.ModuleList([SamVisionLayer(config, window_size=14)])


def adapter_parameters(module: nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if "parallel_text_" in name)


def test_reference_form_has_the_authors_parameter_count_at_vit_b():
    peft_block = get_peft_model(OneViTBBlock(), peft_config_for("parallel_text", form="reference", text_dim=512))
    layer = peft_block.base_model.model.vision_encoder.layers[0]
    assert adapter_parameters(layer.mlp) == 689_856  # 768 -> 192 -> 768, and the text 512 -> 768 with bias
    assert adapter_parameters(layer.attn) == 295_872  # 768 -> 192 -> 768
    assert adapter_parameters(layer) == 985_728  # per block; x 12 blocks = 11,828,736 at ViT-B
    text_free = get_peft_model(OneViTBBlock(), peft_config_for("parallel_adapter", form="reference"))
    assert adapter_parameters(text_free) == 985_728 - 393_984  # no text projection


def test_presets_name_each_option():
    reference = peft_config_for("parallel_text", form="reference")
    for option, value in REFERENCE_FORM_OPTIONS.items():
        assert getattr(reference, option) == value
    assert peft_config_for("parallel_adapter", form="reference").use_text is False
    adaptformer = peft_config_for("parallel_text", r=16, scaling=0.5)
    assert (adaptformer.text_path, adaptformer.attention_adapter, adaptformer.init_weights) == (
        "bottleneck",
        False,
        True,
    )
    ablation = peft_config_for(
        "parallel_text", form="reference", attention_adapter=False, pad_windows_before_norm=False
    )
    assert not ablation.attention_adapter and ablation.text_path == "input"
    with pytest.raises(ValueError, match="adapter form 'authors' is not one of"):
        peft_config_for("parallel_text", form="authors")


def test_a_width_scale_or_activation_given_replaces_that_value_of_the_reference_form():
    given = peft_config_for("parallel_text", form="reference", r=8, scaling=0.2)
    assert (given.r, given.bottleneck_ratio, given.scaling, given.activation) == (8, None, 0.2, "gelu")
    assert given.attention_adapter and given.text_path == "input"  # the rest of the form stays
    peft_block = get_peft_model(OneViTBBlock(), peft_config_for("parallel_adapter", form="reference", r=8))
    layer = peft_block.base_model.model.vision_encoder.layers[0]
    assert adapter_parameters(layer.attn) == 768 * 8 + 8 + 8 * 768 + 768  # 768 -> 8 -> 768, not 768 -> 192
    assert peft_config_for("parallel_text", form="reference", activation="relu").activation == "relu"


def test_training_flags_size_the_adaptformer_form_and_replace_only_what_is_given_of_the_reference_form():
    from samptx_hf.training import ModelArguments

    tiny = {"sam_model_name_or_path": "tiny-random", "text_model_name_or_path": "tiny-random"}
    adaptformer = ModelArguments(**tiny)
    assert (adaptformer.adapter_r, adaptformer.adapter_scaling, adaptformer.adapter_activation) == (16, 0.5, "relu")
    reference = ModelArguments(**tiny, adapter_form="reference", adapter_scaling=0.2)
    assert (reference.adapter_r, reference.adapter_scaling, reference.adapter_activation) == (None, 0.2, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text_path": "output"}, "text_path='output' is not one of"),
        ({"bottleneck_ratio": 0}, "bottleneck_ratio must be in \\(0, 1\\]"),
        ({"init_weights": "xavier"}, "init_weights='xavier', expected True"),
        ({"pad_windows_before_norm": True}, "pad_windows_before_norm=True needs attention_adapter=True"),
    ],
)
def test_config_rejects_bad_reference_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ParallelTextConfig(**kwargs)


def test_mlp_side_adds_the_activated_text_to_the_branch_input():
    config = ParallelTextConfig(text_path="input", bottleneck_ratio=0.25, scaling=0.5, activation="gelu", text_dim=5)
    config.init_weights = "pytorch"
    mlp = nn.Sequential()
    mlp.lin1, mlp.lin2 = nn.Linear(16, 32), nn.Linear(32, 16)
    layer = ParallelTextLayer(mlp, "default", config)
    assert layer.parallel_text_down["default"].out_features == 4  # 0.25 x 16
    assert layer.parallel_text_up["default"].weight.abs().sum() > 0  # PyTorch's init, not zero
    hidden, text = torch.randn(2, 3, 3, 16), torch.randn(2, 5)
    with torch.no_grad(), text_conditioning(text):
        result = layer(hidden)
        down, up, text_projection = (
            getattr(layer, f"parallel_text_{name}")["default"] for name in ("down", "up", "text")
        )
        branch_input = hidden + F.gelu(text_projection(text))[:, None, None, :]
        expected = mlp(hidden) + 0.5 * up(F.gelu(down(branch_input)))
    torch.testing.assert_close(result, expected)


def test_zero_initialised_reference_starts_at_sam_only_without_the_attention_adapter(batch):
    text_embeds = torch.randn(batch["pixel_values"].shape[0], 12)
    model = make_model()
    with torch.no_grad():
        base = model(**{k: batch[k] for k in ("pixel_values", "input_points", "input_labels")}, text_embeds=text_embeds)
    for attention_adapter, equal in ((False, True), (True, False)):
        config = peft_config_for(
            "parallel_text",
            form="reference",
            init_weights=True,
            attention_adapter=attention_adapter,
            pad_windows_before_norm=attention_adapter,
        )
        peft_model = get_peft_model(make_model(), config).eval()
        inputs = {k: batch[k] for k in ("pixel_values", "input_points", "input_labels")}
        with torch.no_grad():
            adapted = peft_model(**inputs, text_embeds=text_embeds)
        # Zero branches; the attention-side skip still scales attention by 1 + s.
        difference = ((adapted.pred_masks - base.pred_masks).abs().max() / base.pred_masks.abs().max()).item()
        assert difference < 1e-5 if equal else difference > 1e-3


def test_reference_form_trains_the_prompt_encoder_but_not_its_fourier_features():
    peft_model = get_peft_model(make_model(), peft_config_for("parallel_text", form="reference"))
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    assert any(".prompt_encoder.modules_to_save.default.point_embed" in name for name in trainable)
    assert not any("shared_embedding" in name for name in trainable)
    assert any(".attn.parallel_text_down.default" in name for name in trainable)
    loss = peft_model(**make_batch(), text_embeds=torch.randn(2, 12)).loss
    loss.backward()
    attention = peft_model.base_model.model.sam.vision_encoder.layers[0].attn
    assert isinstance(attention, ParallelTextAttentionLayer) and not attention.reads_text
    assert attention.parallel_text_down["default"].weight.grad.abs().sum() > 0


def test_reference_form_on_sam2_adapts_every_hiera_block_at_its_stage_width():
    model = make_model(sam_version=2)
    peft_model = get_peft_model(model, peft_config_for("parallel_text", form="reference")).eval()
    layers = [m for m in peft_model.modules() if isinstance(m, ParallelTextLayer)]
    blocks = peft_model.base_model.model.sam.vision_encoder.backbone.blocks
    assert len(layers) == 2 * len(blocks)
    for block in blocks:
        assert block.attn.parallel_text_down["default"].out_features == int(block.dim_out * 0.25)
        assert block.mlp.parallel_text_down["default"].out_features == int(block.dim_out * 0.25)
    batch = make_batch()
    inputs = {k: batch[k] for k in ("pixel_values", "input_points", "input_labels")}
    text = torch.randn(2, 12)
    with torch.no_grad():
        first = peft_model(**inputs, text_embeds=text).pred_masks
        swapped = peft_model(**inputs, text_embeds=text.flip(0)).pred_masks
    assert not torch.allclose(first, swapped)


def test_an_adapter_saved_before_the_reference_options_loads_and_segments_as_before(adapter_repo, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(adapter_repo, old)
    adapter_config = json.loads((old / "adapter_config.json").read_text())
    for option in ("text_path", "bottleneck_ratio", "attention_adapter", "pad_windows_before_norm"):
        del adapter_config[option]  # what adapter_config.json held before the options existed
    (old / "adapter_config.json").write_text(json.dumps(adapter_config))
    config = json.loads((old / "config.json").read_text())
    del config["subtract_empty_prompt"]
    (old / "config.json").write_text(json.dumps(config))
    image = make_image()
    expected = SamPtxForTextSegmentation.from_pretrained(adapter_repo).segment(image, "red", points=[(20, 20)])
    model = SamPtxForTextSegmentation.from_pretrained(old)
    assert model.peft_config["default"].text_path == "bottleneck" and not model.config.subtract_empty_prompt
    result = model.segment(image, "red", points=[(20, 20)])
    np.testing.assert_array_equal(result.mask, expected.mask)
    assert result.score == pytest.approx(expected.score, rel=1e-6)


def test_authors_text_embedding_equals_a_direct_computation():
    model = make_model(prompt_template="{}", subtract_empty_prompt=True)
    clip = CLIPTextModelWithProjection.from_pretrained(resolve_component("samptx_hf:tiny-clip")).eval()
    model.text_encoder.load_state_dict(clip.state_dict())
    tokenizer = tiny_clip_tokenizer()

    def embed(prompts):
        tokens = tokenizer(prompts, padding=True, return_tensors="pt")
        with torch.no_grad():
            return clip(**tokens).text_embeds

    empty = F.normalize(F.normalize(embed([t.format("") for t in EMPTY_PROMPT_TEMPLATES]), dim=-1).mean(0), dim=0)
    expected = F.normalize(embed(["circle", "striped"]) - empty, dim=-1)
    torch.testing.assert_close(model.encode_text(["circle", "striped"]), expected)
    assert len(EMPTY_PROMPT_TEMPLATES) == 85
    plain = make_model(prompt_template="{}")
    plain.text_encoder.load_state_dict(clip.state_dict())
    assert not torch.allclose(plain.encode_text(["circle"]), expected[:1])


def test_onnx_text_graph_gives_the_authors_text_embedding():
    from samptx_hf.onnx.graphs import TextEncoderGraph

    model = make_model(prompt_template="{}", subtract_empty_prompt=True).eval()
    tokens = model.get_tokenizer()(["circle", "striped"], padding=True, return_tensors="pt")
    with torch.no_grad():
        graph_embeds = TextEncoderGraph(model)(tokens["input_ids"], tokens["attention_mask"])
    torch.testing.assert_close(graph_embeds, model.encode_text(["circle", "striped"]))


@pytest.mark.slow
def test_training_with_the_reference_form_and_text_saves_an_adapter_that_loads(tmp_path):
    from samptx_hf.training import DataArguments, ModelArguments, SamPtxTrainingArguments, train

    model_args = ModelArguments(
        sam_model_name_or_path="tiny-random",
        text_model_name_or_path="tiny-random",
        tiny_image_size=64,
        tiny_hidden_size=32,
        tiny_num_layers=2,
        adapter_form="reference",
        prompt_template="{}",
        subtract_empty_prompt=True,
    )
    training_args = SamPtxTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        warmup_steps=1,
        eval_steps=100,
        checkpointing_steps=100,
        disable_tqdm=True,
    )
    train(model_args, DataArguments(num_train_samples=8, num_eval_samples=4), training_args)
    adapter_config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert adapter_config["attention_adapter"] and adapter_config["text_path"] == "input"
    assert adapter_config["modules_to_save"] == ["mask_decoder", "prompt_encoder"]
    assert json.loads((tmp_path / "config.json").read_text())["subtract_empty_prompt"] is True
