"""The optimiser of a run: AdamW over parameter groups with their own learning rates, and the step budget."""

import math
import os
from typing import Any

import torch
from torch import nn

from .arguments import DEFAULT_MAX_STEPS, DEFAULT_MAX_STEPS_OTHER_MODES, SamPtxTrainingArguments

# Where a trainable parameter belongs, by a part of its name; the rest (adapters, text projections) are "adapter".
PARAMETER_GROUPS = {"mask_decoder": ("mask_decoder", "presence_head"), "prompt_encoder": ("prompt_encoder",)}


def parameter_group(name: str) -> str:
    """`"mask_decoder"`, `"prompt_encoder"` or `"adapter"`: the learning-rate group of a trainable parameter."""
    parts = name.split(".")
    for group, modules in PARAMETER_GROUPS.items():
        if any(module in parts for module in modules):
            return group
    return "adapter"


def parameter_groups(model: nn.Module, args: SamPtxTrainingArguments) -> tuple[list[dict[str, Any]], list[str]]:
    """AdamW's parameter groups of the trainable parameters, one per learning rate (in the model's order; a single
    group when every rate is `--learning_rate`), and notes on rates given for a group the method does not train.

    `--adapter_learning_rate`, `--mask_decoder_learning_rate` and `--prompt_encoder_learning_rate` set their group's
    rate; `--learning_rate` the others. `--weight_decay` applies to every group.
    """
    rates = {
        "adapter": args.adapter_learning_rate,
        "mask_decoder": args.mask_decoder_learning_rate,
        "prompt_encoder": args.prompt_encoder_learning_rate,
    }
    by_rate: dict[float, list[nn.Parameter]] = {}
    trained_groups = set()
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        group = parameter_group(name)
        trained_groups.add(group)
        rate = rates[group] if rates[group] is not None else args.learning_rate
        by_rate.setdefault(rate, []).append(parameter)
    notes = [
        f"--{group}_learning_rate {rate} is not used: {group.replace('_', ' ')} parameters are not trained here"
        for group, rate in rates.items()
        if rate is not None and group not in trained_groups
    ]
    groups = [{"params": params, "lr": rate, "weight_decay": args.weight_decay} for rate, params in by_rate.items()]
    return groups, notes


def build_optimizer(model: nn.Module, args: SamPtxTrainingArguments) -> tuple[torch.optim.AdamW, list[str]]:
    """AdamW over [`parameter_groups`]; returns it and the groups' notes."""
    groups, notes = parameter_groups(model, args)
    return torch.optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay), notes


def resolve_max_steps(args: SamPtxTrainingArguments, prompt_mode: str, steps_per_epoch: int) -> int:
    """The run's optimiser steps: `--max_steps`; else `--num_train_epochs` × `steps_per_epoch` (rounded up); else
    the budget of the prompt mode (`DEFAULT_MAX_STEPS`: 4000 for text, 500 otherwise)."""
    if args.max_steps is not None:
        return args.max_steps
    if args.num_train_epochs is not None:
        return max(1, math.ceil(args.num_train_epochs * steps_per_epoch))
    return DEFAULT_MAX_STEPS.get(prompt_mode, DEFAULT_MAX_STEPS_OTHER_MODES)


def resolve_num_workers(args: SamPtxTrainingArguments, device: torch.device, num_processes: int) -> int:
    """`--dataloader_num_workers`; not given, 0 on the CPU (workers would take the model's cores) and on a GPU
    min(8, CPU cores / processes on this machine)."""
    if args.dataloader_num_workers is not None:
        return args.dataloader_num_workers
    if device.type == "cpu":
        return 0
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", num_processes))
    return max(0, min(8, (os.cpu_count() or 1) // max(1, local_processes)))
