"""Encode once, prompt often: `get_image_trunk`, `get_image_embeddings` and `forward(image_embeddings=...)` give the
masks and scores of the uncached forward, for every method, on SAM and SAM 2, through peft."""

import pytest
import torch
from factories import make_batch, make_model, make_trained_looking_model
from peft import get_peft_model
from transformers import SamModel

from samptx_hf import ImageFeatures, peft_config_for

METHODS = ["parallel_text", "parallel_adapter", "decoder_only", "text_prompt_encoder", "text_mask_decoder"]


def prompts(batch):
    return {key: batch[key] for key in ("input_points", "input_labels")}


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize("method", METHODS)
def test_cached_embeddings_give_the_uncached_masks_and_scores(method, sam_version):
    peft_model = make_trained_looking_model(method, sam_version)
    model = peft_model.get_base_model()
    batch = make_batch(2)
    text_embeds = model.encode_text(["circle", "striped"])
    with torch.no_grad():
        expected = peft_model(pixel_values=batch["pixel_values"], **prompts(batch), text_embeds=text_embeds)
        features = peft_model.get_image_embeddings(batch["pixel_values"], text_embeds=text_embeds)
        cached = peft_model(image_embeddings=features, **prompts(batch), text_embeds=text_embeds)
    assert isinstance(features, ImageFeatures)
    torch.testing.assert_close(features.image_embeddings, expected.image_embeddings)
    torch.testing.assert_close(cached.pred_masks, expected.pred_masks)
    torch.testing.assert_close(cached.iou_scores, expected.iou_scores)


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize("adapter_layers", [None, "last:1"])
def test_a_new_class_on_a_known_image_runs_only_the_adapted_blocks(sam_version, adapter_layers):
    peft_model = make_trained_looking_model("parallel_text", sam_version, adapter_layers)
    model = peft_model.get_base_model()
    image = make_batch(1)["pixel_values"]
    blocks = model.sam.vision_encoder.backbone.blocks if sam_version == 2 else model.sam.vision_encoder.layers
    calls = []
    for index, block in enumerate(blocks):
        block.register_forward_hook(lambda module, args, output, index=index: calls.append(index))
    trunk = model.get_image_trunk(image)
    first_adapted = 0 if adapter_layers is None else len(blocks) - 1
    assert calls == list(range(first_adapted)) and trunk.num_images == 1 and trunk.nbytes() > 0
    calls.clear()
    text_embeds = model.encode_text(["circle", "striped"])
    from_trunk = model.get_image_embeddings(image_trunk=trunk, text_embeds=text_embeds)
    assert calls == list(range(first_adapted, len(blocks))) * 1  # the two classes ride one batch
    from_pixels = model.get_image_embeddings(image.expand(2, -1, -1, -1), text_embeds=text_embeds)
    torch.testing.assert_close(from_trunk.image_embeddings, from_pixels.image_embeddings)
    pairs = zip(from_trunk.high_resolution_features or (), from_pixels.high_resolution_features or (), strict=True)
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, theirs)
    assert not torch.allclose(from_trunk.image_embeddings[0], from_trunk.image_embeddings[1])  # the class matters


def test_a_trunk_from_before_the_adapters_changed_is_refused():
    model = make_model(num_hidden_layers=2)
    trunk = model.get_image_trunk(make_batch(1)["pixel_values"])  # no adapter yet: every block is text-free
    peft_model = get_peft_model(model, peft_config_for("parallel_text", r=4))
    with pytest.raises(ValueError, match="the image trunk ran 2 text-free blocks, but the model's first text-reading"):
        peft_model.get_image_embeddings(image_trunk=trunk, text_embeds=model.encode_text(["circle"]))


def test_mask_prompts_are_sams_mask_prompts():
    model = make_model(num_hidden_layers=2).eval()
    reference = SamModel(model.config.sam_config).eval()
    reference.load_state_dict(model.sam.state_dict())
    peft_model = get_peft_model(model, peft_config_for("parallel_text", r=4)).eval()  # zero W_up: SAM itself
    batch = make_batch(2)
    input_masks = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = peft_model(
            pixel_values=batch["pixel_values"],
            **prompts(batch),
            input_masks=input_masks,
            text_embeds=model.encode_text(["a", "b"]),
        )
        theirs = reference(
            pixel_values=batch["pixel_values"], **prompts(batch), input_masks=input_masks, multimask_output=False
        )
        without = peft_model(pixel_values=batch["pixel_values"], **prompts(batch), text_embeds=ours.text_embeds)
    torch.testing.assert_close(ours.pred_masks, theirs.pred_masks)
    torch.testing.assert_close(ours.iou_scores, theirs.iou_scores)
    assert not torch.allclose(ours.pred_masks, without.pred_masks)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [({}, "Pass either pixel_values or image_embeddings"),
     ({"both": True}, "Pass either pixel_values or image_embeddings"),
     ({"image_embeddings": torch.zeros(2, 16, 4, 4)}, r"image_embeddings must have shape \(batch, 16, 8, 8\)"),
     ({"image_embeddings": "cached"}, "must be the ImageFeatures of get_image_embeddings, got str"),
     ({"input_masks": torch.zeros(2, 1, 16, 16)}, r"input_masks must have shape \(batch=2, 1, 32, 32\)")],
)  # fmt: skip
def test_bad_cached_inputs_are_named(inputs, message):
    model = make_model(num_hidden_layers=2)
    batch = make_batch(2)
    text_embeds = model.encode_text(["a", "b"])
    kwargs = dict(inputs)
    if kwargs.pop("both", False):
        kwargs = {"pixel_values": batch["pixel_values"], "image_embeddings": torch.zeros(2, 16, 8, 8)}
    elif "input_masks" in kwargs:
        kwargs["pixel_values"] = batch["pixel_values"]
    with pytest.raises(ValueError, match=message):
        model(**kwargs, **prompts(batch), text_embeds=text_embeds)


def test_sam2_needs_the_high_resolution_features():
    model = make_model(sam_version=2, num_hidden_layers=2)
    batch = make_batch(2)
    features = model.get_image_embeddings(batch["pixel_values"], text_embeds=model.encode_text(["a", "b"]))
    with pytest.raises(ValueError, match="SAM 2's mask decoder also reads the high-resolution features"):
        model(image_embeddings=features.image_embeddings, **prompts(batch))


@pytest.mark.parametrize("method", ["decoder_only", "text_prompt_encoder", "text_mask_decoder"])
def test_methods_without_text_in_the_encoder_encode_an_image_without_its_class(method):
    peft_model = make_trained_looking_model(method)
    model = peft_model.get_base_model()
    batch = make_batch(2)
    features = peft_model.get_image_embeddings(batch["pixel_values"])  # no class: the encoder does not read it
    text_embeds = model.encode_text(["circle", "striped"])
    with torch.no_grad():
        expected = peft_model(pixel_values=batch["pixel_values"], **prompts(batch), text_embeds=text_embeds)
        cached = peft_model(image_embeddings=features, **prompts(batch), text_embeds=text_embeds)
    torch.testing.assert_close(cached.pred_masks, expected.pred_masks)
