"""The training recipe as flags (learning-rate groups, budget, points, resize, augmentation, best checkpoint),
train_results.json, and a run that stops cleanly: refused output folders, a non-finite loss, Ctrl-C."""

import json
import re
import shlex

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_helpers import TINY_DATA, TINY_MODEL, tiny_cli, train_script

import samptx_hf.training.loop as loop
from samptx_hf.data import SamPtxDataCollator
from samptx_hf.data.augmentation import PairedAugmentation
from samptx_hf.modeling.tiny import tiny_samptx_config
from samptx_hf.processing.image_processing_sam2 import Sam2TorchImageProcessor
from samptx_hf.training import DataArguments, ModelArguments, SamPtxTrainingArguments, list_checkpoints, train
from samptx_hf.training.loop import NonFiniteLossError, training_image_processor
from samptx_hf.training.optimization import parameter_group, parameter_groups, resolve_max_steps


def run(output_dir, data: dict | None = None, method="parallel_text", **training):
    defaults = {"max_steps": 4, "warmup_steps": 1, "eval_steps": 100, "checkpointing_steps": 100, "logging_steps": 1}
    return train(
        ModelArguments(method=method, **TINY_MODEL),
        DataArguments(**{**TINY_DATA, **(data or {})}),
        SamPtxTrainingArguments(output_dir=str(output_dir), disable_tqdm=True, **{**defaults, **training}),
    )


def test_train_results_are_written_as_transformers_example_scripts_write_them(tmp_path):
    results = run(tmp_path, max_steps=3, per_device_train_batch_size=4)
    metrics = json.loads((tmp_path / "train_results.json").read_text())
    assert set(metrics) == {"train_images", "train_samples", "train_runtime", "train_samples_per_second", "train_loss"}
    assert metrics["train_samples"] == TINY_DATA["num_train_samples"]
    assert metrics["train_images"] == TINY_DATA["num_train_samples"]  # the built-in task: one row per image
    assert metrics["train_samples_per_second"] == pytest.approx(3 * 4 / metrics["train_runtime"], rel=1e-2)
    losses = [record["loss"] for record in results["loss_history"]]  # one record per step: logging_steps=1
    assert metrics["train_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-6)


def test_learning_rates_by_group_and_weight_decay_reach_adamw():
    from samptx_hf.training.modeling import build_peft_model, frozen_component_paths

    model_args = ModelArguments(method="text_mask_decoder", sam_model_name_or_path="tiny")
    model = build_peft_model(model_args, *frozen_component_paths(model_args, None), presence_head=True)
    args = SamPtxTrainingArguments(adapter_learning_rate=5e-5, mask_decoder_learning_rate=2e-4, weight_decay=1e-3)
    groups, notes = parameter_groups(model, args)
    named = {id(parameter): name for name, parameter in model.named_parameters()}
    by_rate = {group["lr"]: {parameter_group(named[id(p)]) for p in group["params"]} for group in groups}
    assert by_rate == {5e-5: {"adapter"}, 2e-4: {"mask_decoder"}}
    assert all(group["weight_decay"] == 1e-3 for group in groups)
    assert any("text_prompt_projection" in named[id(p)] for p in groups[0]["params"] + groups[1]["params"])
    assert sum(len(group["params"]) for group in groups) == sum(p.requires_grad for p in model.parameters())
    assert notes == []
    # The default: one group at --learning_rate, in the model's order; a rate for an untrained group is a note.
    groups, notes = parameter_groups(model, SamPtxTrainingArguments(prompt_encoder_learning_rate=1e-5))
    assert len(groups) == 1 and groups[0]["lr"] == 1e-3
    assert [named[id(p)] for p in groups[0]["params"]] == [n for n, p in model.named_parameters() if p.requires_grad]
    assert notes == ["--prompt_encoder_learning_rate 1e-05 is not used: prompt encoder parameters are not trained here"]


@pytest.mark.parametrize(
    ("training", "prompt_mode", "expected"),
    [
        ({}, "point", 500),
        ({}, "text", 4000),  # a text-only model needs them to answer absent classes (docs/ablation.md)
        ({}, "mixed", 500),
        ({"max_steps": 7}, "text", 7),
        ({"num_train_epochs": 2.5}, "point", 25),  # 10 steps an epoch
        ({"max_steps": -1, "num_train_epochs": 1}, "text", 10),  # transformers' -1: the epochs decide
    ],
)
def test_the_step_budget_fits_the_prompt_mode_unless_given(training, prompt_mode, expected):
    assert resolve_max_steps(SamPtxTrainingArguments(**training), prompt_mode, steps_per_epoch=10) == expected


def test_epochs_set_the_budget_and_num_points_reaches_training_and_evaluation(tmp_path, monkeypatch):
    seen = []
    real_collator = loop.SamPtxDataCollator

    def spy(*args, **kwargs):
        collator = real_collator(*args, **kwargs)
        seen.append((kwargs["train"], collator.num_points))
        return collator

    monkeypatch.setattr(loop, "SamPtxDataCollator", spy)
    results = run(tmp_path, data={"num_points": 3}, max_steps=None, num_train_epochs=2, per_device_train_batch_size=8)
    assert results["global_step"] == 6 and results["max_steps"] == 6  # 24 samples / 8 = 3 steps an epoch
    assert seen == [(True, 3), (False, 3)]


def test_square_resize_stretches_images_and_masks_to_the_input_size():
    sam_config = tiny_samptx_config(image_size=64, hidden_size=32, num_hidden_layers=2).sam_config
    processor = training_image_processor(sam_config, "square")
    assert isinstance(processor, Sam2TorchImageProcessor)
    assert processor.size == {"height": 64, "width": 64} and processor.mask_size == {"height": 32, "width": 32}
    collator = SamPtxDataCollator(processor, train=False)
    mask = np.zeros((30, 90), dtype=bool)
    mask[:, 45:] = True  # the right half
    batch = collator([{"image": np.zeros((30, 90, 3), dtype=np.uint8), "mask": mask, "class_name": "x"}])
    assert tuple(batch["pixel_values"].shape) == (1, 3, 64, 64)
    assert torch.equal(batch["labels"][0], torch.tensor(np.repeat([[0.0] * 16 + [1.0] * 16], 32, axis=0)))
    assert type(training_image_processor(sam_config, "longest")).__name__.startswith("SamImageProcessor")


def test_a_square_resize_run_with_five_points_and_the_authors_loss_trains(tmp_path):
    results = run(tmp_path, data={"resize": "square", "num_points": 5}, max_steps=2)
    assert results["global_step"] == 2 and 0 <= results["mean_iou"] <= 1


def test_augmentation_moves_the_mask_with_the_image_and_keeps_it_binary():
    image = np.zeros((96, 128, 3), dtype=np.uint8)
    mask = np.zeros((96, 128), dtype=bool)
    mask[20:60, 30:90] = True
    image[mask] = 255
    augmentation = PairedAugmentation(probability=1.0)
    new_image, (new_mask,) = augmentation(image, [mask], seed=3)
    assert new_mask.dtype == bool and new_mask.shape == mask.shape and new_mask.any()
    assert not np.array_equal(new_mask, mask)  # the geometric operations moved it
    # Colour operations change only the image: inside the moved mask the image stays the bright object, outside
    # it the dark background (up to jitter, blur at the border and the cutout).
    gray = new_image.mean(-1)
    assert np.median(gray[new_mask]) > np.median(gray[~new_mask]) + 50
    again, (same_mask,) = augmentation(image, [mask], seed=3)
    assert np.array_equal(again, new_image) and np.array_equal(same_mask, new_mask)  # seeded per call
    _, (other_mask,) = augmentation(image, [mask], seed=4)
    assert not np.array_equal(other_mask, new_mask)


def test_an_augmented_run_draws_points_inside_the_augmented_masks(tmp_path):
    results = run(tmp_path, data={"augment": True}, max_steps=2)
    assert results["global_step"] == 2


def test_the_collator_says_which_rows_share_an_image_instead_of_the_model_comparing_pixels(monkeypatch):
    import samptx_hf.modeling.image_encoding as image_encoding
    from samptx_hf.processing.processing_samptx import image_processor_for_sam_config

    config = tiny_samptx_config(image_size=64, hidden_size=32, num_hidden_layers=2)
    collator = SamPtxDataCollator(image_processor_for_sam_config(config.sam_config), train=True)
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    other = np.full((32, 32, 3), 9, dtype=np.uint8)
    mask = np.ones((32, 32), dtype=bool)
    rows = [
        {"image": image, "mask": mask, "class_name": "a", "image_id": "1"},
        {"image": other, "mask": mask, "class_name": "b", "image_id": "2"},
        {"image": image, "mask": mask, "class_name": "c", "image_id": "1"},
        {"image": other, "mask": mask, "class_name": "d", "image_id": "1"},  # one id, another image: not shared
    ]
    assert collator(rows)["image_groups"] == [0, 1, 0, 3]
    augmenting = SamPtxDataCollator(
        image_processor_for_sam_config(config.sam_config), augmentation=PairedAugmentation()
    )
    assert augmenting(rows)["image_groups"] == [0, 1, 2, 3]  # every row its own draw

    def no_pixel_search(pixel_values):
        raise AssertionError("the training step compared pixel values on the device")

    monkeypatch.setattr(image_encoding, "find_repeated_images", no_pixel_search)
    from transformers import SamModel

    from samptx_hf.modeling.sam_backbones import encode_image_features

    sam = SamModel(config.sam_config)
    pixel_values = torch.randn(4, 3, 64, 64)
    pixel_values[2] = pixel_values[0]
    shared = encode_image_features(sam, pixel_values, None, image_groups=[0, 1, 0, 3]).image_embeddings
    torch.testing.assert_close(shared, sam.get_image_embeddings(pixel_values), rtol=1e-4, atol=1e-5)


def test_the_best_evaluation_s_adapter_is_kept_at_the_end(tmp_path, monkeypatch, capsys):
    scores = iter([0.3, 0.9, 0.5, 0.9])  # steps 2 and 4, the end (6), then the best one evaluated again
    real_evaluate = loop.evaluate_held_out
    weights_at = {}

    def scripted(accelerator, model, *args, **kwargs):
        results = real_evaluate(accelerator, model, *args, **kwargs)
        unwrapped = accelerator.unwrap_model(model)
        weights_at[len(weights_at)] = {
            n: p.detach().clone() for n, p in unwrapped.named_parameters() if p.requires_grad
        }
        results["metrics"]["mean_iou"] = next(scores)
        return results

    monkeypatch.setattr(loop, "evaluate_held_out", scripted)
    results = run(tmp_path, max_steps=6, eval_steps=2, load_best_model_at_end=True)
    assert results["best_global_step"] == 4 and results["mean_iou"] == 0.9
    assert "Best held-out mIoU 90.00 at step 4 (the end: 50.00)" in capsys.readouterr().out
    best_file = load_file(tmp_path / "checkpoints" / "best-model" / "trainable.safetensors")
    at_step_4, at_end, saved = weights_at[1], weights_at[2], weights_at[3]
    assert best_file.keys() == at_step_4.keys() == saved.keys()
    for name in at_step_4:  # the model evaluated last, and saved, holds the step-4 weights
        torch.testing.assert_close(best_file[name], at_step_4[name])
        torch.testing.assert_close(saved[name], at_step_4[name])
    assert any(not torch.equal(at_end[name], at_step_4[name]) for name in at_step_4)


@pytest.mark.parametrize(
    ("output_dir", "reason"),
    [
        ("/proc/samptx-run", r"cannot be written: '/proc' does not take new files \(.+\), expected a folder in a"),
        ("{file}/sub", r"lies under the file '.*notes\.txt', expected a folder"),
    ],
)
def test_an_output_dir_that_cannot_be_written_is_refused_before_anything_runs(
    tmp_path, capsys, monkeypatch, output_dir, reason
):
    (tmp_path / "notes.txt").write_text("mine")
    output_dir = output_dir.replace("{file}", str(tmp_path / "notes.txt"))
    monkeypatch.setattr(loop, "load_splits", lambda *a: pytest.fail("the data was loaded before the check"))
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(tiny_cli(output_dir))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1, err
    assert re.match(rf"\S+: error: argument --output_dir: '{re.escape(output_dir)}' {reason}", err), err


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    real_loss = loop.click_rounds_loss
    steps = iter(range(100))

    def nan_from_step_4(*args, **kwargs):
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if next(steps) >= 3 else loss

    monkeypatch.setattr(loop, "click_rounds_loss", nan_from_step_4)
    with pytest.raises(NonFiniteLossError, match=r"training stopped at step 4: the loss is not finite \(nan\)"):
        run(tmp_path / "a", max_steps=6, checkpointing_steps=2, logging_steps=2)
    checkpoint = tmp_path / "a" / "checkpoints" / "checkpoint-2"
    assert [p.name for p in list_checkpoints(tmp_path / "a" / "checkpoints")] == ["checkpoint-2"]
    assert not (tmp_path / "a" / "adapter_model.safetensors").exists()  # nothing saved after it
    steps = iter(range(100))
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(tiny_cli(tmp_path / "b", max_steps=6, checkpointing_steps=2, logging_steps=2))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1
    assert "training stopped at step 4" in err
    assert f"the last checkpoint is {str(checkpoint).replace('/a/', '/b/')}" in err


def test_ctrl_c_during_training_prints_one_line_with_the_command_that_resumes(tmp_path, monkeypatch, capsys):
    real_save = loop.save_checkpoint

    def save_then_interrupt(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_interrupt)
    argv = tiny_cli(tmp_path, max_steps=4, checkpointing_steps=2)
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 130 and len(err.splitlines()) == 1, err
    assert f"the checkpoints in {tmp_path / 'checkpoints'} are intact" in err
    command = shlex.split(err.split("to go on: ", 1)[1])
    assert command[:2] == ["python", command[1]] and command[1].endswith("train.py")
    assert command[2:] == [*argv, "--resume_from_checkpoint", "latest"]
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    results = train_script().main(command[2:])  # the printed command finishes the run
    assert results["global_step"] == 4


def test_ctrl_c_before_the_first_checkpoint_says_how_to_start_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(loop, "load_splits", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    argv = [*tiny_cli(tmp_path), "--overwrite_output_dir", "true"]
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 130 and len(err.splitlines()) == 1
    assert "no checkpoint was saved" in err
    assert err.endswith(shlex.join([*tiny_cli(tmp_path), "--overwrite_output_dir"]))


def test_auto_find_batch_size_lowers_the_batch_until_a_step_fits(tmp_path, monkeypatch, capsys):
    real_loss = loop.click_rounds_loss
    probed = []

    def out_of_memory_above_2(model, inputs, *args, **kwargs):
        probed.append(inputs["pixel_values"].shape[0])
        if inputs["pixel_values"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_loss(model, inputs, *args, **kwargs)

    monkeypatch.setattr(loop, "click_rounds_loss", out_of_memory_above_2)
    results = run(tmp_path, max_steps=2, per_device_train_batch_size=8, auto_find_batch_size=True)
    assert probed[:7] == [8, 7, 6, 5, 4, 3, 2] and set(probed[7:]) == {2}  # accelerate's rule: x 0.9
    assert results["per_device_train_batch_size"] == 2 and results["global_step"] == 2
    assert "--auto_find_batch_size: 2 per device fits (from 8)" in capsys.readouterr().out


def test_persistent_workers_draw_each_epoch_s_points_as_the_main_process_does():
    from torch.utils.data import DataLoader

    from samptx_hf.processing.processing_samptx import image_processor_for_sam_config

    config = tiny_samptx_config(image_size=64, hidden_size=32, num_hidden_layers=2)
    mask = np.zeros((32, 32), dtype=bool)
    mask[4:28, 4:28] = True
    rows = [
        {"image": np.zeros((32, 32, 3), dtype=np.uint8), "mask": mask, "class_name": "a", "sample_index": index}
        for index in range(4)
    ]
    collator = SamPtxDataCollator(image_processor_for_sam_config(config.sam_config), num_points=3, train=True)
    loader = DataLoader(rows, batch_size=4, collate_fn=collator, num_workers=1, persistent_workers=True)
    by_epoch = []
    for epoch in range(2):
        collator.set_epoch(epoch)
        (batch,) = list(loader)
        by_epoch.append(batch["input_points"])
        torch.testing.assert_close(batch["input_points"], collator(rows)["input_points"])  # the main process's
    assert not torch.equal(by_epoch[0], by_epoch[1])
