import hashlib

import numpy as np
import pytest
from scipy import ndimage

from samptx_hf.data import (
    BODY_COLOURS,
    PART_COLOURS,
    PARTS_CLASS_NAMES,
    TEXT_BLIND_STRATEGIES,
    TEXT_ONLY_TEXT_BLIND_STRATEGIES,
    SamPtxDataCollator,
    SyntheticPartsConfig,
    generate_object_sample,
    generate_parts_sample,
    image_processor_for_sam_config,
    make_parts_dataset,
    make_parts_splits,
)
from samptx_hf.evaluation.evaluate_model import score_reference_masks
from samptx_hf.modeling.tiny import tiny_sam_config


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


def _digest(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()[:16]


def test_the_point_task_is_unchanged_by_the_text_only_columns():
    # Digests of (image, mask, point_mask, object_mask) of samples 0..3 of seed 0, computed before class_mask and
    # present_classes were added: the point task must keep its images and targets.
    expected = [
        ("black", "916b3efd3e081549", "6ac1f5461bd57332", "6ac1f5461bd57332", "a0a96d617abc2c01"),
        ("green", "9174f18ce21de659", "959a3edaba4b6c3c", "959a3edaba4b6c3c", "46f7117bea89cd40"),
        ("blue", "2bb6551301f48357", "369e044264ff7284", "0899892af43529ab", "369e044264ff7284"),
        ("blue", "1aad812f1474e5e4", "a250581bb1e80568", "5e86261ae51dde76", "a250581bb1e80568"),
    ]
    for row, (class_name, *digests) in zip(make_parts_dataset(4, seed=0), expected, strict=True):
        masks = [np.asarray(row[column]) > 0 for column in ("mask", "point_mask", "object_mask")]
        assert (row["class_name"], *map(_digest, [row["image"], *masks])) == (class_name, *digests)
    camouflage = generate_parts_sample(1, seed=3, config=SyntheticPartsConfig(background="camouflage", image_size=64))
    assert (_digest(camouflage.image), _digest(camouflage.mask)) == ("dbfb506a936164f6", "9cfd29eb2c29e9ce")


@pytest.mark.parametrize("background", ["flat", "camouflage"])
def test_class_mask_is_every_region_the_name_names(background):
    config = SyntheticPartsConfig(background=background, image_size=64, num_objects=(3, 6))
    several = 0
    for index in range(30):
        sample = generate_parts_sample(index, seed=7, config=config)
        assert len(sample.composites) >= 3
        assert any(
            np.array_equal(c.object_mask, sample.object_mask) and np.array_equal(c.part_mask, sample.part_mask)
            for c in sample.composites
        )  # the pointed composite is one of them
        for name in config.class_names:
            named = [c.object_mask for c in sample.composites if c.body_colour == name]
            named += [c.part_mask for c in sample.composites if c.part_colour == name]
            expected = np.logical_or.reduce(named) if named else np.zeros_like(sample.mask)
            np.testing.assert_array_equal(sample.class_mask(name), expected)
            assert (name in sample.present_classes) == bool(named) == bool(expected.any())
        target = sample.class_mask()
        assert not (sample.mask & ~target).any()  # the pointed target is one of the named regions
        several += bool((target & ~sample.mask).any())
    assert several > 5  # the name often names more than the pointed object


def test_dataset_has_the_text_only_target_and_the_present_classes():
    config = SyntheticPartsConfig(image_size=64)
    dataset = make_parts_dataset(6, seed=3, config=config)
    for index, row in enumerate(dataset):
        sample = generate_parts_sample(index, seed=3, config=config)
        np.testing.assert_array_equal(np.asarray(row["class_mask"]) > 0, sample.class_mask())
        assert row["present_classes"] == sample.present_classes
        assert row["class_name"] in row["present_classes"]
        assert set(row["present_classes"]) == {c.body_colour for c in sample.composites} | {
            c.part_colour for c in sample.composites
        }
    with pytest.raises(ValueError, match="class_name='purple', expected a colour among"):
        generate_parts_sample(0).class_mask("purple")


def test_text_only_text_blind_answers_are_every_composite_and_every_part():
    dataset = make_parts_dataset(4, seed=3)
    for index, row in enumerate(dataset):
        sample = generate_parts_sample(index, seed=3)
        every_object = np.any([composite.object_mask for composite in sample.composites], axis=0)
        every_part = np.any([composite.part_mask for composite in sample.composites], axis=0)
        np.testing.assert_array_equal(np.asarray(row["all_objects_mask"]) > 0, every_object)
        np.testing.assert_array_equal(np.asarray(row["all_parts_mask"]) > 0, every_part)
    assert set(TEXT_ONLY_TEXT_BLIND_STRATEGIES.values()) <= set(dataset.column_names)


def test_text_only_text_blind_strategies_cannot_solve_the_task():
    scores = score_reference_masks(
        make_parts_dataset(96, seed=1), TEXT_ONLY_TEXT_BLIND_STRATEGIES, target_column="class_mask"
    )
    # Every composite (or every part) for every name: right for one kind of name, and then only where all
    # composites share the colour.
    assert all(0.2 < score < 0.5 for score in scores.values()), scores
