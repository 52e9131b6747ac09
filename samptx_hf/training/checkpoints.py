"""Resumable checkpoints that are either complete or invisible.

`Accelerator.save_state` writes model, optimiser, scheduler and RNG states into a temporary folder; the trainer
state (step, epoch, position in the epoch) is written last, and the folder is then renamed into place. A kill
during a save leaves only a `.tmp-` folder, which resuming ignores, and never a `checkpoint-*` folder that looks
complete but is not.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import Accelerator

TRAINER_STATE = "trainer_state.json"


@dataclass
class TrainerState:
    global_step: int = 0  # optimiser steps done
    epoch: int = 0  # epoch in progress
    batches_in_epoch: int = 0  # micro-batches of that epoch already consumed


def save_checkpoint(accelerator: Accelerator, checkpoints_dir: Path, state: TrainerState, keep: int) -> Path:
    """Save a complete checkpoint atomically and keep only the newest `keep`; returns its path."""
    final = checkpoints_dir / f"checkpoint-{state.global_step}"
    staging = checkpoints_dir / f".tmp-checkpoint-{state.global_step}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        checkpoints_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
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
        raise ValueError(f"{checkpoint} is not a complete checkpoint: it has no {TRAINER_STATE}")
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
            raise ValueError(f"--resume_from_checkpoint latest: no complete checkpoint in {checkpoints_dir}")
        return checkpoints[-1]
    checkpoint = Path(resume_from_checkpoint)
    read_state(checkpoint)
    return checkpoint
