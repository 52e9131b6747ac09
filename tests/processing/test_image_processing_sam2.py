"""SAM 2's preprocessing without torchvision: the steps of transformers' `Sam2ImageProcessor`, and masks back."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factories import make_model
from PIL import Image

from samptx_hf import Sam2TorchImageProcessor, SamPtxProcessor
from samptx_hf.data import SamPtxDataCollator, image_processor_for_sam_config

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def processor(size=64, mask_size=16):
    return Sam2TorchImageProcessor(
        size={"height": size, "width": size}, mask_size={"height": mask_size, "width": mask_size}
    )


def test_an_image_of_the_input_size_is_only_rescaled_and_normalised_with_imagenet_statistics():
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pixel_values = processor()(image)["pixel_values"]
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - MEAN) / STD
    torch.testing.assert_close(pixel_values[0], expected)


def test_any_image_is_resized_to_the_square_input_without_padding_and_sizes_are_reported():
    image = Image.fromarray(np.full((30, 100, 3), 200, dtype=np.uint8))
    encoding = processor()(image)
    assert encoding["pixel_values"].shape == (1, 3, 64, 64)
    assert encoding["original_sizes"].tolist() == [[30, 100]]
    assert encoding["reshaped_input_sizes"].tolist() == [[64, 64]]
    # A flat image stays flat: no padding anywhere.
    expected = (torch.full((3, 1, 1), 200 / 255) - MEAN) / STD
    torch.testing.assert_close(encoding["pixel_values"][0], expected.expand(3, 64, 64))


def test_resizing_antialiases_and_rounds_like_a_uint8_resize():
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    image[:, ::2] = 255  # one-pixel stripes average to grey when halved
    resized = processor().resize_image(image)
    assert resized.shape == (3, 64, 64)
    assert torch.all(resized == resized.round())
    assert resized[:, :, 1:-1].unique().tolist() == [128.0]  # away from the border, the stripes' mean


def test_points_and_boxes_are_scaled_per_axis_and_padding_points_stay():
    encoding = processor()(
        np.zeros((32, 128, 3), dtype=np.uint8),
        input_points=[[[[64, 16], [-10, -10]]]],
        input_labels=[[[1, -10]]],
        input_boxes=[[[0, 0, 128, 32]]],
    )
    assert encoding["input_points"].tolist() == [[[[32.0, 32.0], [-10.0, -10.0]]]]
    assert encoding["input_labels"].tolist() == [[[1, -10]]]
    assert encoding["input_boxes"].tolist() == [[[0.0, 0.0, 64.0, 64.0]]]


def test_segmentation_maps_become_low_resolution_labels_by_nearest_neighbour():
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[:20] = 1
    labels = processor()(np.zeros((40, 40, 3), dtype=np.uint8), segmentation_maps=[mask])["labels"]
    assert labels.shape == (1, 16, 16) and labels.dtype == torch.int64
    assert labels[0, :8].eq(1).all() and labels[0, 8:].eq(0).all()


def test_masks_go_back_to_the_original_size_bilinearly():
    logits = torch.randn(2, 1, 1, 16, 16)
    masks = processor().post_process_masks(logits, [[30, 50], [16, 16]], binarize=False)
    assert [tuple(m.shape) for m in masks] == [(1, 1, 30, 50), (1, 1, 16, 16)]
    torch.testing.assert_close(masks[0][0], F.interpolate(logits[0, 0][None], (30, 50), mode="bilinear")[0])
    binary = processor().post_process_masks(logits, [[30, 50], [16, 16]])
    assert binary[1].dtype == torch.bool and torch.equal(binary[1], logits[1] > 0)


def test_the_sam2_model_gets_this_processor_and_it_saves_and_loads(tmp_path):
    model = make_model(sam_version=2)
    image_processor = image_processor_for_sam_config(model.config.sam_config)
    assert isinstance(image_processor, Sam2TorchImageProcessor)
    assert image_processor.size == {"height": 64, "width": 64} and image_processor.mask_size == {
        "height": 16,
        "width": 16,
    }
    samptx_processor = SamPtxProcessor.from_model(model)
    samptx_processor.save_pretrained(tmp_path)
    loaded = SamPtxProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded.image_processor, Sam2TorchImageProcessor)
    assert loaded.image_processor.to_dict() == samptx_processor.image_processor.to_dict()


def test_processor_and_collator_prepare_sam2_batches():
    model = make_model(sam_version=2)
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    inputs = SamPtxProcessor.from_model(model)(
        image, ["cat", "dog"], input_points=[[40, 24]], input_boxes=[0, 0, 80, 48]
    )
    assert inputs["pixel_values"].shape == (2, 3, 64, 64)
    assert inputs["input_points"].tolist() == [[[[32.0, 32.0]]]] * 2
    assert inputs["input_boxes"].tolist() == [[[0.0, 0.0, 64.0, 64.0]]] * 2
    with torch.no_grad():
        outputs = model(**inputs)
    assert outputs.pred_masks.shape == (2, 1, 1, 16, 16)

    mask = np.zeros((48, 80), dtype=bool)
    mask[10:30, 20:60] = True
    collator = SamPtxDataCollator(image_processor_for_sam_config(model.config.sam_config), train=False)
    batch = collator([{"image": Image.fromarray(image), "mask": mask, "class_name": "cat"}])
    assert batch["labels"].shape == (1, 16, 16) and batch["pixel_values"].shape == (1, 3, 64, 64)
    x, y = batch["input_points"][0, 0, 0].tolist()
    assert 20 * 64 / 80 <= x <= 60 * 64 / 80 and 10 * 64 / 48 <= y <= 30 * 64 / 48


def test_unexpected_arguments_are_refused():
    with pytest.raises(ValueError, match="unexpected arguments"):
        processor()(np.zeros((8, 8, 3), dtype=np.uint8), pad_size=3)
    with pytest.raises(ValueError, match="size must be a dict with 'height' and 'width'"):
        Sam2TorchImageProcessor(size={"longest_edge": 64})
