import numpy as np
import pytest
import torch
from factories import make_model, make_trained_looking_model
from hub_factories import make_image
from transformers import SamImageProcessorPil

from samptx_hf.modeling.tiny import tiny_clip_tokenizer
from samptx_hf.processing.processing_samptx import SamPtxProcessor, image_processor_for_sam_config


@pytest.fixture
def processor() -> SamPtxProcessor:
    return SamPtxProcessor.from_model(make_model(prompt_template="a {} thing"))


def test_one_image_with_several_class_names_gives_one_sample_per_class(processor):
    image = make_image(width=100, height=50)
    inputs = processor(image, ["circle", "star", "striped"], input_points=[[50, 25], [10, 40]])
    assert inputs["pixel_values"].shape == (3, 3, 64, 64)
    assert torch.equal(inputs["pixel_values"][0], inputs["pixel_values"][2])
    assert inputs["input_points"].shape == (3, 1, 2, 2) and inputs["input_points"].dtype == torch.float32
    assert torch.equal(inputs["input_points"][0], inputs["input_points"][1])
    # The 100x50 image is resized to 64x32: coordinates scale by 0.64.
    torch.testing.assert_close(inputs["input_points"][0, 0], torch.tensor([[32.0, 16.0], [6.4, 25.6]]))
    assert inputs["input_labels"].tolist() == [[[1, 1]]] * 3
    assert inputs["original_sizes"].tolist() == [[50, 100]] * 3
    assert inputs["reshaped_input_sizes"].tolist() == [[32, 64]] * 3
    expected = processor.tokenizer(["a circle thing", "a star thing", "a striped thing"], padding=True)
    assert inputs["input_ids"].tolist() == expected["input_ids"]
    assert inputs["attention_mask"].tolist() == expected["attention_mask"]


def test_a_list_of_images_takes_prompts_per_image_and_pads_points(processor):
    images = [make_image(80, 48, seed=0), make_image(40, 64, seed=1)]
    inputs = processor(
        images,
        ["circle", "star"],
        input_points=[[[8, 8]], [[4, 4], [20, 30]]],
        input_labels=[[1], [1, 0]],
        input_boxes=[[0, 0, 40, 24], [1, 2, 39, 63]],
    )
    assert inputs["pixel_values"].shape == (2, 3, 64, 64)
    assert inputs["input_labels"].tolist() == [[[1, -10]], [[1, 0]]]
    assert inputs["input_points"][0, 0, 1].tolist() == [-10.0, -10.0]
    torch.testing.assert_close(inputs["input_boxes"][0, 0], torch.tensor([0.0, 0.0, 32.0, 19.0]))  # 48 px -> 38 px
    assert inputs["input_boxes"].shape == (2, 1, 4)
    assert inputs["original_sizes"].tolist() == [[48, 80], [64, 40]]


def test_points_of_any_count_per_image_are_padded_and_ignored_by_the_model(processor):
    model = make_model(prompt_template="a {} thing").eval()
    images = [make_image(80, 48, seed=0), make_image(40, 64, seed=1)]
    inputs = processor(images, "circle", input_points=[[[8, 8]], [[4, 4], [20, 30], [30, 50]]])
    assert inputs["input_labels"].tolist() == [[[1, -10, -10]], [[1, 1, 1]]]
    alone = processor(images[0], "circle", input_points=[[8, 8]])
    with torch.no_grad():
        padded_masks, alone_masks = model(**inputs).pred_masks[0], model(**alone).pred_masks[0]
    torch.testing.assert_close(padded_masks, alone_masks)


def test_an_image_too_thin_for_the_model_is_named(processor):
    with pytest.raises(ValueError, match=r"image 0 is 4000x10 pixels: .* 64 px its short side would be 0 px"):
        processor(np.zeros((10, 4000, 3), np.uint8), "circle")
    processor(np.zeros((10, 1200, 3), np.uint8), "circle")  # 10 * 64 / 1200 = 0.53 rounds to 1 px


@pytest.mark.parametrize("sam_version", [1, 2])
def test_an_empty_image_is_named_for_sam_and_sam_2(sam_version):
    model = make_model() if sam_version == 1 else make_trained_looking_model("decoder_only", 2, None)
    processor = SamPtxProcessor.from_model(model)
    with pytest.raises(ValueError, match=r"image 1 is 0x0 pixels, expected an image of at least 1x1 pixel"):
        processor([make_image(), np.zeros((0, 0, 3), np.uint8)], "circle")


def test_post_process_masks_refuses_a_threshold_that_is_not_a_number(processor):
    masks, sizes = torch.zeros(1, 1, 1, 16, 16), torch.tensor([[48, 80]])
    with pytest.raises(ValueError, match="mask_threshold is NaN, expected a real number"):
        processor.post_process_masks(masks, sizes, torch.tensor([[38, 64]]), mask_threshold=float("nan"))


def test_several_images_with_one_name_share_it(processor):
    inputs = processor([make_image(seed=0), make_image(seed=1)], "circle")
    assert inputs["input_ids"].shape[0] == 2
    assert torch.equal(inputs["input_ids"][0], inputs["input_ids"][1])
    assert not torch.equal(inputs["pixel_values"][0], inputs["pixel_values"][1])
    assert "input_points" not in inputs and "input_boxes" not in inputs


def test_outputs_feed_the_model_and_post_process_back_to_the_original_size(processor):
    model = make_model(prompt_template="a {} thing").eval()
    inputs = processor(make_image(width=90, height=30), ["circle", "star"], input_points=[[45, 15]])
    with torch.no_grad():
        outputs = model(**{k: v for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")})
    masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])
    assert len(masks) == 2
    assert masks[0].shape == (1, 1, 30, 90) and masks[0].dtype == torch.bool
    logits = processor.post_process_masks(
        outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False
    )
    assert torch.equal(logits[0] > 0, masks[0])


def test_save_and_from_pretrained_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "processor_config.json").exists()
    reloaded = SamPtxProcessor.from_pretrained(tmp_path)
    assert reloaded.prompt_template == "a {} thing"
    assert isinstance(reloaded.image_processor, type(processor.image_processor))
    assert reloaded.image_processor.pad_size == processor.image_processor.pad_size
    image = make_image()
    before = processor(image, ["circle", "dotted"], input_points=[[3, 4]], input_boxes=[1, 1, 30, 30])
    after = reloaded(image, ["circle", "dotted"], input_points=[[3, 4]], input_boxes=[1, 1, 30, 30])
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_accepts_numpy_images_channels_last_and_first(processor):
    array = np.asarray(make_image(width=70, height=40))
    last = processor(array, "circle", input_points=[[69, 39]])
    first = processor(array.transpose(2, 0, 1), "circle", input_points=[[69, 39]])
    assert last["original_sizes"].tolist() == first["original_sizes"].tolist() == [[40, 70]]
    torch.testing.assert_close(last["pixel_values"], first["pixel_values"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, im: p(im, ""), "non-empty string, got ''"),
        (lambda p, im: p(im, ["circle", "  "]), "non-empty string"),
        (lambda p, im: p(im, []), "non-empty list of class names"),
        (lambda p, im: p(im, None), "text must be given"),
        (lambda p, im: p(None, "circle"), "images must be given"),
        (lambda p, im: p(im, "circle", input_points=[[80.5, 3]]), r"point \(80.5, 3\) .* outside the image"),
        (lambda p, im: p(im, "circle", input_points=[[3, -1]]), "0 <= y <= 48"),
        (lambda p, im: p(im, "circle", input_points=[3, 4]), r"list of \[x, y\] points"),
        (lambda p, im: p([im, im, im], ["a", "b"]), "3 images and 2 class names"),
        (lambda p, im: p([im, im], "circle", input_points=[[[1, 1]]]), "input_points has 1 entries but 2 images"),
        (lambda p, im: p(im, "circle", input_points=[[1, 1]], input_labels=[1, 1]), "2 labels for 1 points"),
        (lambda p, im: p(im, "circle", input_points=[[1, 1]], input_labels=[2]), "expected 1 .* or 0"),
        (lambda p, im: p(im, "circle", input_labels=[1]), "input_labels were given without input_points"),
        (lambda p, im: p(im, "circle", input_boxes=[10, 10, 5, 20]), "0 <= x1 < x2 <= 80"),
        (lambda p, im: p(im, "circle", input_boxes=[0, 0, 10]), r"one box \[x1, y1, x2, y2\]"),
        (lambda p, im: p(im, "circle", return_tensors="np"), "return_tensors='np' is not supported"),
    ],
)
def test_bad_input_raises_value_error_naming_value_and_expectation(processor, call, message):
    with pytest.raises(ValueError, match=message):
        call(processor, make_image(width=80, height=48))


def test_prompt_template_must_hold_one_placeholder():
    with pytest.raises(ValueError, match="exactly one '{}'"):
        SamPtxProcessor(SamImageProcessorPil(), tiny_clip_tokenizer(), prompt_template="a photo")


def test_image_processor_matches_the_sam_config():
    model = make_model()
    image_processor = image_processor_for_sam_config(model.config.sam_config)
    assert image_processor.size["longest_edge"] == 64
    assert image_processor.pad_size == {"height": 64, "width": 64} or image_processor.pad_size.height == 64


@pytest.mark.parametrize("sam_version", [1, 2])
def test_prompts_of_a_preprocessed_image_are_those_of_the_full_call(sam_version):
    processor = SamPtxProcessor.from_model(make_model(sam_version=sam_version))
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    prompts = {"input_points": [[20, 20], [50.5, 30]], "input_labels": [1, 0], "input_boxes": [5, 5, 60, 40]}
    full = processor(image, ["circle", "striped"], **prompts)
    only_prompts = processor.encode_prompts(
        full["original_sizes"][0].tolist(), full["reshaped_input_sizes"][0].tolist(), ["circle", "striped"], **prompts
    )
    assert set(only_prompts) == set(full) - {"pixel_values", "original_sizes", "reshaped_input_sizes"}
    for key, value in only_prompts.items():
        assert torch.equal(value, full[key]), key
