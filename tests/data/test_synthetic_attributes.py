import time

import datasets
import numpy as np
import pytest

from samptx_hf.data import (
    SYNTHETIC_CLASS_NAMES,
    SyntheticShapesConfig,
    generate_synthetic_sample,
    make_synthetic_dataset,
    make_synthetic_splits,
)


def test_same_seed_same_samples_other_seed_other_samples():
    first = make_synthetic_dataset(6, seed=7)
    again = make_synthetic_dataset(6, seed=7)
    other = make_synthetic_dataset(6, seed=8)

    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
        np.testing.assert_array_equal(np.asarray(a["mask"]), np.asarray(b["mask"]))
        assert a["class_name"] == b["class_name"]
    assert not np.array_equal(np.asarray(first[0]["image"]), np.asarray(other[0]["image"]))


def test_sample_does_not_depend_on_dataset_length():
    short, long = make_synthetic_dataset(2, seed=1), make_synthetic_dataset(5, seed=1)
    np.testing.assert_array_equal(np.asarray(short[1]["image"]), np.asarray(long[1]["image"]))


def test_dataset_columns_and_content():
    dataset = make_synthetic_dataset(8, seed=0, config=SyntheticShapesConfig(image_size=64, num_objects=3))
    assert isinstance(dataset.features["image"], datasets.Image)
    assert set(dataset["class_name"]) <= set(SYNTHETIC_CLASS_NAMES)
    row = dataset[0]
    assert row["image"].mode == "RGB" and row["image"].size == (64, 64)
    assert row["mask"].mode == "L" and set(np.unique(np.asarray(row["mask"]))) == {0, 255}
    assert row["image_id"] == "synthetic-0-000000" and len(row["object_shapes"]) == 3


@pytest.mark.parametrize("num_objects", [2, 4, 6])
def test_target_is_union_of_objects_with_the_named_attribute(num_objects):
    config = SyntheticShapesConfig(num_objects=num_objects)
    for index in range(40):
        sample = generate_synthetic_sample(index, seed=3, config=config)
        expected = np.zeros_like(sample.mask)
        for obj in sample.objects:
            assert obj.mask.any()
            if sample.class_name in (obj.shape, obj.texture):
                expected |= obj.mask
        np.testing.assert_array_equal(sample.mask, expected)
        assert sample.mask.any()
        # objects never overlap, so each one is fully visible
        assert (
            sum(obj.mask.sum() for obj in sample.objects)
            == np.logical_or.reduce([o.mask for o in sample.objects]).sum()
        )


def test_the_point_alone_is_ambiguous():
    """Whatever target object a point lands on, its other attribute names a different, non-empty target."""
    config = SyntheticShapesConfig()
    named_kinds = set()
    for index in range(200):
        sample = generate_synthetic_sample(index, seed=11, config=config)
        named_is_shape = sample.class_name in config.shapes
        named_kinds.add(named_is_shape)
        for pointed in sample.objects:
            if sample.class_name not in (pointed.shape, pointed.texture):
                continue
            other = pointed.texture if named_is_shape else pointed.shape
            decoys = [
                obj
                for obj in sample.objects
                if other in (obj.shape, obj.texture) and sample.class_name not in (obj.shape, obj.texture)
            ]
            assert decoys, f"sample {index}: no object has {other!r} without {sample.class_name!r}"
            alternative = np.logical_or.reduce([o.mask for o in sample.objects if other in (o.shape, o.texture)])
            assert alternative[pointed.mask].all() and not np.array_equal(alternative, sample.mask)
    assert named_kinds == {True, False}  # both shape and texture classes are asked for


def test_classes_are_balanced_and_camouflaged():
    config = SyntheticShapesConfig()
    samples = [generate_synthetic_sample(i, seed=0, config=config) for i in range(400)]
    counts = {name: sum(s.class_name == name for s in samples) for name in config.class_names}
    assert min(counts.values()) > 20
    # camouflage: objects and background have about the same mean brightness
    sample = samples[0]
    gray = sample.image.mean(axis=-1)
    objects = np.logical_or.reduce([o.mask for o in sample.objects])
    assert abs(gray[objects].mean() - gray[~objects].mean()) < 20


def test_held_out_split_has_its_own_seed():
    splits = make_synthetic_splits(3, 2, seed=5)
    assert splits["train"]["image_id"][0] == "synthetic-5-000000"
    assert splits["test"]["image_id"][0] == "synthetic-6-000000"
    with pytest.raises(ValueError, match="test_seed=5"):
        make_synthetic_splits(3, 2, seed=5, test_seed=5)


def test_generation_is_fast():
    start = time.perf_counter()
    make_synthetic_dataset(300, seed=0)
    assert time.perf_counter() - start < 5.0  # ~2 s per 1000 samples at 128 px on 2 cores


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_objects": 1}, "num_objects=1"),
        ({"shapes": ("circle",)}, "shapes="),
        ({"textures": ("striped", "plaid")}, "textures="),
        ({"background": "sky"}, "background='sky'"),
        ({"image_size": 16}, "image_size=16"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticShapesConfig(**kwargs)


def test_dataset_says_which_shapes_and_textures_each_image_holds():
    dataset = make_synthetic_dataset(4, seed=1, config=SyntheticShapesConfig(image_size=64))
    for row in dataset:
        assert row["present_classes"] == list(dict.fromkeys(row["object_shapes"] + row["object_textures"]))
        assert row["class_name"] in row["present_classes"]
