import numpy as np
import pytest
import torch
from transformers import SamConfig

from samptx_hf.data import (
    SamPtxDataCollator,
    SyntheticShapesConfig,
    image_processor_for_sam_config,
    interior_point,
    make_synthetic_dataset,
)


@pytest.fixture(scope="module")
def tiny_sam_config():
    return SamConfig(
        vision_config={"image_size": 128, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "output_channels": 16, "mlp_dim": 64,
                       "global_attn_indexes": [0]},
        prompt_encoder_config={"image_size": 128, "patch_size": 8, "hidden_size": 16},
    )  # fmt: skip


@pytest.fixture(scope="module")
def image_processor(tiny_sam_config):
    return image_processor_for_sam_config(tiny_sam_config)


@pytest.fixture(scope="module")
def rows():
    dataset = make_synthetic_dataset(4, seed=2, config=SyntheticShapesConfig(image_size=96))
    return [dataset[i] for i in range(len(dataset))]


def test_processor_matches_the_sam_config(image_processor):
    assert image_processor.size["longest_edge"] == 128
    assert image_processor.mask_size["longest_edge"] == 64  # 4 * image_embedding_size (128 / 8)
    assert image_processor.mask_pad_size["height"] == 64


def test_batch_shapes_and_dtypes(image_processor, rows):
    batch = SamPtxDataCollator(image_processor, num_points=3)(rows)

    assert batch["pixel_values"].shape == (4, 3, 128, 128) and batch["pixel_values"].dtype == torch.float32
    assert batch["input_points"].shape == (4, 1, 3, 2) and batch["input_points"].dtype == torch.float32
    assert batch["input_labels"].shape == (4, 1, 3) and (batch["input_labels"] == 1).all()
    assert batch["labels"].shape == (4, 64, 64) and batch["labels"].dtype == torch.float32
    assert set(batch["labels"].unique().tolist()) == {0.0, 1.0}
    assert batch["class_names"] == [row["class_name"] for row in rows]
    assert batch["original_sizes"].tolist() == [[96, 96]] * 4
    assert batch["reshaped_input_sizes"].tolist() == [[128, 128]] * 4


def _share_inside_labels(batch, image_size=128):
    scale = batch["labels"].shape[-1] / image_size  # resized-image frame -> low-res mask frame
    inside = [
        bool(labels[int((y + 0.5) * scale), int((x + 0.5) * scale)] == 1)
        for labels, points in zip(batch["labels"], batch["input_points"][:, 0], strict=True)
        for x, y in points.tolist()
    ]
    return sum(inside) / len(inside)


def test_points_land_inside_the_processed_mask(image_processor, rows):
    # The interior point is always inside; a random point on the mask's edge may fall just outside the
    # nearest-neighbour downsampled labels, so only the bulk of the training points is checked.
    assert _share_inside_labels(SamPtxDataCollator(image_processor, train=False)(rows)) == 1.0
    assert _share_inside_labels(SamPtxDataCollator(image_processor, num_points=50, train=True)(rows)) > 0.9


def test_points_are_in_the_resized_frame(image_processor, rows):
    batch = SamPtxDataCollator(image_processor, train=False)(rows[:1])
    x, y = interior_point(rows[0]["mask"])
    np.testing.assert_allclose(batch["input_points"][0, 0, 0].numpy(), [x * 128 / 96, y * 128 / 96], rtol=1e-6)


def test_eval_points_are_deterministic_and_train_points_seeded(image_processor, rows):
    eval_a = SamPtxDataCollator(image_processor, train=False, num_points=2)(rows)
    eval_b = SamPtxDataCollator(image_processor, train=False, num_points=2)(rows[::-1])
    torch.testing.assert_close(eval_a["input_points"], eval_b["input_points"].flip(0))

    train = SamPtxDataCollator(image_processor, num_points=4, seed=1)
    first, second = train(rows)["input_points"], train(rows)["input_points"]
    assert not torch.equal(first, second)  # fresh points every batch
    torch.testing.assert_close(SamPtxDataCollator(image_processor, num_points=4, seed=1)(rows)["input_points"], first)


def test_mismatched_mask_is_reported(image_processor, rows):
    row = dict(rows[0], mask=rows[0]["mask"].resize((10, 10)))
    with pytest.raises(ValueError, match=r"has size \(10, 10\), expected the image's \(96, 96\)"):
        SamPtxDataCollator(image_processor)([row])


def test_training_points_depend_only_on_seed_epoch_and_sample_index():
    from samptx_hf.data import SamPtxDataCollator, image_processor_for_sam_config, make_synthetic_dataset
    from samptx_hf.tiny import tiny_sam_config

    rows = [dict(row, sample_index=i) for i, row in enumerate(make_synthetic_dataset(4, seed=3))]
    processor = image_processor_for_sam_config(tiny_sam_config(image_size=128))
    whole = SamPtxDataCollator(processor, num_points=2, seed=5)(rows)["input_points"]
    halves = [
        SamPtxDataCollator(processor, num_points=2, seed=5)(part)["input_points"] for part in (rows[:2], rows[2:])
    ]
    assert torch.equal(whole, torch.cat(halves))  # as if split over two processes
    collator = SamPtxDataCollator(processor, num_points=2, seed=5)
    collator.set_epoch(1)
    assert not torch.equal(collator(rows)["input_points"], whole)
