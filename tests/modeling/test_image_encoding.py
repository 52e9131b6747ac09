"""Several class prompts of one image share the text-free blocks of the image encoder, with unchanged results."""

import numpy as np
import pytest
import torch
from factories import IMAGE_SIZE, make_batch, make_model
from peft import get_peft_model
from PIL import Image

import samptx_hf.modeling.image_encoding as image_encoding
from samptx_hf import ParallelTextConfig, SamPtxProcessor
from samptx_hf.modeling.image_encoding import find_repeated_images, first_text_block, image_encoder_blocks

NUM_LAYERS = 4
NUM_CLASSES = 3


def adapted_model(layers_to_transform=(-2, -1), use_text=True, seed=0):
    """Tiny SAM-PTx with non-zero adapters (init_weights=False) in the given blocks of 4."""
    config = ParallelTextConfig(
        r=4, init_weights=False, use_text=use_text, layers_to_transform=list(layers_to_transform) or None
    )
    return get_peft_model(make_model(seed=seed, num_hidden_layers=NUM_LAYERS), config)


def one_image_several_classes(num_classes=NUM_CLASSES, seed=0):
    one = make_batch(1, seed=seed)
    batch = {
        "pixel_values": one["pixel_values"].repeat(num_classes, 1, 1, 1),
        "input_points": one["input_points"].repeat(num_classes, 1, 1, 1),
        "input_labels": one["input_labels"].repeat(num_classes, 1, 1),
        "labels": one["labels"].repeat(num_classes, 1, 1),
    }
    return batch, torch.randn(num_classes, 12, generator=torch.Generator().manual_seed(seed))


def rows_per_block(peft_model, run):
    """`run()` and the rows (images) that each image-encoder block (SAM's ViT or SAM 2's Hiera) computed during it."""
    rows = {}
    blocks = image_encoder_blocks(peft_model.base_model.model.sam.vision_encoder)
    hooks = [
        block.register_forward_hook(lambda _, args, __, i=i: rows.setdefault(i, []).append(args[0].shape[0]))
        for i, block in enumerate(blocks)
    ]
    try:
        result = run()
    finally:
        for hook in hooks:
            hook.remove()
    return result, [sum(rows[i]) for i in range(len(blocks))]


def test_finds_repeated_images_and_nothing_else():
    images = torch.randn(3, 3, 8, 8)
    assert find_repeated_images(images) is None
    assert find_repeated_images(images[:1]) is None
    batch = images[[0, 1, 0, 2, 1]]
    repeated = find_repeated_images(batch)
    assert repeated.first_rows.tolist() == [0, 1, 3]
    assert repeated.image_of_row.tolist() == [0, 1, 0, 2, 1]
    # Equal on every sampled value, different elsewhere: still two images.
    nearly = images[[0, 0]].clone()
    nearly[1, 2, 7, 7] += 1
    assert find_repeated_images(nearly) is None


def test_first_text_block_follows_placement_and_disabling():
    assert first_text_block(adapted_model((-2, -1)).base_model.model.sam.vision_encoder) == 2
    assert first_text_block(adapted_model((1, 3)).base_model.model.sam.vision_encoder) == 1
    assert first_text_block(adapted_model(()).base_model.model.sam.vision_encoder) == 0
    text_free = adapted_model((), use_text=False)
    assert first_text_block(text_free.base_model.model.sam.vision_encoder) == NUM_LAYERS
    peft_model = adapted_model(())
    with peft_model.disable_adapter():
        assert first_text_block(peft_model.base_model.model.sam.vision_encoder) == NUM_LAYERS


def classes_together_and_alone(peft_model):
    """The outputs for every class of one image in one call, the rows each block computed in it, and the outputs for
    one class at a time."""
    batch, text_embeds = one_image_several_classes()
    inputs = {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}
    with torch.no_grad():
        together, rows = rows_per_block(peft_model, lambda: peft_model(**inputs, text_embeds=text_embeds))
        alone = [
            peft_model(**{k: v[i : i + 1] for k, v in inputs.items()}, text_embeds=text_embeds[i : i + 1])
            for i in range(NUM_CLASSES)
        ]
    return together, rows, alone


@pytest.mark.parametrize(
    ("layers", "use_text", "expected_rows"),
    [
        ((-2, -1), True, [1, 1, NUM_CLASSES, NUM_CLASSES]),  # shared trunk, adapted blocks per class
        ((), True, [NUM_CLASSES] * NUM_LAYERS),  # text in the first block: nothing to share
        ((), False, [1] * NUM_LAYERS),  # no text in the encoder: all of it shared
    ],
)
def test_classes_of_one_image_give_the_masks_and_scores_of_one_class_at_a_time(layers, use_text, expected_rows):
    peft_model = adapted_model(layers, use_text).eval()
    together, rows, alone = classes_together_and_alone(peft_model)
    assert rows == expected_rows
    for i, output in enumerate(alone):
        torch.testing.assert_close(together.pred_masks[i : i + 1], output.pred_masks, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(together.iou_scores[i : i + 1], output.iou_scores, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(together.image_embeddings[i : i + 1], output.image_embeddings, rtol=1e-5, atol=1e-6)
    if use_text:  # the classes do get different masks
        assert not torch.allclose(together.pred_masks[0], together.pred_masks[1])


def test_segment_with_several_classes_shares_the_trunk_and_matches_one_class_at_a_time():
    peft_model = adapted_model((-1,)).eval()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8))
    processor = SamPtxProcessor.from_model(peft_model.get_base_model())
    classes = ["cat", "dog", "bird"]
    together, rows = rows_per_block(peft_model, lambda: peft_model.segment(image, classes, points=[(20, 24)]))
    assert rows == [1, 1, 1, len(classes)]
    for name, result in zip(classes, together, strict=True):
        alone = peft_model.segment(image, name, points=[(20, 24)], processor=processor)
        assert np.array_equal(result.mask, alone.mask)
        assert result.score == pytest.approx(alone.score, rel=1e-5, abs=1e-6)


def test_processor_batch_of_two_images_and_their_classes_shares_per_image():
    peft_model = adapted_model((-2, -1)).eval()
    processor = SamPtxProcessor.from_model(peft_model.get_base_model())
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)) for _ in range(2)]
    inputs = processor(images=[images[0], images[0], images[1], images[1]], text=["a", "b", "a", "c"])
    with torch.no_grad():
        _, rows = rows_per_block(peft_model, lambda: peft_model(**inputs))
    assert rows == [2, 2, 4, 4]


@pytest.mark.parametrize("checkpointing", [False, True])
def test_shared_trunk_trains_every_adapter_like_separate_passes(monkeypatch, checkpointing):
    batch, text_embeds = one_image_several_classes()

    def adapter_gradients(share: bool):
        if not share:
            monkeypatch.setattr(image_encoding, "find_repeated_images", lambda pixel_values: None)
        peft_model = adapted_model((-2, -1))
        if checkpointing:
            peft_model.gradient_checkpointing_enable()
        peft_model.train()
        # Two forward passes with different text before one backward: each recomputation sees its own text.
        losses = [peft_model(**batch, text_embeds=text_embeds * (i + 1)).loss for i in range(2)]
        sum(losses).backward()
        monkeypatch.undo()
        return {name: p.grad.clone() for name, p in peft_model.named_parameters() if p.requires_grad}

    shared, separate = adapter_gradients(share=True), adapter_gradients(share=False)
    adapter_names = [name for name in shared if ".parallel_text_" in name]
    assert {name.split(".layers.")[1].split(".")[0] for name in adapter_names} == {"2", "3"}
    assert all(shared[name].abs().sum() > 0 for name in adapter_names)
    assert set(shared) == set(separate)
    for name in shared:
        torch.testing.assert_close(shared[name], separate[name], rtol=1e-4, atol=1e-7, msg=name)


# ----------------------------------------------------------------------------------- SAM 2 (Hiera)

NUM_HIERA_BLOCKS = 5  # tiny_sam2_config


@pytest.mark.parametrize(
    ("layers", "use_text", "expected_rows"),
    [
        ((-2, -1), True, [1, 1, 1, NUM_CLASSES, NUM_CLASSES]),  # stages 0-1 and the first stage-2 block shared
        ((), True, [NUM_CLASSES] * NUM_HIERA_BLOCKS),
        ((), False, [1] * NUM_HIERA_BLOCKS),
    ],
)
def test_sam2_classes_of_one_image_share_the_hiera_trunk_and_its_high_resolution_levels(
    layers, use_text, expected_rows
):
    config = ParallelTextConfig(r=4, init_weights=False, use_text=use_text, layers_to_transform=list(layers) or None)
    peft_model = get_peft_model(make_model(sam_version=2), config).eval()
    together, rows, alone = classes_together_and_alone(peft_model)
    assert rows == expected_rows
    first_block = (3 if layers else 0) if use_text else NUM_HIERA_BLOCKS
    assert first_text_block(peft_model.base_model.model.sam.vision_encoder) == first_block
    for i, output in enumerate(alone):
        torch.testing.assert_close(together.pred_masks[i : i + 1], output.pred_masks, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(together.iou_scores[i : i + 1], output.iou_scores, rtol=1e-5, atol=1e-6)
        for level, expected in zip(together.high_resolution_features, output.high_resolution_features, strict=True):
            torch.testing.assert_close(level[i : i + 1], expected, rtol=1e-5, atol=1e-6)
    if use_text:
        assert not torch.allclose(together.pred_masks[0], together.pred_masks[1])
