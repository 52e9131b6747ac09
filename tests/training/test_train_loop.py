"""End-to-end training runs on the tiny synthetic task (seconds each)."""

import json
import math
import os
import re
import subprocess
import sys

import accelerate.tracking
import pytest
import torch
from network import free_port
from safetensors.torch import load_file
from training_helpers import REPO, TINY_DATA, TINY_MODEL, tiny_cli, train_script

import samptx_hf.training.loop as loop
from samptx_hf.training import (
    DataArguments,
    ModelArguments,
    SamPtxTrainingArguments,
    TrainingArgumentParser,
    list_checkpoints,
    train,
)
from samptx_hf.training.loop import resolve_mixed_precision


def run(output_dir, method="parallel_text", **training):
    defaults = {"max_steps": 6, "warmup_steps": 2, "eval_steps": 100, "checkpointing_steps": 100, "logging_steps": 1}
    return train(
        ModelArguments(method=method, **TINY_MODEL),
        DataArguments(**TINY_DATA),
        SamPtxTrainingArguments(output_dir=str(output_dir), disable_tqdm=True, **{**defaults, **training}),
    )


@pytest.mark.parametrize("method", ["parallel_text", "decoder_only", "text_mask_decoder"])
def test_a_run_saves_the_adapter_and_the_metrics(tmp_path, method):
    results = run(tmp_path, method=method, max_steps=3)
    saved = json.loads((tmp_path / "eval_results.json").read_text())
    assert saved["method"] == method and saved["num_processes"] == 1 and saved["mixed_precision"] == "no"
    assert 0.0 <= saved["mean_iou"] <= 1.0 and saved["mean_iou"] == results["mean_iou"]
    assert saved["global_step"] == 3 and len(saved["loss_history"]) == 3
    assert (tmp_path / "adapter_model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    adapter = load_file(tmp_path / "adapter_model.safetensors")
    assert any("mask_decoder" in key for key in adapter)
    assert not any("vision_encoder" in key and "parallel_text_" not in key for key in adapter)
    card = (tmp_path / "README.md").read_text()
    assert "type: mean_iou" in card and "type: mean_sample_iou" in card
    assert "global_step" not in card and "train_seconds" not in card  # run facts are not metrics


def test_a_killed_and_resumed_run_ends_with_the_weights_and_the_loss_history_of_an_uninterrupted_one(
    tmp_path, monkeypatch, caplog, capsys
):
    # Losses are logged every 2 steps: the step-4 record averages step 3, before the checkpoint, and step 4, after it.
    whole = run(tmp_path / "whole", checkpointing_steps=3, logging_steps=2)
    assert "Removed shared tensor" not in caplog.text  # SAM's tied embedding is saved once, without a warning
    expected = load_file(tmp_path / "whole" / "adapter_model.safetensors")
    # Without a progress bar (--disable_tqdm, or no terminal) the logged losses are printed.
    printed = re.findall(r"^step (\d+)/6: loss (\d+\.\d{4}), lr ", capsys.readouterr().out, re.MULTILINE)
    assert printed == [(str(record["step"]), f"{record['loss']:.4f}") for record in whole["loss_history"]]
    assert [record["step"] for record in whole["loss_history"]] == [2, 4, 6]

    real_save = loop.save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt("killed right after the step-3 checkpoint")

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", checkpointing_steps=3, logging_steps=2)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    checkpoints_dir = tmp_path / "killed" / "checkpoints"
    # A save that was itself killed leaves only a staging folder, which resuming ignores.
    (checkpoints_dir / ".tmp-checkpoint-5").mkdir()
    (checkpoints_dir / "checkpoint-4").mkdir()  # looks like a checkpoint, but has no trainer state
    assert [p.name for p in list_checkpoints(checkpoints_dir)] == ["checkpoint-3"]

    results = run(tmp_path / "killed", checkpointing_steps=3, logging_steps=2, resume_from_checkpoint="latest")
    assert results["global_step"] == 6
    assert [record["step"] for record in results["loss_history"]] == [2, 4, 6]  # the steps before the resume too
    for resumed_record, record in zip(results["loss_history"], whole["loss_history"], strict=True):
        assert resumed_record["loss"] == pytest.approx(record["loss"], rel=1e-5)
        assert resumed_record["lr"] == pytest.approx(record["lr"], rel=1e-6)
    resumed = load_file(tmp_path / "killed" / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)


def test_resume_from_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        run(tmp_path, resume_from_checkpoint=str(tmp_path))
    with pytest.raises(ValueError, match="no complete checkpoint"):
        run(tmp_path, resume_from_checkpoint="latest")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learning_rate": 0}, "argument --learning_rate: must be positive"),
        ({"num_train_epochs": 0}, "argument --num_train_epochs: must be positive, got 0"),
        ({"learning_rate": float("inf")}, "argument --learning_rate: expected a finite number, got inf"),
        ({"weight_decay": float("nan")}, "argument --weight_decay: expected a finite number, got nan"),
        ({"mask_decoder_learning_rate": float("inf")}, "argument --mask_decoder_learning_rate: expected a finite"),
        ({"adapter_learning_rate": -1e-4}, "argument --adapter_learning_rate: must be positive, got -0.0001"),
        ({"push_to_hub": True}, "argument --push_to_hub: needs --hub_model_id"),
        ({"checkpoints_total_limit": 0}, "argument --checkpoints_total_limit: must be at least 1"),
        ({"click_rounds": 0}, "argument --click_rounds: must be positive, got 0"),
    ],
)
def test_bad_training_arguments_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        SamPtxTrainingArguments(**overrides)


def test_a_tracker_that_is_not_installed_is_refused_at_once(monkeypatch):
    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", lambda: [])
    with pytest.raises(ValueError, match=r"argument --report_to: tensorboard is not installed \(pip install"):
        SamPtxTrainingArguments(report_to="tensorboard")


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs on a GPU")
def test_fp16_on_the_cpu_is_refused_instead_of_ignored(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="argument --mixed_precision: fp16 needs a GPU and this run is on the CPU"):
        run(tmp_path, mixed_precision="fp16")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # accelerate launch --mixed_precision fp16
    with pytest.raises(ValueError, match=r"fp16 \(the launcher's choice: ACCELERATE_MIXED_PRECISION\) needs a GPU"):
        run(tmp_path)
    assert not tmp_path.joinpath("frozen_base").exists()


@pytest.mark.parametrize(
    ("flag", "launcher", "expected"),
    [(None, None, "no"), (None, "bf16", "bf16"), (None, "BF16", "bf16"), ("no", "bf16", "no"), ("bf16", "no", "bf16")],
)  # fmt: skip
def test_the_launcher_s_mixed_precision_applies_unless_the_flag_is_given(monkeypatch, flag, launcher, expected):
    # `accelerate launch --mixed_precision bf16` and `accelerate config` reach the script as this variable.
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    if launcher is not None:
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", launcher)
    flags = [] if flag is None else ["--mixed_precision", flag]
    (args,) = TrainingArgumentParser(SamPtxTrainingArguments).parse_args_into_dataclasses(flags)
    assert args.mixed_precision == flag
    assert resolve_mixed_precision(args) == expected


def test_a_non_empty_output_dir_is_refused_and_left_as_it_was(tmp_path):
    run(tmp_path, max_steps=2, checkpointing_steps=1)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    with pytest.raises(ValueError, match=r"--output_dir: .* is not empty \(README.md, .*--overwrite_output_dir"):
        run(tmp_path, max_steps=3, seed=1)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before

    # Overwriting removes the old run's checkpoints: `latest` cannot resume them afterwards.
    run(tmp_path, max_steps=2, seed=1, overwrite_output_dir=True)
    assert list_checkpoints(tmp_path / "checkpoints") == []


def test_a_checkpoint_of_another_configuration_is_not_resumed_silently(tmp_path, capsys):
    run(tmp_path, max_steps=4, checkpointing_steps=2)
    with pytest.raises(ValueError, match=r"another configuration \(learning_rate: 0.001 -> 0.01; max_steps: 4 -> 6\)"):
        run(tmp_path, max_steps=6, learning_rate=0.01, resume_from_checkpoint="latest")
    results = run(tmp_path, max_steps=6, resume_from_checkpoint="latest", allow_changed_config_on_resume=True)
    assert results["global_step"] == 6
    assert "with a changed configuration: max_steps: 4 -> 6" in capsys.readouterr().out


@pytest.mark.slow
def test_help_documents_every_flag():
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), "--help"], capture_output=True, text=True, check=True
    )
    for flag in ("--method", "--resume_from_checkpoint", "--gradient_checkpointing", "--report_to", "--push_to_hub"):
        assert flag in result.stdout
    assert "parallel_adapter" in result.stdout and "decoder_only" in result.stdout


@pytest.mark.slow
def test_a_bad_method_is_rejected_by_the_parser():
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), "--method", "lora"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "invalid choice: 'lora'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"method": "decoder_only", "click_rounds": 3},  # later click rounds run the trained decoder outside DDP
        # SAM 2's decoder has a head no loss trains: DDP refuses trainable parameters without gradients
        {"method": "decoder_only", "model": {"sam_model_name_or_path": "samptx_hf:tiny-sam2", "adapter_r": 4}},
        # the authors' form trains SAM's prompt encoder, whose box corners and mask embedding no point step reaches
        {"adapter_form": "reference"},
    ],
    ids=["one_round", "click_rounds", "sam2", "reference_form"],
)
def test_two_processes_give_the_loss_curve_of_one(tmp_path, options):
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "train.py"),
            *tiny_cli(tmp_path / "one", per_device_train_batch_size=8, **options),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
    ]
    double = subprocess.run(
        [
            *launch,
            str(REPO / "examples" / "train.py"),
            *tiny_cli(tmp_path / "two", per_device_train_batch_size=4, **options),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert double.returncode == 0, double.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "eval_results.json").read_text())
    two = json.loads((tmp_path / "two" / "eval_results.json").read_text())
    assert one["num_processes"] == 1 and two["num_processes"] == 2
    assert "with 2 process(es)" in double.stdout
    assert double.stdout.count("Adapter saved to") == 1 and double.stdout.count("Held-out mIoU") == 1
    losses_one = torch.tensor([record["loss"] for record in one["loss_history"]])
    losses_two = torch.tensor([record["loss"] for record in two["loss_history"]])
    torch.testing.assert_close(losses_two, losses_one, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(two["mean_iou"]), torch.tensor(one["mean_iou"]), rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_a_bf16_launch_trains_in_bf16_unless_the_flag_says_otherwise(tmp_path):
    # `accelerate launch --mixed_precision bf16` sets this variable for the script it starts.
    env = {**os.environ, "ACCELERATE_MIXED_PRECISION": "bf16", "OMP_NUM_THREADS": "1"}
    script = str(REPO / "examples" / "train.py")
    results, printed = {}, {}
    for name, flags in (("launcher", []), ("flag", ["--mixed_precision", "no"])):
        completed = subprocess.run(
            [sys.executable, script, *tiny_cli(tmp_path / name, max_steps=3), *flags],
            env=env,
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        results[name] = json.loads((tmp_path / name / "eval_results.json").read_text())
        printed[name] = completed.stdout
    assert "Training parallel_text with 1 process(es) in bf16 mixed precision\n" in printed["launcher"]
    assert "Training parallel_text with 1 process(es)\n" in printed["flag"]
    assert results["launcher"]["mixed_precision"] == "bf16" and results["flag"]["mixed_precision"] == "no"
    losses = {name: [record["loss"] for record in result["loss_history"]] for name, result in results.items()}
    assert losses["launcher"] != losses["flag"]  # bf16 arithmetic, not fp32 under another name
    torch.testing.assert_close(torch.tensor(losses["launcher"]), torch.tensor(losses["flag"]), rtol=0.02, atol=0.0)


@pytest.mark.slow
def test_ablation_trains_each_method_and_writes_the_table(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import ablation
    finally:
        sys.path.remove(str(REPO / "examples"))
    result = ablation.main(
        ["--methods", "parallel_text,decoder_only", "--seeds", "0,1", "--clicks", "2", *tiny_cli(tmp_path, max_steps=2)]
    )
    rows = result["methods"]
    assert [row["method"] for row in rows] == ["parallel_text", "decoder_only"]
    assert rows[0]["trainable_parameters"] > rows[1]["trainable_parameters"]
    assert all(row["seeds"] == [0, 1] and len(row["mean_iou"]) == 2 for row in rows)
    assert (tmp_path / "parallel_text" / "seed-1" / "adapter_model.safetensors").is_file()
    # The text-blind strategies of the built-in task, scored from its own ground truth.
    assert set(result["text_blind"]) == {"always the whole object", "always the part"}
    assert all(0.0 < score < 1.0 for score in result["text_blind"].values())
    table = (tmp_path / "ablation.md").read_text()
    assert "| parallel_text |" in table and "| decoder_only |" in table and " ± " in table
    assert "| *text-blind: always the part* |" in table
    # The interactive protocol on each run's adapter: two clicks, every seed.
    assert all(len(row["clicks"]["miou@2"]) == 2 and len(row["clicks"]["noc@90"]) == 2 for row in rows)
    assert "| method | miou@1 | noc@85 | noc@90 |" in table
    assert json.loads((tmp_path / "ablation.json").read_text()) == result
    for flags, message in (
        (["--methods", "lora"], "method='lora' is not one of"),
        (["--seeds", "a,b"], "--seeds 'a,b'"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            ablation.main([*flags, *tiny_cli(tmp_path / "refused")])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_a_text_only_ablation_scores_presence_beside_the_text_blind_answers(tmp_path):
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import ablation
    finally:
        sys.path.remove(str(REPO / "examples"))
    flags = ["--prompt_mode", "text", "--absent_class_fraction", "0.3"]
    result = ablation.main(["--methods", "parallel_text", "--seeds", "0", *flags, *tiny_cli(tmp_path, max_steps=2)])
    row = result["methods"][0]
    assert all(len(row[key]) == 1 for key in ("mean_iou", "presence_f1", "presence_mcc", "semantic_mean_iou"))
    assert set(result["text_blind"]) == {"every composite, whatever the name", "every part, whatever the name"}
    table = (tmp_path / "ablation.md").read_text()
    assert "| presence F1 | presence MCC | semantic mIoU |" in table


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--per_device_train_batch_size", "0"], "argument --per_device_train_batch_size: must be positive, got 0"),
        (["--max_steps", "-1", "--num_train_epochs", "0"], "argument --num_train_epochs: must be positive, got 0.0"),
        (["--learning_rate", "inf"], "argument --learning_rate: expected a finite number, got inf"),
        (["--warmup_steps", "-5"], "argument --warmup_steps: must be >= 0, got -5"),
        (["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag 1"),
        (["--dataset", "cod10k"], "argument --data_dir: --dataset cod10k needs it"),
        (["--dataset", "folder", "--data_dir", "nowhere/data"], "argument --data_dir: 'nowhere/data' does not exist"),
        (["--output_dir", "{file}"], "argument --output_dir: '.*notes.txt' is a file, expected a folder"),
        (["--sam_model_name_or_path", "./no/such/sam"], "argument --sam_model_name_or_path: './no/such/sam': no such"),
        (["--method", "lora"], "argument --method: invalid choice: 'lora'"),
        (["--prompt_mode", "box"], "argument --prompt_mode.*: invalid choice: 'box'"),
        (["--point_probability", "0.3"], "argument --point_probability: only with --prompt_mode mixed, not point"),
        (["--prompt_mode", "mixed", "--point_probability", "1.5"], "argument --point_probability: expected 0 <= p"),
        (["--absent_class_fraction", "1"], "argument --absent_class_fraction: expected 0 <= F < 1, got 1.0"),
    ],
)
def test_train_script_answers_a_bad_flag_with_one_line(tmp_path, capsys, flags, message):
    (tmp_path / "notes.txt").write_text("mine")
    flags = [flag.replace("{file}", str(tmp_path / "notes.txt")) for flag in flags]
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(flags)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and re.match(r"\S+: error: ", err)
    assert re.search(message, err), err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_train_script_answers_a_refused_output_dir_with_one_line(tmp_path, capsys):
    (tmp_path / "adapter_model.safetensors").write_bytes(b"a previous run")
    with pytest.raises(SystemExit) as exit_info:
        train_script().main(tiny_cli(tmp_path))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1
    assert "argument --output_dir:" in err and "is not empty (adapter_model.safetensors)" in err
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == b"a previous run"


def test_the_flat_folder_layout_trains_with_a_classes_file(tmp_path):
    from PIL import Image

    from samptx_hf.training.datasets import load_splits

    for split, stems in (("train", ["a", "b"]), ("test", ["c"])):
        for stem in stems:
            (tmp_path / split / "images").mkdir(parents=True, exist_ok=True)
            (tmp_path / split / "masks").mkdir(exist_ok=True)
            Image.new("RGB", (16, 12), "gray").save(tmp_path / split / "images" / f"{stem}.png")
            mask = Image.new("L", (16, 12))
            mask.paste(255, (4, 4, 10, 10))
            mask.save(tmp_path / split / "masks" / f"{stem}.png")
        (tmp_path / split / "classes.json").write_text(json.dumps(dict.fromkeys(stems, "owl")))
    train_set, eval_set = load_splits(
        DataArguments(dataset="folder", data_dir=str(tmp_path), classes_file="classes.json")
    )
    assert train_set["image_id"] == ["a", "b"] and eval_set["class_name"] == ["owl"]


@pytest.mark.slow
def test_training_reports_the_number_that_samptx_eval_computes(tmp_path):
    # One held-out number: training scores with evaluate_model's predict and score steps, at the original size.
    from samptx_hf import SamPtxForTextSegmentation
    from samptx_hf.data import make_parts_dataset
    from samptx_hf.evaluation.evaluate_model import evaluate_model

    results = run(tmp_path, max_steps=2)
    model = SamPtxForTextSegmentation.from_pretrained(tmp_path)
    held_out = make_parts_dataset(TINY_DATA["num_eval_samples"], seed=1)  # data seed 0 + 1
    evaluated = evaluate_model(model, held_out, batch_size=3)
    assert results["num_samples"] == evaluated["num_samples"] == TINY_DATA["num_eval_samples"]
    assert results["metrics"]["mean_iou"] == pytest.approx(evaluated["metrics"]["mean_iou"], abs=1e-6)
    for name, values in evaluated["per_class"].items():
        assert results["per_class"][name]["iou"] == pytest.approx(values["iou"], abs=1e-6)


def run_with_prompts(output_dir, max_steps=3, click_rounds=1, **prompts):
    """A short run of the tiny task with the prompt options `prompts` (`DataArguments` fields)."""
    return train(
        ModelArguments(**TINY_MODEL),
        DataArguments(**TINY_DATA, **prompts),
        SamPtxTrainingArguments(
            output_dir=str(output_dir),
            disable_tqdm=True,
            max_steps=max_steps,
            warmup_steps=1,
            eval_steps=100,
            logging_steps=1,
            click_rounds=click_rounds,
        ),
    )


def test_a_text_only_run_with_absent_classes_trains_and_saves_a_presence_answer(tmp_path):
    results = run_with_prompts(tmp_path, max_steps=4, prompt_mode="text", absent_class_fraction=0.5)
    assert (results["prompt_mode"], results["absent_class_fraction"]) == ("text", 0.5)
    assert set(results["class_names"]) <= {"red", "blue", "white", "yellow", "green", "black"}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["presence_head"] is True
    weights = load_file(tmp_path / "adapter_model.safetensors")
    assert any("presence_head" in name for name in weights)  # trained and saved with the adapter


def test_follow_up_clicks_without_a_first_prompt_are_refused(tmp_path):
    with pytest.raises(ValueError, match="argument --click_rounds: .*--prompt_mode text"):
        train(
            ModelArguments(**TINY_MODEL),
            DataArguments(**TINY_DATA, prompt_mode="text"),
            SamPtxTrainingArguments(output_dir=str(tmp_path), click_rounds=2),
        )
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_mixed_prompts_with_absent_classes_keep_follow_up_clicks_working(tmp_path):
    results = run_with_prompts(
        tmp_path, click_rounds=2, prompt_mode="mixed", point_probability=0.5, absent_class_fraction=0.3
    )
    assert results["click_rounds"] == 2 and results["prompt_mode"] == "mixed"
    assert all(math.isfinite(record["loss"]) for record in results["loss_history"])


def test_a_paired_run_scores_text_only_and_the_point_task_as_samptx_eval_does(tmp_path):
    from samptx_hf import SamPtxForTextSegmentation
    from samptx_hf.data import make_parts_dataset
    from samptx_hf.evaluation.evaluate_model import evaluate_model

    results = run_with_prompts(tmp_path, prompt_mode="paired", absent_class_fraction=0.3)
    assert results["prompt_mode"] == "paired" and all(math.isfinite(r["loss"]) for r in results["loss_history"])
    model = SamPtxForTextSegmentation.from_pretrained(tmp_path)
    held_out = make_parts_dataset(TINY_DATA["num_eval_samples"], seed=1)  # data seed 0 + 1
    text = evaluate_model(model, held_out, batch_size=3, prompt_mode="text", absent_class_fraction=0.3)
    point = evaluate_model(model, held_out, batch_size=3, prompt_mode="point")
    assert results["mean_iou"] == pytest.approx(text["metrics"]["mean_iou"], abs=1e-6)
    assert results["presence_f1"] == pytest.approx(text["metrics"]["presence_f1"], abs=1e-6)
    assert results["point_mean_iou"] == pytest.approx(point["metrics"]["mean_iou"], abs=1e-6)
    assert results["metrics"]["point_mean_iou"] == results["point_mean_iou"]
    assert results["num_absent_pairs"] == text["num_absent_pairs"] > 0


def test_follow_up_clicks_with_paired_prompts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="argument --click_rounds: 2 rounds with --prompt_mode paired"):
        train(
            ModelArguments(**TINY_MODEL),
            DataArguments(**TINY_DATA, prompt_mode="paired"),
            SamPtxTrainingArguments(output_dir=str(tmp_path), click_rounds=2),
        )
    assert not any(tmp_path.iterdir())
