"""Resumable checkpoints that are either complete or invisible.

`Accelerator.save_state` writes model, optimiser, scheduler and RNG states into a temporary folder; the trainer
state (step, epoch, position in the epoch, the run configuration, and the loss history) is written last, and the
folder is then renamed into place. A kill during a save leaves only a `.tmp-` folder, which resuming ignores, and
never a `checkpoint-*` folder that looks complete but is not.

A run never mixes with another: it refuses a non-empty output folder unless told to overwrite it or to resume it
([`prepare_output_dir`]), and a resume whose configuration differs from the checkpoint's ([`check_resume_config`]).
"""

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from ..processing.input_checks import check_output_path

TRAINER_STATE = "trainer_state.json"
# Flags that do not change what is trained: they may differ between a run and its resume.
_OPERATIONAL_FLAGS = frozenset(
    {
        "output_dir",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "allow_changed_config_on_resume",
        "logging_steps",
        "eval_steps",
        "per_device_eval_batch_size",
        "checkpointing_steps",
        "checkpoints_total_limit",
        "report_to",
        "push_to_hub",
        "hub_model_id",
        "dataloader_num_workers",
        "dataloader_pin_memory",
        "dataloader_persistent_workers",
        "load_best_model_at_end",
        "disable_tqdm",
    }
)


@dataclass
class TrainerState:
    global_step: int = 0  # optimiser steps done
    epoch: int = 0  # epoch in progress
    batches_in_epoch: int = 0  # micro-batches of that epoch already consumed
    run_config: dict[str, Any] | None = None  # `run_config(...)` of the run that saved it; None before it was kept
    loss_history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss", "lr"} every logging step
    loss_sum: float = 0.0  # summed loss of the micro-batches since the last logged step
    loss_batches: int = 0  # their number
    train_loss_sum: float = 0.0  # summed loss of the micro-batches of the logged steps, the whole run
    train_loss_batches: int = 0  # their number
    best_mean_iou: float | None = None  # best held-out mIoU of the evaluations so far (--load_best_model_at_end)
    best_global_step: int | None = None  # the step it was reached at


def start_run(accelerator: Accelerator, *arguments: Any) -> tuple[TrainerState, Path | None]:
    """The state a run starts from, and the checkpoint to load into it (None for a fresh run), once the output
    folder is known not to hold another run ([`prepare_output_dir`]) and the checkpoint to be one of this run
    ([`check_resume_config`]). `arguments` are the run's argument dataclasses, the training arguments last.

    Raises:
        ValueError: When the output folder or the checkpoint belongs to another run (see the two functions).
    """
    args = arguments[-1]
    output_dir = Path(args.output_dir)
    prepare_output_dir(accelerator, output_dir, args.overwrite_output_dir, resuming=bool(args.resume_from_checkpoint))
    config = run_config(
        *arguments, num_processes=accelerator.num_processes, mixed_precision=accelerator.mixed_precision
    )
    if not args.resume_from_checkpoint:
        return TrainerState(run_config=config), None
    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, output_dir / "checkpoints")
    state = read_state(checkpoint)
    changes = check_resume_config(checkpoint, state, config, allow_changes=args.allow_changed_config_on_resume)
    for change in changes:
        accelerator.print(f"Resuming {checkpoint} with a changed configuration: {change}")
    state.run_config = config  # the next checkpoints record what this run trains with
    return state, checkpoint


def run_config(*arguments: Any, num_processes: int, **resolved: Any) -> dict[str, Any]:
    """What determines a run's training, as JSON values: every field of the argument dataclasses but the operational
    ones, the number of processes (it sets the global batch), and the `resolved` values of fields whose flag may leave
    the choice to the launcher (`mixed_precision="bf16"` where `--mixed_precision` was not given)."""
    config = {
        item.name: getattr(dataclass_, item.name)
        for dataclass_ in arguments
        for item in fields(dataclass_)
        if item.name not in _OPERATIONAL_FLAGS
    }
    config["num_processes"] = num_processes
    config.update(resolved)
    return json.loads(json.dumps(config))


def prepare_output_dir(accelerator: Accelerator, output_dir: Path, overwrite: bool, resuming: bool) -> None:
    """Refuse a non-empty `output_dir` unless `overwrite` or `resuming`; on `overwrite` (not resuming) remove the
    previous run's checkpoints, so that `--resume_from_checkpoint latest` can never pick one of them.

    The folder is checked (a probe file written and removed in its nearest existing folder) and created before
    anything else: a folder that cannot be written (`/proc/x`, a path under a file, no permission) is refused now,
    not after training.

    Raises:
        ValueError: When `output_dir` is a file, cannot be created or written, or is not empty and neither
            `overwrite` nor `resuming`.
    """
    # Every process checks: none waits at the barrier below for one that failed.
    check_output_path(output_dir, "argument --output_dir:", expected="a folder")
    output_dir.mkdir(parents=True, exist_ok=True)
    entries = sorted(path.name for path in output_dir.iterdir()) if output_dir.is_dir() else []
    if entries and not (overwrite or resuming):
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise ValueError(
            f"argument --output_dir: {str(output_dir)!r} is not empty ({shown}); pass --overwrite_output_dir to "
            "replace that run, --resume_from_checkpoint latest to continue it, or choose another folder"
        )
    accelerator.wait_for_everyone()  # every process has looked before anything is written or removed
    if overwrite and not resuming and accelerator.is_main_process:
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()


def check_resume_config(
    checkpoint: Path, state: TrainerState, config: dict[str, Any], allow_changes: bool
) -> list[str]:
    """The differences between the run configuration saved in `checkpoint` and `config`, as `name: old -> new`.

    Raises:
        ValueError: When they differ and not `allow_changes`; the message names every difference.
    """
    if state.run_config is None:
        return [f"{checkpoint} records no run configuration (saved by an earlier version): it cannot be checked"]
    names = sorted(set(state.run_config) | set(config))
    changes = [
        f"{name}: {state.run_config.get(name)!r} -> {config.get(name)!r}"
        for name in names
        if state.run_config.get(name) != config.get(name)
    ]
    if changes and not allow_changes:
        raise ValueError(
            f"argument --resume_from_checkpoint: {checkpoint} belongs to a run with another configuration "
            f"({'; '.join(changes)}); resume with that run's flags, or pass --allow_changed_config_on_resume"
        )
    return changes


def save_checkpoint(accelerator: Accelerator, checkpoints_dir: Path, state: TrainerState, keep: int) -> Path:
    """Save a complete checkpoint atomically and keep only the newest `keep`; returns its path."""
    final = checkpoints_dir / f"checkpoint-{state.global_step}"
    staging = checkpoints_dir / f".tmp-checkpoint-{state.global_step}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        checkpoints_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    # SAM ties the prompt encoder's positional embedding to the image embedding's; safetensors stores the pair once
    # and loading ties it again, so accelerate's "Removed shared tensor" warning at every save is noise here.
    save_logger = logging.getLogger("accelerate.utils.other")
    level = save_logger.level
    save_logger.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(staging))
    finally:
        save_logger.setLevel(level)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with open(staging / TRAINER_STATE, "w") as file:
            json.dump(asdict(state), file)
            file.flush()
            os.fsync(file.fileno())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        for old in list_checkpoints(checkpoints_dir)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def read_state(checkpoint: Path) -> TrainerState:
    """The trainer state of a complete checkpoint; `ValueError` if `checkpoint` is not one."""
    path = Path(checkpoint) / TRAINER_STATE
    if not path.is_file():
        raise ValueError(
            f"argument --resume_from_checkpoint: {checkpoint} is not a complete checkpoint: it has no {TRAINER_STATE}"
        )
    return TrainerState(**json.loads(path.read_text()))


def list_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (ordered by the step recorded inside them)."""
    if not checkpoints_dir.is_dir():
        return []
    complete = [p for p in checkpoints_dir.glob("checkpoint-*") if (p / TRAINER_STATE).is_file()]
    return sorted(complete, key=lambda p: read_state(p).global_step)


def resolve_checkpoint(resume_from_checkpoint: str, checkpoints_dir: Path) -> Path:
    """`latest` → newest complete checkpoint in `checkpoints_dir`; a path → that checkpoint, checked."""
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(checkpoints_dir)
        if not checkpoints:
            raise ValueError(f"argument --resume_from_checkpoint: no complete checkpoint in {checkpoints_dir}")
        return checkpoints[-1]
    checkpoint = Path(resume_from_checkpoint)
    read_state(checkpoint)
    return checkpoint
