import datasets
import pytest

from samptx_hf.data import low_data_subset, select_image_ids


@pytest.fixture
def samples():
    # 200 images with 1 to 3 (image, class) samples each
    image_ids, class_names = [], []
    for image in range(200):
        for class_index in range(image % 3 + 1):
            image_ids.append(f"img{image:03d}")
            class_names.append(f"class{class_index}")
    return datasets.Dataset.from_dict({"image_id": image_ids, "class_name": class_names})


def _images(dataset):
    return set(dataset["image_id"])


def test_same_seed_same_images_other_seed_other_images(samples):
    first = low_data_subset(samples, 1 / 8, seed=3)
    again = low_data_subset(samples, 1 / 8, seed=3)
    other = low_data_subset(samples, 1 / 8, seed=4)

    assert len(_images(first)) == 25
    assert first["image_id"] == again["image_id"]
    assert _images(first) != _images(other)


def test_samples_of_an_image_stay_together(samples):
    subset = low_data_subset(samples, 1 / 16, seed=0)
    per_image = {image_id: samples["image_id"].count(image_id) for image_id in _images(subset)}
    assert all(subset["image_id"].count(image_id) == count for image_id, count in per_image.items())
    assert len(subset) == sum(per_image.values())


def test_subset_ignores_row_order_and_is_nested(samples):
    shuffled = samples.shuffle(seed=123)
    assert _images(low_data_subset(shuffled, 1 / 8, seed=1)) == _images(low_data_subset(samples, 1 / 8, seed=1))
    assert _images(low_data_subset(samples, 1 / 64, seed=1)) <= _images(low_data_subset(samples, 1 / 8, seed=1))


def test_at_least_one_image_and_whole_dataset(samples):
    assert len(_images(low_data_subset(samples, 1 / 512, seed=0))) == 1
    assert len(low_data_subset(samples, 1.0, seed=0)) == len(samples)
    assert select_image_ids(["b", "a", "a"], 1.0) == ["a", "b"]


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_fraction_outside_unit_interval(samples, fraction):
    with pytest.raises(ValueError, match=f"fraction={fraction}"):
        low_data_subset(samples, fraction, seed=0)


def test_missing_image_column(samples):
    with pytest.raises(ValueError, match="image_column='file'"):
        low_data_subset(samples, 0.5, seed=0, image_column="file")
