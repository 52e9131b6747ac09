"""Training SAM-PTx and its baselines with Accelerate."""

from .arguments import DataArguments, ModelArguments, SamPtxTrainingArguments, TrainingArgumentParser
from .checkpoints import TrainerState, list_checkpoints, resolve_checkpoint, save_checkpoint
from .loop import NonFiniteLossError, evaluate_held_out, train

__all__ = [
    "DataArguments",
    "ModelArguments",
    "NonFiniteLossError",
    "SamPtxTrainingArguments",
    "TrainerState",
    "TrainingArgumentParser",
    "evaluate_held_out",
    "list_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
    "train",
]
