import warnings

import pytest
import torch
from factories import make_batch, make_model
from peft import get_peft_model
from transformers import AutoModel, CLIPConfig, CLIPModel, SamModel

from samptx_hf import ParallelTextConfig, SamPtxForTextSegmentation, SamPtxSegmentationOutput
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_samptx_config


def prompts(batch):
    return {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}


def train_steps(model, batch, text_embeds, steps=5, lr=1e-2):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(**batch, text_embeds=text_embeds).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return loss


# ----------------------------------------------------------------------------------- equality with SAM


def test_without_adapters_equals_transformers_sam(model, batch):
    reference = SamModel(model.config.sam_config).eval()
    reference.load_state_dict(model.sam.state_dict())
    model.eval()
    with torch.no_grad():
        ours = model(**prompts(batch), text_embeds=torch.randn(2, model.config.text_dim))
        theirs = reference(**prompts(batch), multimask_output=False)
    torch.testing.assert_close(ours.pred_masks, theirs.pred_masks)
    torch.testing.assert_close(ours.iou_scores, theirs.iou_scores)
    # The comparison is not vacuous: the tiny model's outputs depend on the image.
    with torch.no_grad():
        other = model(**{**prompts(batch), "pixel_values": batch["pixel_values"].flip(-1)})
    assert not torch.allclose(ours.image_embeddings, other.image_embeddings, atol=1e-3)
    assert (ours.pred_masks - other.pred_masks).abs().max() > 0.1 * ours.pred_masks.abs().max()


def test_zero_initialised_adapters_start_at_sam(model, batch):
    model.eval()
    text_embeds = torch.randn(2, model.config.text_dim)
    with torch.no_grad():
        before = model(**prompts(batch), text_embeds=text_embeds)
    peft_model = get_peft_model(model, ParallelTextConfig(r=4)).eval()
    with torch.no_grad():
        after = peft_model(**prompts(batch), text_embeds=text_embeds)
    torch.testing.assert_close(before.image_embeddings, after.image_embeddings)
    torch.testing.assert_close(before.pred_masks, after.pred_masks)
    torch.testing.assert_close(before.iou_scores, after.iou_scores)


def test_disable_adapter_after_training_gives_sam(model, batch):
    reference = SamModel(model.config.sam_config).eval()
    reference.load_state_dict(model.sam.state_dict())
    # Frozen like the base weights under peft: on CPU, requires_grad changes kernel choice at the 1e-13 level.
    reference.requires_grad_(False)
    peft_model = get_peft_model(model, ParallelTextConfig(r=4))
    text_embeds = torch.randn(2, model.config.text_dim)
    train_steps(peft_model, batch, text_embeds)
    with torch.no_grad():
        adapted = peft_model(**prompts(batch), text_embeds=text_embeds)
        with peft_model.disable_adapter():
            disabled = peft_model(**prompts(batch), text_embeds=text_embeds)
        theirs = reference(**prompts(batch), multimask_output=False)
    assert not torch.equal(adapted.pred_masks, theirs.pred_masks)  # training changed the adapted model
    torch.testing.assert_close(disabled.pred_masks, theirs.pred_masks)
    torch.testing.assert_close(disabled.iou_scores, theirs.iou_scores)


# ----------------------------------------------------------------------------------- text conditioning


def test_after_training_the_text_changes_the_prediction_per_sample(model, batch):
    peft_model = get_peft_model(model, ParallelTextConfig(r=4))
    text_embeds = model.encode_text(["circle", "striped"])
    train_steps(peft_model, batch, text_embeds)

    image = {key: value[:1] for key, value in prompts(batch).items()}
    with torch.no_grad():
        as_circle = peft_model(**image, text_embeds=model.encode_text(["circle"]))
        as_striped = peft_model(**image, text_embeds=model.encode_text(["striped"]))
        mixed = peft_model(
            **{key: value[:1].repeat(2, *[1] * (value.dim() - 1)) for key, value in image.items()},
            text_embeds=model.encode_text(["striped", "circle"]),
        )
    # The text changes what the encoder computes, and so the masks (the tiny decoder's logits are small).
    encoder_difference = (as_circle.image_embeddings - as_striped.image_embeddings).abs().max()
    assert encoder_difference > 1e-3 * as_circle.image_embeddings.abs().max()
    assert (as_circle.pred_masks - as_striped.pred_masks).abs().max() > 1e-3 * as_circle.pred_masks.abs().max()
    torch.testing.assert_close(mixed.pred_masks[0], as_striped.pred_masks[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mixed.pred_masks[1], as_circle.pred_masks[0], rtol=1e-5, atol=1e-5)


def test_input_ids_and_encode_text_give_the_same_conditioning(model, batch):
    tokens = model.tokenizer(model.format_prompts(["batfish", "weed"]), padding=True, return_tensors="pt")
    peft_model = get_peft_model(model, ParallelTextConfig(r=4, init_weights=False)).eval()
    with torch.no_grad():
        from_ids = peft_model(**prompts(batch), input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
        from_embeds = peft_model(**prompts(batch), text_embeds=model.encode_text(["batfish", "weed"]))
    torch.testing.assert_close(from_ids.text_embeds, from_embeds.text_embeds)
    torch.testing.assert_close(from_ids.pred_masks, from_embeds.pred_masks)


def test_encode_text_encodes_each_distinct_prompt_once(model):
    first = model.encode_text(["circle", "square", "circle"])
    assert first.shape == (3, model.config.text_dim)
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(3))
    info = model.text_cache_info()
    assert (info.misses, info.hits, info.size) == (2, 1, 2)
    model.encode_text(["square", "circle"])
    info = model.text_cache_info()
    assert (info.misses, info.hits, info.size) == (2, 3, 2)


@pytest.mark.parametrize("bad", [["circle", ""], ["  "], [3], ""])
def test_encode_text_rejects_bad_class_names(model, bad):
    with pytest.raises(ValueError, match="every class name must be a non-empty string"):
        model.encode_text(bad)


def test_one_class_name_is_one_embedding_however_it_is_written(model):
    expected = model.encode_text(["circle"])
    torch.testing.assert_close(model.encode_text("circle"), expected)
    torch.testing.assert_close(model.encode_text([" circle  "]), expected)
    assert model.text_cache_info().size == 1  # one prompt, "a photo of a circle"


def test_a_class_name_too_long_for_clip_is_named_in_forward(model, batch):
    with pytest.raises(ValueError, match=r"is too long: 60 tokens, at most 48 \(the CLIP text encoder's context\)"):
        model(**{k: v for k, v in batch.items() if k != "labels"}, input_ids=torch.ones(2, 60, dtype=torch.long))


def test_wrapping_in_peft_uses_no_deprecated_transformers_api(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers' `is_gradient_checkpointing` deprecation
        peft_model = get_peft_model(model, ParallelTextConfig(r=4))
    assert not peft_model.get_base_model().is_gradient_checkpointing
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing and model.is_activation_checkpointing


def test_encode_text_rejects_prompts_longer_than_clip_context(model):
    with pytest.raises(ValueError, match=r"class prompt 'a photo of a xxx.*' is too long: 111 tokens, at most 48"):
        model.encode_text(["x" * 100])


# ----------------------------------------------------------------------------------- training


def test_only_adapters_and_mask_decoder_train_and_frozen_parts_get_no_gradient(model, batch, capsys):
    peft_model = get_peft_model(model, ParallelTextConfig(r=4))
    trainable = {name for name, parameter in peft_model.named_parameters() if parameter.requires_grad}
    assert trainable
    assert all(".parallel_text_" in name or ".modules_to_save.default." in name for name in trainable)
    assert any("mask_decoder.modules_to_save.default." in name for name in trainable)

    loss = peft_model(**batch, text_embeds=model.encode_text(["circle", "square"])).loss
    loss.backward()
    for name, parameter in peft_model.named_parameters():
        frozen = "text_encoder" in name or ("vision_encoder" in name and ".parallel_text_" not in name)
        if frozen:
            assert parameter.grad is None, name
    assert all(peft_model.get_parameter(name).grad is not None for name in trainable if "parallel_text_up" in name)

    peft_model.print_trainable_parameters()
    printed = capsys.readouterr().out
    assert "trainable params" in printed and "trainable%" in printed


@pytest.mark.parametrize("with_labels_shape", [(2, 64, 64), (2, 1, 64, 64), (2, 16, 16)])
def test_loss_accepts_masks_at_input_or_low_resolution(model, batch, with_labels_shape):
    labels = torch.nn.functional.interpolate(batch["labels"][:, None], size=with_labels_shape[-2:]).reshape(
        with_labels_shape
    )
    output = model(**prompts(batch), labels=labels)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)


def test_multimask_output_returns_three_masks_and_a_loss(model, batch):
    output = model(**batch, multimask_output=True)
    assert output.pred_masks.shape[:3] == (2, 1, 3)
    assert output.iou_scores.shape == (2, 1, 3)
    assert torch.isfinite(output.loss)


def test_gradient_checkpointing_gives_the_same_adapter_gradients(batch):
    text_embeds = torch.randn(2, 12)

    def adapter_gradients(checkpointing: bool, forwards: int = 1):
        peft_model = get_peft_model(make_model(), ParallelTextConfig(r=4, init_weights=False))
        if checkpointing:
            peft_model.gradient_checkpointing_enable()
        peft_model.train()
        losses = [peft_model(**batch, text_embeds=text_embeds * (i + 1)).loss for i in range(forwards)]
        sum(losses).backward()
        return {
            name: parameter.grad.clone()
            for name, parameter in peft_model.named_parameters()
            if ".parallel_text_" in name
        }

    plain = adapter_gradients(checkpointing=False)
    checkpointed = adapter_gradients(checkpointing=True)
    assert set(plain) == set(checkpointed) and any(g.abs().sum() > 0 for g in plain.values())
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)
    # Two forward passes with different text before one backward: each recomputation sees its own text.
    plain_two = adapter_gradients(checkpointing=False, forwards=2)
    checkpointed_two = adapter_gradients(checkpointing=True, forwards=2)
    for name in plain_two:
        torch.testing.assert_close(checkpointed_two[name], plain_two[name], msg=name)


@pytest.mark.parametrize("text_injection", ["prompt_encoder", "mask_decoder"])
def test_ablation_modes_condition_the_decoder_on_text(batch, text_injection):
    from peft.utils.constants import DUMMY_TARGET_MODULES

    model = make_model(text_injection=text_injection)
    peft_model = get_peft_model(
        model,
        ParallelTextConfig(
            target_modules=DUMMY_TARGET_MODULES, modules_to_save=["mask_decoder", "text_prompt_projection"]
        ),
    )
    text_embeds = model.encode_text(["circle", "square"])
    loss = peft_model(**batch, text_embeds=text_embeds).loss
    loss.backward()
    projection = peft_model.base_model.model.text_prompt_projection.modules_to_save.default
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0
    with torch.no_grad():
        first = peft_model(**prompts(batch), text_embeds=text_embeds)
        second = peft_model(**prompts(batch), text_embeds=text_embeds.flip(0))
    assert not torch.allclose(first.pred_masks, second.pred_masks)
    assert all(parameter.grad is None for parameter in model.sam.vision_encoder.parameters())
    with pytest.raises(ValueError, match="needs the class prompt"):
        peft_model(**prompts(batch))


# ----------------------------------------------------------------------------------- saving and loading


def test_save_and_auto_model_round_trip_in_safetensors(model, batch, tmp_path):
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    reloaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(reloaded, SamPtxForTextSegmentation)
    reloaded.tokenizer = tiny_clip_tokenizer()
    text_embeds = model.encode_text(["circle", "square"])
    with torch.no_grad():
        before = model(**prompts(batch), text_embeds=text_embeds)
        after = reloaded(**prompts(batch), text_embeds=text_embeds)
    assert torch.equal(before.pred_masks, after.pred_masks)
    torch.testing.assert_close(reloaded.encode_text(["circle", "square"]), text_embeds)


def test_from_pretrained_components_assembles_local_sam_and_clip(tmp_path, batch):
    config = tiny_samptx_config(image_size=64)
    torch.manual_seed(1)
    sam = SamModel(config.sam_config)
    sam.save_pretrained(tmp_path / "sam")
    clip = CLIPModel(
        CLIPConfig(
            text_config=config.text_config.to_dict(),
            vision_config={
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 32,
                "patch_size": 16,
            },
            projection_dim=config.text_dim,
        )
    )
    clip.save_pretrained(tmp_path / "clip")
    tiny_clip_tokenizer().save_pretrained(tmp_path / "clip")

    model = SamPtxForTextSegmentation.from_pretrained_components(
        tmp_path / "sam", tmp_path / "clip", prompt_template="a camouflaged {}"
    ).eval()
    assert model.config.sam_model_name_or_path == str(tmp_path / "sam")
    # The components keep their attention implementation (not reset to eager by the wrapping).
    assert model.sam.config.mask_decoder_config._attn_implementation == "sdpa"
    assert model.text_encoder.config._attn_implementation == "sdpa"
    assert model.config.prompt_template == "a camouflaged {}"
    torch.testing.assert_close(
        model.sam.state_dict()["mask_decoder.iou_token.weight"],
        sam.state_dict()["mask_decoder.iou_token.weight"],
    )
    torch.testing.assert_close(model.text_encoder.text_projection.weight, clip.text_projection.weight)
    tokens = model.tokenizer(["a camouflaged frog"], return_tensors="pt")
    expected = torch.nn.functional.normalize(
        clip.get_text_features(**tokens).pooler_output
        if hasattr(clip.get_text_features(**tokens), "pooler_output")
        else clip.get_text_features(**tokens),
        dim=-1,
    )
    torch.testing.assert_close(model.encode_text(["frog"]), expected)


# ----------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: {**b, "pixel_values": b["pixel_values"][0]}, r"pixel_values must have shape \(batch, 3"),
        (
            lambda b: {**b, "pixel_values": b["pixel_values"][:, :1]},
            r"pixel_values must have shape \(batch, 3",
        ),
        (lambda b: {**b, "pixel_values": b["pixel_values"][..., :32, :32]}, "must be 64x64"),
        (
            lambda b: {**b, "text_embeds": torch.randn(3, 12)},
            "text_embeds has batch size 3 but pixel_values has 2",
        ),
        (
            lambda b: {**b, "text_embeds": torch.randn(2, 7)},
            r"text_embeds must have shape \(batch, text_dim=12\)",
        ),
        (lambda b: {**b, "input_labels": None}, "input_points were given without input_labels"),
        (lambda b: {**b, "input_points": b["input_points"][0]}, r"input_points must have shape \(batch=2"),
        (lambda b: {**b, "input_labels": b["input_labels"][:, :, :0]}, "input_labels must have shape"),
        (
            lambda b: {**b, "input_ids": torch.ones(3, 5, dtype=torch.long), "text_embeds": None},
            r"input_ids must have shape \(batch=2",
        ),
        (lambda b: {**b, "input_ids": torch.ones(2, 5, dtype=torch.long)}, "either input_ids or text_embeds"),
        (lambda b: {**b, "input_boxes": torch.rand(2, 4)}, r"input_boxes must have shape \(batch=2"),
        (lambda b: {**b, "labels": torch.ones(3, 64, 64)}, r"labels must have shape \(batch=2"),
    ],
)
def test_bad_input_raises_value_error_saying_what_was_expected(model, change, message):
    inputs = change({**make_batch(), "text_embeds": torch.randn(2, 12)})
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_adapters_that_need_text_reject_a_forward_without_it(model, batch):
    peft_model = get_peft_model(model, ParallelTextConfig(r=4))
    with pytest.raises(ValueError, match="uses text .* but this forward pass has no text"):
        peft_model(**prompts(batch))


def test_returns_a_model_output_or_a_tuple(model, batch):
    output = model(**prompts(batch))
    assert isinstance(output, SamPtxSegmentationOutput) and output.loss is None
    as_tuple = model(**prompts(batch), return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], output.pred_masks)
