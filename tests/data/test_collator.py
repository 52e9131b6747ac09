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
    from samptx_hf.modeling.tiny import tiny_sam_config

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


@pytest.fixture(scope="module")
def parts_rows():
    from samptx_hf.data import SyntheticPartsConfig, make_parts_dataset

    dataset = make_parts_dataset(12, seed=1, config=SyntheticPartsConfig(image_size=64))
    return [dict(row, sample_index=index) for index, row in enumerate(dataset)]


def _as_bool(mask):
    return np.asarray(mask) > 0


@pytest.mark.parametrize("num_points", [1, 3])
def test_text_mode_prompts_the_name_alone_and_targets_every_region_of_the_class(
    image_processor, parts_rows, num_points
):
    batch = SamPtxDataCollator(image_processor, num_points=num_points, prompt_mode="text")(parts_rows)
    assert batch["input_labels"][..., 0].eq(-1).all() and batch["input_labels"][..., 1:].eq(-10).all()
    assert batch["input_points"].eq(0).all()
    assert not batch["has_point"].any() and batch["has_point"].dtype == torch.bool
    assert batch["presence_labels"].tolist() == [1.0] * len(parts_rows)
    assert batch["class_names"] == [row["class_name"] for row in parts_rows]
    for row, target in zip(parts_rows, batch["masks"], strict=True):
        np.testing.assert_array_equal(target, _as_bool(row["class_mask"]))
    assert any((_as_bool(row["class_mask"]) & ~_as_bool(row["mask"])).any() for row in parts_rows)  # not the object
    point_labels = SamPtxDataCollator(image_processor)(parts_rows)["labels"]
    text_labels = batch["labels"]
    assert (text_labels >= point_labels).all() and (text_labels > point_labels).any()  # the union, low-res too


def test_text_mode_falls_back_to_the_mask_without_a_class_mask(image_processor, rows):
    batch = SamPtxDataCollator(image_processor, prompt_mode="text", train=False)(rows)
    assert batch["input_labels"].eq(-1).all()
    for row, target in zip(rows, batch["masks"], strict=True):
        np.testing.assert_array_equal(target, _as_bool(row["mask"]))


def test_mixed_mode_keeps_some_points_reproducibly(image_processor, parts_rows):
    def collate(seed, epoch=0):
        collator = SamPtxDataCollator(image_processor, num_points=2, seed=seed, prompt_mode="mixed")
        collator.set_epoch(epoch)
        return collator(parts_rows)

    batch, pointed = collate(seed=0), SamPtxDataCollator(image_processor, num_points=2, seed=0)(parts_rows)
    kept = batch["has_point"]
    assert 0 < kept.sum() < len(parts_rows)
    assert torch.equal(collate(seed=0)["has_point"], kept)
    assert not torch.equal(collate(seed=0, epoch=1)["has_point"], kept)  # drawn anew each epoch
    assert batch["input_labels"][kept].eq(1).all() and batch["input_labels"][~kept][..., 0].eq(-1).all()
    torch.testing.assert_close(batch["input_points"][kept], pointed["input_points"][kept])  # the same points
    for row, target, has_point in zip(parts_rows, batch["masks"], kept.tolist(), strict=True):
        np.testing.assert_array_equal(target, _as_bool(row["mask" if has_point else "class_mask"]))
    shares = [
        SamPtxDataCollator(image_processor, prompt_mode="mixed", point_probability=p)(parts_rows)["has_point"]
        for p in (0.0, 1.0)
    ]
    assert not shares[0].any() and shares[1].all()


def test_absent_rows_name_a_class_missing_from_the_image_with_an_empty_target(image_processor, parts_rows):
    from samptx_hf.data import PARTS_CLASS_NAMES

    rows = [dict(row, sample_index=index) for index in range(25) for row in parts_rows[:12]]  # 300 rows
    collator = SamPtxDataCollator(
        image_processor, prompt_mode="text", absent_class_fraction=0.3, class_names=PARTS_CLASS_NAMES
    )
    batch = collator(rows)
    absent = batch["presence_labels"] == 0
    substitutable = [len(set(PARTS_CLASS_NAMES) - set(row["present_classes"])) > 0 for row in rows]
    assert abs(absent.sum().item() / sum(substitutable) - 0.3) < 0.08
    for index, row in enumerate(rows):
        name, target = batch["class_names"][index], batch["masks"][index]
        if absent[index]:
            assert name in PARTS_CLASS_NAMES and name not in row["present_classes"]
            assert not target.any() and not batch["labels"][index].any()
        else:
            assert name == row["class_name"] and target.any()
    assert batch["presence_labels"].dtype == torch.float32 and batch["presence_labels"].shape == (300,)


def test_a_row_with_every_class_present_stays_present(image_processor, parts_rows):
    row = parts_rows[0]
    collator = SamPtxDataCollator(
        image_processor, absent_class_fraction=0.99, class_names=row["present_classes"], seed=3
    )
    batch = collator([row] * 8)
    assert batch["presence_labels"].tolist() == [1.0] * 8 and batch["class_names"] == [row["class_name"]] * 8


def test_a_row_whose_class_is_not_present_is_absent(image_processor, rows):
    empty = dict(rows[0], mask=np.zeros((96, 96), dtype=np.uint8), present_classes=[])
    batch = SamPtxDataCollator(image_processor, prompt_mode="text")([empty, rows[1]])
    assert batch["presence_labels"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"not in its present_classes \[\], but its mask is not empty"):
        SamPtxDataCollator(image_processor)([dict(rows[0], present_classes=[])])


def test_evaluation_choices_are_the_same_for_every_evaluation(image_processor, parts_rows):
    from samptx_hf.data import PARTS_CLASS_NAMES

    kwargs = {"train": False, "prompt_mode": "mixed", "absent_class_fraction": 0.5, "class_names": PARTS_CLASS_NAMES}
    for rows in (parts_rows, [{k: v for k, v in row.items() if k != "sample_index"} for row in parts_rows]):
        first = SamPtxDataCollator(image_processor, **kwargs)(rows)
        collator = SamPtxDataCollator(image_processor, **kwargs)
        collator.set_epoch(3)
        again = collator(rows[::-1])
        assert again["class_names"][::-1] == first["class_names"]
        assert torch.equal(again["has_point"].flip(0), first["has_point"])
        assert torch.equal(again["presence_labels"].flip(0), first["presence_labels"])
        assert 0 < first["presence_labels"].sum() < len(rows) and 0 < first["has_point"].sum() < len(rows)


def test_point_mode_batches_say_every_row_is_pointed_and_present(image_processor, rows):
    batch = SamPtxDataCollator(image_processor)(rows)
    assert batch["has_point"].all() and batch["presence_labels"].tolist() == [1.0] * len(rows)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_mode": "box"}, r"prompt_mode='box', expected one of \('point', 'text', 'mixed', 'paired'\)"),
        ({"prompt_mode": "mixed", "point_probability": 1.5}, r"point_probability=1.5, expected a probability"),
        ({"absent_class_fraction": 1.0, "class_names": ["a"]}, r"absent_class_fraction=1.0, expected a fraction"),
        ({"absent_class_fraction": -0.1}, r"absent_class_fraction=-0.1, expected a fraction in \[0, 1\)"),
        ({"absent_class_fraction": float("nan")}, r"absent_class_fraction=nan"),
        ({"absent_class_fraction": 0.2}, r"absent_class_fraction=0.2 needs class_names"),
        ({"absent_class_fraction": 0.2, "class_names": "red"}, r"class_names='red', expected a sequence"),
    ],
)
def test_bad_prompt_options_are_named(image_processor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamPtxDataCollator(image_processor, **kwargs)


def test_absent_classes_need_the_present_classes_of_each_row(image_processor, rows):
    collator = SamPtxDataCollator(image_processor, absent_class_fraction=0.2, class_names=["circle"])
    without = [{key: value for key, value in row.items() if key != "present_classes"} for row in rows]
    with pytest.raises(ValueError, match=r"row 'synthetic-2-000000' has no present_classes"):
        collator(without)


# ----------------------------------------------------------------------------------- paired prompts


def _paired_and_single_batches(image_processor, rows, **kwargs):
    from samptx_hf.data import PARTS_CLASS_NAMES

    kwargs = {"num_points": 2, "seed": 4, "absent_class_fraction": 0.4, "class_names": PARTS_CLASS_NAMES, **kwargs}
    return {
        mode: SamPtxDataCollator(image_processor, prompt_mode=mode, **kwargs)(rows) for mode in ("paired", "text")
    } | {"point": SamPtxDataCollator(image_processor, **{**kwargs, "absent_class_fraction": 0.0})(rows)}


def test_paired_mode_asks_each_row_with_its_point_and_by_its_name_in_one_point_batch(image_processor, parts_rows):
    batches = _paired_and_single_batches(image_processor, parts_rows)
    paired, text, point = batches["paired"], batches["text"], batches["point"]
    n = len(parts_rows)
    assert paired["input_points"].shape == (n, 2, 2, 2) and paired["input_labels"].shape == (n, 2, 2)
    assert paired["labels"].shape == (n, 2, 64, 64) and paired["has_point"].tolist() == [[True, False]] * n
    # The same rows are absent (and name the same classes) as in text mode: the choices do not depend on the mode.
    assert paired["class_names"] == text["class_names"]
    assert torch.equal(paired["presence_labels"], text["presence_labels"])
    absent = paired["presence_labels"] == 0
    assert 0 < absent.sum() < n
    # Query 1 is the text-only prompt and target; query 0 the point prompt and target, where the row is present.
    assert torch.equal(paired["input_labels"][:, 1], text["input_labels"][:, 0])
    assert torch.equal(paired["labels"][:, 1], text["labels"])
    present = ~absent
    assert paired["input_labels"][:, 0].eq(1).all()
    torch.testing.assert_close(paired["input_points"][:, 0], point["input_points"][:, 0])
    assert torch.equal(paired["labels"][present, 0], point["labels"][present])
    assert not paired["labels"][absent].any()
    for index, references in enumerate(paired["masks"]):
        assert references.shape == (2, 64, 64)
        np.testing.assert_array_equal(references[1], text["masks"][index])
        np.testing.assert_array_equal(references[0], point["masks"][index] if present[index] else text["masks"][index])


@pytest.mark.parametrize("base", ["tiny-sam", "tiny-sam2"])
def test_one_paired_pass_answers_as_the_point_and_the_text_passes(base, parts_rows):
    from peft import get_peft_model

    from samptx_hf import SamPtxForTextSegmentation, peft_config_for
    from samptx_hf.pretrained import BUILTIN_PREFIX, TINY_CLIP

    # The pretrained tiny bases: their masks are not near zero, as a random tiny SAM's are.
    base_model = SamPtxForTextSegmentation.from_pretrained_components(
        BUILTIN_PREFIX + base, TINY_CLIP, presence_head=True
    )
    config = peft_config_for("parallel_text", r=4)
    config.init_weights = False
    model = get_peft_model(base_model, config).eval()
    processor = image_processor_for_sam_config(base_model.config.sam_config)
    batches = _paired_and_single_batches(processor, parts_rows[:4], absent_class_fraction=0.0, class_names=None)
    text_embeds = base_model.encode_text(batches["paired"]["class_names"])

    def run(batch):
        with torch.no_grad():
            return model(
                **{key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}, text_embeds=text_embeds
            )

    paired, point, text = (run(batches[mode]) for mode in ("paired", "point", "text"))
    assert paired.pred_masks.shape[1] == 2
    torch.testing.assert_close(paired.pred_masks[:, :1], point.pred_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(paired.pred_masks[:, 1:], text.pred_masks, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(paired.presence_logits[:, :1], point.presence_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(paired.presence_logits[:, 1:], text.presence_logits, rtol=1e-4, atol=1e-4)
    assert (point.pred_masks - text.pred_masks).abs().max() > 1.0  # the two queries do differ
