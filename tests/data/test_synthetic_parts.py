import numpy as np
import pytest
from scipy import ndimage

from samptx_hf.data import (
    BODY_COLOURS,
    PART_COLOURS,
    PARTS_CLASS_NAMES,
    TEXT_BLIND_STRATEGIES,
    SamPtxDataCollator,
    SyntheticPartsConfig,
    generate_object_sample,
    generate_parts_sample,
    image_processor_for_sam_config,
    make_parts_dataset,
    make_parts_splits,
)
from samptx_hf.evaluation import score_reference_masks
from samptx_hf.tiny import tiny_sam_config


@pytest.mark.parametrize("background", ["flat", "camouflage"])
def test_the_name_decides_between_the_whole_composite_and_its_part(background):
    config = SyntheticPartsConfig(background=background)
    seen = set()
    for index in range(60):
        sample = generate_parts_sample(index, seed=4, config=config)
        assert sample.part_mask.any() and not (sample.part_mask & ~sample.object_mask).any()  # the part is inside
        assert sample.part_mask.sum() < 0.5 * sample.object_mask.sum()
        assert ndimage.label(sample.object_mask, np.ones((3, 3)))[1] == 1  # one (8-)connected composite
        assert sample.body_colour in BODY_COLOURS and sample.part_colour in PART_COLOURS
        assert sample.class_name == (sample.part_colour if sample.names_part else sample.body_colour)
        if sample.names_part:
            assert sample.class_name in PART_COLOURS
            np.testing.assert_array_equal(sample.mask, sample.part_mask)
        else:
            assert sample.class_name in BODY_COLOURS
            np.testing.assert_array_equal(sample.mask, sample.object_mask)
        seen.add(sample.class_name)
    assert seen == set(PARTS_CLASS_NAMES)


def test_samples_are_deterministic_and_seeds_independent():
    first, again = generate_parts_sample(3, seed=9), generate_parts_sample(3, seed=9)
    np.testing.assert_array_equal(first.image, again.image)
    assert not np.array_equal(first.image, generate_parts_sample(3, seed=10).image)
    short, long = make_parts_dataset(2, seed=1), make_parts_dataset(4, seed=1)
    np.testing.assert_array_equal(np.asarray(short[1]["image"]), np.asarray(long[1]["image"]))


def test_dataset_columns_splits_and_held_out_seed():
    splits = make_parts_splits(4, 3, seed=5)
    row = splits["train"][0]
    assert row["image"].mode == "RGB" and row["image"].size == (128, 128)
    assert row["image_id"] == "parts-5-000000" and splits["test"][0]["image_id"] == "parts-6-000000"
    assert set(TEXT_BLIND_STRATEGIES.values()) <= set(splits["train"].column_names)
    mask, part = np.asarray(row["mask"]) > 0, np.asarray(row["point_mask"]) > 0
    assert (mask == part).all() == row["names_part"]
    with pytest.raises(ValueError, match="test_seed=5 equals seed"):
        make_parts_splits(2, 2, seed=5, test_seed=5)


def test_prompt_points_fall_on_the_part_that_both_readings_contain():
    dataset = make_parts_dataset(8, seed=2)
    processor = image_processor_for_sam_config(tiny_sam_config(image_size=128))
    for train in (True, False):
        collator = SamPtxDataCollator(processor, num_points=3 if train else 1, train=train, seed=0)
        rows = [dict(row, sample_index=i) for i, row in enumerate(dataset)]
        batch = collator(rows)
        for row, points in zip(rows, batch["input_points"][:, 0], strict=True):
            part = np.asarray(row["point_mask"]) > 0
            for x, y in points.round().long().tolist():  # 128 px images are not resized
                assert part[y, x]


def test_text_blind_strategies_cannot_solve_the_task():
    scores = score_reference_masks(make_parts_dataset(96, seed=1), TEXT_BLIND_STRATEGIES)
    # Each strategy is right for half of the classes and far off for the other half.
    assert set(scores) == {"always the whole object", "always the part"}
    assert all(0.45 < score < 0.7 for score in scores.values()), scores


def test_object_samples_for_pretraining_are_class_agnostic_objects():
    for index in range(10):
        image, mask = generate_object_sample(index, seed=0)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert mask.shape == (128, 128) and mask.sum() >= 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 16}, "image_size=16"),
        ({"num_objects": (0, 2)}, r"num_objects=\(0, 2\)"),
        ({"body_colours": ("red", "yellow")}, "body_colours="),
        ({"part_colours": ()}, "part_colours=()"),
        ({"part_radius": (0.3, 0.6)}, "the part must fit"),
        ({"background": "blobs"}, "background='blobs'"),
        ({"part_probability": 1.5}, "part_probability=1.5"),
    ],
)
def test_bad_configuration_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticPartsConfig(**kwargs)


def test_reference_masks_need_their_columns():
    with pytest.raises(ValueError, match=r"lacks the columns \['nope'\]"):
        score_reference_masks(make_parts_dataset(2), {"x": "nope"})
