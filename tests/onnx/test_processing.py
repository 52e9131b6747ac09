"""`samptx_hf.onnx.processing`: numpy/PIL processing equal to the torch processors' for SAM and SAM 2."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from samptx_hf import SamPtxProcessor
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_samptx_config
from samptx_hf.onnx import processing
from samptx_hf.processing.image_processing_sam2 import prompt_processor
from samptx_hf.processing.input_checks import check_box
from samptx_hf.processing.processing_samptx import image_processor_for_sam_config

IMAGE_SIZE = 64
IMAGE_SHAPES = [(48, 80), (80, 48), (64, 64), (10, 13), (300, 37)]  # (height, width): smaller and larger than 64


def torch_processor(sam_version: int) -> SamPtxProcessor:
    config = tiny_samptx_config(image_size=IMAGE_SIZE, sam_version=sam_version)
    return SamPtxProcessor(image_processor_for_sam_config(config.sam_config), tiny_clip_tokenizer())


def random_image(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def numpy_preprocess(processor: SamPtxProcessor, image: Image.Image):
    image_processor = processor.image_processor
    return processing.preprocess_image(
        image,
        IMAGE_SIZE,
        image_processor.image_mean,
        image_processor.image_std,
        image_processor.rescale_factor,
        pad=sam_version_of(processor) == 1,
    )


def sam_version_of(processor: SamPtxProcessor) -> int:
    return 1 if hasattr(processor.image_processor, "pad_size") else 2


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize(("height", "width"), IMAGE_SHAPES)
def test_pixel_values_and_sizes_are_the_image_processor_s(sam_version, height, width):
    processor = torch_processor(sam_version)
    image = random_image(height, width)
    expected = prompt_processor(processor.image_processor)(images=[image], return_tensors="pt")
    pixel_values, original_size, reshaped_size = numpy_preprocess(processor, image)
    assert pixel_values.dtype == np.float32
    assert original_size == tuple(expected["original_sizes"][0].tolist())
    assert reshaped_size == tuple(expected["reshaped_input_sizes"][0].tolist())
    difference = np.abs(pixel_values - expected["pixel_values"].numpy())
    if sam_version == 1:  # the same PIL resize, the same float arithmetic
        np.testing.assert_allclose(pixel_values, expected["pixel_values"].numpy(), atol=1e-6)
    else:  # torch's float32 resize rounded to 8 bits: on a CPU that rounds its multiply-adds otherwise, a value on a
        # rounding tie (x.5, frequent at scales such as 48 -> 64) may land one step (1/255/std) apart
        assert difference.max() <= 1 / 255 / min(processor.image_processor.image_std) + 1e-5
        assert (difference > 1e-5).mean() <= 1e-3


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize(("source", "target"), [((16, 16), (64, 64)), ((16, 16), (30, 41)), ((48, 80), (100, 33))])
def test_bilinear_interpolation_is_torch_s(source, target, antialias):
    values = np.random.default_rng(1).standard_normal((2, 3, *source)).astype(np.float32)
    expected = F.interpolate(
        torch.from_numpy(values), target, mode="bilinear", align_corners=False, antialias=antialias
    ).numpy()
    ours = processing.interpolate_bilinear(values, target, antialias=antialias)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-4)


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize(("height", "width"), IMAGE_SHAPES)
def test_masks_at_the_original_size_are_post_process_masks_(sam_version, height, width):
    processor = torch_processor(sam_version)
    image = random_image(height, width)
    _, original_size, reshaped_size = numpy_preprocess(processor, image)
    low_res = np.random.default_rng(2).standard_normal((2, 1, 3, 16, 16)).astype(np.float32)
    sizes = torch.tensor([original_size] * 2), torch.tensor([reshaped_size] * 2)
    expected_logits = torch.stack(processor.post_process_masks(torch.from_numpy(low_res), *sizes, binarize=False))
    expected_masks = torch.stack(processor.post_process_masks(torch.from_numpy(low_res), *sizes))
    pad_size = IMAGE_SIZE if sam_version == 1 else None
    logits = processing.upscale_masks(low_res, original_size, reshaped_size, pad_size)
    assert logits.shape == (2, 1, 3, height, width)
    np.testing.assert_allclose(logits, expected_logits.numpy(), atol=1e-4)
    assert ((logits > 0) != expected_masks.numpy()).mean() <= 1e-3


@pytest.mark.parametrize("sam_version", [1, 2])
def test_points_and_boxes_are_scaled_as_encode_prompts_does(sam_version):
    processor = torch_processor(sam_version)
    _, original_size, reshaped_size = numpy_preprocess(processor, random_image(48, 80))
    points, box = [(20.0, 10.0), (79.5, 47.0), (0.0, 0.0)], (5.0, 6.0, 60.0, 40.0)
    expected = processor.encode_prompts(original_size, reshaped_size, "cat", points, None, box)
    checked_points, labels = processing.check_points(points, None, original_size)
    np.testing.assert_array_equal(
        processing.scale_coordinates(checked_points, original_size, reshaped_size),
        expected["input_points"][0, 0].numpy(),
    )
    np.testing.assert_array_equal(labels, expected["input_labels"][0, 0].numpy())
    checked_box = check_box(box, original_size)
    np.testing.assert_array_equal(
        processing.scale_coordinates(checked_box, original_size, reshaped_size), expected["input_boxes"][0, 0].numpy()
    )


def error_of(call, *args):
    with pytest.raises((TypeError, ValueError)) as raised:
        call(*args)
    return type(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("points", "labels", "box"),
    [
        ([(81, 10)], None, None),  # outside the 80x48 image
        ([], None, None),
        ([(1, 2, 3)], None, None),
        ([(1, 2)], [1, 0], None),
        ([(1, 2)], [2], None),
        (None, None, (10, 10, 5, 20)),
        (None, None, (1, 2, 3)),
    ],
)
def test_prompt_errors_are_the_processor_s(points, labels, box):
    processor = torch_processor(1)

    def ours():
        if points is not None:
            processing.check_points(points, labels, (48, 80))
        if box is not None:
            check_box(box, (48, 80))

    assert error_of(ours) == error_of(processor.encode_prompts, (48, 80), (38, 64), "cat", points, labels, box)


@pytest.mark.parametrize("sam_version", [1, 2])
@pytest.mark.parametrize(("height", "width"), [(0, 10), (1, 200), (1, 20)])
def test_image_size_errors_are_the_processor_s(sam_version, height, width):
    processor = torch_processor(sam_version)
    try:
        processor.check_image_size((height, width))
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            processing.check_image_size((height, width), IMAGE_SIZE, pad=sam_version == 1)
        assert str(raised.value) == str(error)
    else:
        processing.check_image_size((height, width), IMAGE_SIZE, pad=sam_version == 1)
