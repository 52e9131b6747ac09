"""The training run: data → model → `accelerator.prepare` → loop with evaluation and checkpoints → save."""

import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, find_executable_batch_size, parse_choice_from_env, set_seed
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data import SamPtxDataCollator
from ..data.augmentation import PairedAugmentation
from ..data.collator import PAIRED
from ..evaluation.evaluate_model import (
    add_presence_results,
    add_semantic_results,
    compute_results,
    dataset_vocabulary,
    predict_batch_with_presence,
    score_batch,
    semantic_evaluation,
    text_embeddings_by_class,
)
from ..evaluation.metrics import load_metric
from ..hub import save_adapter_repo, upload_adapter_repo
from ..modeling.sam_backbones import input_image_size, is_sam2, low_res_mask_size
from ..modeling.tiny import TINY_RANDOM
from ..processing.image_processing_sam2 import Sam2TorchImageProcessor
from ..processing.processing_samptx import SamPtxProcessor, image_processor_for_sam_config
from .arguments import DataArguments, ModelArguments, SamPtxTrainingArguments
from .checkpoints import TrainerState, list_checkpoints, save_checkpoint, start_run
from .click_rounds import click_rounds_loss
from .datasets import load_splits
from .modeling import (
    build_peft_model,
    freeze_unprompted_parts,
    frozen_component_paths,
    save_tiny_random_components,
    uses_tiny_sam,
)
from .optimization import build_optimizer, resolve_max_steps, resolve_num_workers

logger = get_logger(__name__)

MODEL_INPUTS = ("pixel_values", "input_points", "input_labels", "labels", "image_groups")
TRAIN_RESULTS = "train_results.json"
BEST_MODEL = "best-model"  # folder in checkpoints/ with the trainable weights of the best evaluation


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the last checkpoint."""


def _model_inputs(
    batch: dict[str, Any], text_table: dict[str, torch.Tensor], device, presence_head: bool = False
) -> dict[str, Any]:
    inputs = {key: batch[key] for key in MODEL_INPUTS if key in batch}
    inputs["text_embeds"] = torch.stack([text_table[name] for name in batch["class_names"]]).to(device)
    if presence_head:  # absent rows train the presence answer only
        inputs["presence_labels"] = batch["presence_labels"]
    return inputs


def evaluation_prompts(prompts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The held-out evaluations of a run, by name, each with its collator's prompt options; the first is the run's
    own. A run scores in its prompt mode; a paired run, which learns both tasks, scores text only (with its absent
    classes) and, apart, the point task as a point run does (every row present, one point)."""
    if prompts["prompt_mode"] != PAIRED:
        return {prompts["prompt_mode"]: prompts}
    return {
        "text": {**prompts, "prompt_mode": "text"},
        "point": {**prompts, "prompt_mode": "point", "absent_class_fraction": 0.0},
    }


@torch.no_grad()
def evaluate_held_out(
    accelerator: Accelerator,
    model,
    dataloader: DataLoader,
    text_table: dict[str, torch.Tensor],
    image_processor,
    dataset_name: str | None = None,
) -> dict[str, Any]:
    """Held-out results as `samptx eval` computes them (`evaluate_model`'s predict and score steps): masks at each
    image's original size, the run's prompts (the collator's), mIoU per class over the present pairs and, with a
    presence head, presence precision, recall, F1 and MCC over every pair.

    Every process predicts its share; the predictions are gathered (`gather_for_metrics` drops the samples that
    pad the last batch) and scored on every process.
    """
    model.eval()
    metrics = {"mean_iou": load_metric("mean_iou", keep_in_memory=True)}
    class_counts: Counter = Counter()
    presence_probabilities, presence_references = [], []
    for batch in dataloader:
        prediction = predict_batch_with_presence(model, batch, text_table, image_processor)
        probabilities = prediction.presence_probabilities
        present = (batch["presence_labels"] > 0.5).tolist()
        rows = zip(
            prediction.mask_logits,
            batch["masks"],
            batch["class_names"],
            present,
            probabilities.tolist() if probabilities is not None else [None] * len(present),
            strict=True,
        )
        samples = accelerator.gather_for_metrics(list(rows), use_gather_object=True)
        kept = [sample for sample in samples if sample[3]]
        if kept:
            score_batch(metrics, *([sample[i] for sample in kept] for i in range(3)))
        class_counts.update(sample[2] for sample in kept)
        if probabilities is not None:
            presence_probabilities.extend(sample[4] for sample in samples)
            presence_references.extend(sample[3] for sample in samples)
    model.train()
    results = compute_results(metrics, class_counts, dataset_name)
    if presence_probabilities:
        add_presence_results(results, presence_probabilities, presence_references)
    results["num_present_pairs"] = sum(class_counts.values())
    results["num_absent_pairs"] = len(presence_references) - sum(presence_references) if presence_references else 0
    return results


def resolve_mixed_precision(args: SamPtxTrainingArguments) -> str:
    """The mixed precision a run trains in: `--mixed_precision` when given, else the launcher's choice
    (`accelerate launch --mixed_precision`, or `accelerate config`, which the launcher passes on as
    `ACCELERATE_MIXED_PRECISION`), else `"no"`: what `Accelerator(mixed_precision=None)` would pick.

    Raises:
        ValueError: For fp16 on the CPU, which accelerate would silently run in fp32; the message says where the
            fp16 came from.
    """
    mixed_precision = args.mixed_precision or parse_choice_from_env("ACCELERATE_MIXED_PRECISION", "no").lower()
    if mixed_precision == "fp16" and PartialState().device.type == "cpu":
        chosen = "fp16" if args.mixed_precision else "fp16 (the launcher's choice: ACCELERATE_MIXED_PRECISION)"
        raise ValueError(f"argument --mixed_precision: {chosen} needs a GPU and this run is on the CPU; use bf16 or no")
    return mixed_precision


def build_accelerator(args: SamPtxTrainingArguments) -> Accelerator:
    """The run's `Accelerator`: gradient accumulation, mixed precision ([`resolve_mixed_precision`]), trackers, and a
    seedable sampler (a resumed epoch shuffles as the interrupted one did)."""
    return Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=resolve_mixed_precision(args),
        log_with=None if args.report_to == "none" else args.report_to,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def training_image_processor(sam_config, resize: str) -> Any:
    """The image processor of a run: SAM's (`"longest"`, the model's own) or, with `"square"`, the input size
    without keeping the aspect ratio and the masks at the low-resolution size by nearest neighbour (the authors'
    resize; what SAM 2's processor always does)."""
    if resize == "longest" or is_sam2(sam_config):
        return image_processor_for_sam_config(sam_config)
    image_size, mask_size = input_image_size(sam_config), low_res_mask_size(sam_config)
    return Sam2TorchImageProcessor(
        size={"height": image_size, "width": image_size}, mask_size={"height": mask_size, "width": mask_size}
    )


def train(model_args: ModelArguments, data_args: DataArguments, args: SamPtxTrainingArguments) -> dict[str, Any]:
    """Train SAM-PTx (or a baseline) and save the adapter to `args.output_dir`; returns the final metrics.

    The loss and learning rate of every `logging_steps` go to the trackers and to the results' `loss_history` (whole
    across a resume: it is saved with each checkpoint); they are also printed when no progress bar shows them on a
    terminal (`--disable_tqdm`, or output to a file). `train_results.json` holds the run's throughput and mean loss
    as transformers' `Trainer.save_metrics("train", ...)` writes them.

    Raises:
        ValueError: On a refused output folder, checkpoint or flag combination (before the first step).
        NonFiniteLossError: When the loss becomes NaN or infinite; nothing is saved after it, and the message names
            the step and the last checkpoint.
    """
    output_dir = Path(args.output_dir)
    _check_click_rounds(data_args, args)
    accelerator = build_accelerator(args)
    checkpoints_dir = output_dir / "checkpoints"
    state, checkpoint = start_run(accelerator, model_args, data_args, args)  # refuses to mix with another run
    _announce(accelerator, model_args)
    set_seed(args.seed)

    # 1. Data.
    train_dataset, eval_dataset = load_splits(data_args)

    # 2. Model: frozen components, the method's adapter.
    model = _build_model(accelerator, model_args, data_args, args, output_dir)
    base = model.get_base_model()
    class_names = dataset_vocabulary(train_dataset, eval_dataset)  # absent samples name any of them
    text_table = text_embeddings_by_class(base, class_names)
    trainable, total = model.get_nb_trainable_parameters()
    accelerator.print(
        f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}"
    )
    image_processor = training_image_processor(base.config.sam_config, data_args.resize)
    prompts = {**data_args.collator_prompts(), "class_names": class_names}
    train_collator, train_dataloader, eval_dataloaders, batch_size = _dataloaders(
        accelerator, model, train_dataset, eval_dataset, image_processor, prompts, text_table, data_args, args
    )

    # 3. Optimiser (a learning rate per parameter group) and schedule.
    optimizer, scheduler, max_steps = _optimizer_and_schedule(
        accelerator, model, len(train_dataset), batch_size, data_args, args
    )
    model, optimizer, train_dataloader, scheduler, *prepared = accelerator.prepare(
        model, optimizer, train_dataloader, scheduler, *eval_dataloaders.values()
    )
    eval_dataloaders = dict(zip(eval_dataloaders, prepared, strict=True))
    if args.report_to != "none":
        tracker_config = {**vars(model_args), **vars(data_args), **vars(args)}
        accelerator.init_trackers("sam-ptx", config={**tracker_config, "mixed_precision": accelerator.mixed_precision})

    # 4. Resume.
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        accelerator.print(f"Resumed from {checkpoint} at step {state.global_step}")

    # 5. Loop.
    run = _TrainingRun(
        accelerator,
        model,
        optimizer,
        scheduler,
        train_dataloader,
        train_collator,
        eval_dataloaders,
        text_table,
        image_processor,
        state,
        max_steps,
        checkpoints_dir,
        model_args,
        data_args,
        args,
    )
    start_step = state.global_step
    train_seconds = _training_loop(run)

    # 6. Final evaluation (of the best evaluation's weights with --load_best_model_at_end) and save.
    eval_results = _final_evaluation(run, eval_dataset, class_names)
    accelerator.log({f"eval/{name}": value for name, value in eval_results["metrics"].items()}, step=state.global_step)
    results = _run_results(run, eval_results, train_dataset, batch_size, trainable, train_seconds)
    train_metrics = train_results(
        train_dataset,
        state,
        runtime=train_seconds,
        samples_seen=(state.global_step - start_step)
        * batch_size
        * args.gradient_accumulation_steps
        * accelerator.num_processes,
    )
    if accelerator.is_main_process:
        _save(accelerator, model, base, output_dir, results, train_metrics, data_args, args)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return results


def _check_click_rounds(data_args: DataArguments, args: SamPtxTrainingArguments) -> None:
    """Refuse follow-up clicks in the prompt modes that have no first prompt for them to follow."""
    if data_args.prompt_mode == "text" and args.click_rounds > 1:
        raise ValueError(
            "argument --click_rounds: follow-up clicks need a first prompt to follow; with --prompt_mode text there "
            "is none (use --prompt_mode mixed)"
        )
    if data_args.prompt_mode == PAIRED and args.click_rounds > 1:
        raise ValueError(
            f"argument --click_rounds: {args.click_rounds} rounds with --prompt_mode paired are not supported (the "
            "follow-up clicks would follow the pointed query only); use --prompt_mode mixed, or --click_rounds 1"
        )


def _announce(accelerator: Accelerator, model_args: ModelArguments) -> None:
    """Say what trains on what; one torch thread per process for a tiny model unless OMP_NUM_THREADS says otherwise."""
    logger.info(
        f"{accelerator.num_processes} process(es) ({accelerator.distributed_type}), device {accelerator.device}",
        main_process_only=True,
    )
    in_precision = f" in {accelerator.mixed_precision} mixed precision" if accelerator.mixed_precision != "no" else ""
    accelerator.print(f"Training {model_args.method} with {accelerator.num_processes} process(es){in_precision}")
    if uses_tiny_sam(model_args) and "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > 1:
        # A tiny model gains little from a second thread and loses 10-25x when another process takes a core.
        torch.set_num_threads(1)
        accelerator.print("Tiny model: 1 torch thread per process (set OMP_NUM_THREADS to choose)")


def _build_model(
    accelerator: Accelerator,
    model_args: ModelArguments,
    data_args: DataArguments,
    args: SamPtxTrainingArguments,
    output_dir: Path,
):
    """The frozen components (tiny random ones saved to `frozen_base/` first) under the method's adapter."""
    if TINY_RANDOM in (model_args.sam_model_name_or_path, model_args.text_model_name_or_path):
        if accelerator.is_main_process:
            save_tiny_random_components(model_args, output_dir / "frozen_base", seed=args.seed)
        accelerator.wait_for_everyone()
    sam_path, clip_path = frozen_component_paths(model_args, output_dir / "frozen_base")
    set_seed(args.seed)
    model = build_peft_model(model_args, sam_path, clip_path, presence_head=data_args.presence_head)
    freeze_unprompted_parts(model, args.click_rounds)
    if args.gradient_checkpointing:
        model.get_base_model().activation_checkpointing_enable()
    return model


def _dataloaders(
    accelerator: Accelerator,
    model,
    train_dataset,
    eval_dataset,
    image_processor,
    prompts: dict[str, Any],
    text_table: dict[str, torch.Tensor],
    data_args: DataArguments,
    args: SamPtxTrainingArguments,
) -> tuple[SamPtxDataCollator, DataLoader, dict[str, DataLoader], int]:
    """The training collator and loader, an evaluation loader per prompt mode, and the per-device batch size."""
    augmentation = PairedAugmentation() if data_args.augment else None
    train_collator = SamPtxDataCollator(
        image_processor,
        num_points=data_args.num_points,
        train=True,
        seed=args.seed,
        augmentation=augmentation,
        **prompts,
    )
    batch_size = args.per_device_train_batch_size
    if args.auto_find_batch_size:
        batch_size = find_train_batch_size(
            accelerator, model, train_dataset, train_collator, text_table, args, data_args.presence_head
        )
    num_workers = resolve_num_workers(args, accelerator.device, accelerator.num_processes)
    loader_options = {
        "num_workers": num_workers,
        "pin_memory": args.dataloader_pin_memory and accelerator.device.type == "cuda",
    }
    train_dataloader = DataLoader(
        train_dataset,
        batch_size=batch_size,
        shuffle=True,
        collate_fn=train_collator,
        persistent_workers=args.dataloader_persistent_workers and num_workers > 0,  # the evaluations' start anew
        **loader_options,
    )
    eval_dataloaders = {
        mode: DataLoader(
            eval_dataset,
            batch_size=args.per_device_eval_batch_size,
            collate_fn=SamPtxDataCollator(
                image_processor, num_points=data_args.num_points, train=False, seed=args.seed, **mode_prompts
            ),
            **loader_options,
        )
        for mode, mode_prompts in evaluation_prompts(prompts).items()
    }
    return train_collator, train_dataloader, eval_dataloaders, batch_size


def _optimizer_and_schedule(
    accelerator: Accelerator,
    model,
    num_train_samples: int,
    batch_size: int,
    data_args: DataArguments,
    args: SamPtxTrainingArguments,
) -> tuple[torch.optim.Optimizer, Any, int]:
    """The optimiser (a learning rate per parameter group), its schedule, and the run's number of optimiser steps."""
    optimizer, notes = build_optimizer(model, args)
    for note in notes:
        accelerator.print(note)
    batches_per_epoch = math.ceil(num_train_samples / (batch_size * accelerator.num_processes))
    steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
    max_steps = resolve_max_steps(args, data_args.prompt_mode, steps_per_epoch)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.warmup_steps * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes,
    )
    return optimizer, scheduler, max_steps


@dataclass
class _TrainingRun:
    """A prepared run: what the loop, its evaluations and the final evaluation share."""

    accelerator: Accelerator
    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_dataloader: DataLoader
    train_collator: SamPtxDataCollator
    eval_dataloaders: dict[str, DataLoader]  # the run's own prompts first (text only for paired runs), then points
    text_table: dict[str, torch.Tensor]
    image_processor: Any
    state: TrainerState
    max_steps: int
    checkpoints_dir: Path
    model_args: ModelArguments
    data_args: DataArguments
    args: SamPtxTrainingArguments

    def evaluate(self, prompts: str | None = None, dataset_name: str | None = None) -> dict[str, Any]:
        """`evaluate_held_out` on the held-out loader of `prompts` (default: the run's own)."""
        dataloader = self.eval_dataloaders[prompts] if prompts else next(iter(self.eval_dataloaders.values()))
        return evaluate_held_out(
            self.accelerator, self.model, dataloader, self.text_table, self.image_processor, dataset_name=dataset_name
        )


def _training_step(run: _TrainingRun, batch: dict[str, Any]) -> torch.Tensor:
    """One micro-batch: forward (with its click rounds), backward and, when gradients sync, the optimiser step."""
    accelerator, model = run.accelerator, run.model
    with accelerator.accumulate(model):
        inputs = _model_inputs(batch, run.text_table, accelerator.device, run.data_args.presence_head)
        loss = click_rounds_loss(model, inputs, run.args.click_rounds, batch["reshaped_input_sizes"])
        accelerator.backward(loss)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad()
    return loss


def _training_loop(run: _TrainingRun) -> float:
    """Train from the run's state to its `max_steps`, logging, evaluating and checkpointing on the way; returns its
    seconds.

    The loss stays on the device between records: no step waits for the host.
    """
    accelerator, state, max_steps, args = run.accelerator, run.state, run.max_steps, run.args
    progress = tqdm(
        total=max_steps,
        initial=state.global_step,
        disable=args.disable_tqdm or not accelerator.is_local_main_process,
        desc=run.model_args.method,
    )
    print_losses = args.disable_tqdm or not sys.stderr.isatty()  # no bar on a terminal shows them
    run.model.train()
    started = time.perf_counter()
    loss_sum = torch.zeros((), device=accelerator.device)  # this process's loss since the last sync

    def sync_loss() -> None:
        """Move the device's loss sum into the state (the mean over processes); stop on a non-finite loss."""
        nonlocal loss_sum
        state.loss_sum += accelerator.gather(loss_sum[None]).mean().item()
        loss_sum = torch.zeros_like(loss_sum)
        if not math.isfinite(state.loss_sum):
            raise NonFiniteLossError(_non_finite_message(state, run.checkpoints_dir))

    while state.global_step < max_steps:
        run.train_dataloader.set_epoch(state.epoch)
        run.train_collator.set_epoch(state.epoch)
        epoch_batches = accelerator.skip_first_batches(run.train_dataloader, state.batches_in_epoch)
        for batch in epoch_batches:
            loss = _training_step(run, batch)
            state.batches_in_epoch += 1
            loss_sum += loss.detach()
            state.loss_batches += 1
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress.update(1)
            if state.global_step % args.logging_steps == 0 or state.global_step == max_steps:
                sync_loss()
                _record_loss(accelerator, run.scheduler, state, max_steps, progress, print_losses)
            if state.global_step % args.eval_steps == 0 and state.global_step < max_steps:
                sync_loss()  # no evaluation of, nor checkpoint from, weights a non-finite loss has reached
                mean_iou = run.evaluate()["metrics"]["mean_iou"]
                accelerator.print(f"step {state.global_step}: held-out mIoU {100 * mean_iou:.2f}")
                accelerator.log({"eval/mean_iou": mean_iou}, step=state.global_step)
                if args.load_best_model_at_end:
                    keep_if_best(accelerator, run.model, state, mean_iou, run.checkpoints_dir)
            if state.global_step % args.checkpointing_steps == 0 and state.global_step < max_steps:
                sync_loss()
                save_checkpoint(accelerator, run.checkpoints_dir, state, keep=args.checkpoints_total_limit)
            if state.global_step >= max_steps:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
    progress.close()
    return time.perf_counter() - started


def _record_loss(
    accelerator: Accelerator, scheduler, state: TrainerState, max_steps: int, progress: tqdm, print_losses: bool
) -> None:
    """Record the mean loss since the last record and the learning rate: history, progress bar, trackers, print."""
    record = {
        "step": state.global_step,
        "loss": state.loss_sum / state.loss_batches,
        "lr": scheduler.get_last_lr()[0],
    }
    state.loss_history.append(record)
    progress.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
    if print_losses:
        accelerator.print(f"step {state.global_step}/{max_steps}: loss {record['loss']:.4f}, lr {record['lr']:.2e}")
    accelerator.log({"train/loss": record["loss"], "train/lr": record["lr"]}, step=state.global_step)
    state.train_loss_sum += state.loss_sum
    state.train_loss_batches += state.loss_batches
    state.loss_sum, state.loss_batches = 0.0, 0


def _final_evaluation(run: _TrainingRun, eval_dataset, class_names: list[str]) -> dict[str, Any]:
    """The held-out results of the adapter to save: the best evaluation's weights with --load_best_model_at_end (loaded
    back if the end is not the best), the point task beside the text task for paired runs, and the semantic scores."""
    accelerator, state, data_args, args = run.accelerator, run.state, run.data_args, run.args
    eval_results = run.evaluate(dataset_name=data_args.dataset)
    if args.load_best_model_at_end:
        final_mean_iou = eval_results["metrics"]["mean_iou"]
        if not keep_if_best(accelerator, run.model, state, final_mean_iou, run.checkpoints_dir):
            load_trainable_weights(accelerator.unwrap_model(run.model), run.checkpoints_dir / BEST_MODEL)
            accelerator.print(
                f"Best held-out mIoU {100 * state.best_mean_iou:.2f} at step {state.best_global_step} (the end: "
                f"{100 * final_mean_iou:.2f}): saving that adapter"
            )
            eval_results = run.evaluate(dataset_name=data_args.dataset)
    if data_args.prompt_mode == PAIRED:  # and the point task, as a point run scores it
        point_results = run.evaluate("point", dataset_name=data_args.dataset)
        eval_results["metrics"]["point_mean_iou"] = point_results["metrics"]["mean_iou"]
        eval_results["point_per_class"] = point_results["per_class"]
    text_only = data_args.prompt_mode in ("text", PAIRED)
    if text_only and args.semantic_eval and "present_classes" in eval_dataset.column_names:
        semantic = semantic_evaluation(
            accelerator.unwrap_model(run.model).eval(),
            eval_dataset,
            class_names,
            batch_size=args.per_device_eval_batch_size,
            seed=args.seed,
            image_processor=run.image_processor,
            text_embeds_by_class=run.text_table,
        )
        add_semantic_results(eval_results, semantic)
    return eval_results


def _run_results(
    run: _TrainingRun,
    eval_results: dict[str, Any],
    train_dataset,
    batch_size: int,
    trainable_parameters: int,
    train_seconds: float,
) -> dict[str, Any]:
    """What `eval_results.json` holds: the held-out results, with the run's configuration and training figures."""
    accelerator, state, data_args, args = run.accelerator, run.state, run.data_args, run.args
    results = {
        **eval_results,  # dataset, num_samples, metrics (what the model card reports), per_class: as `samptx eval`
        **eval_results["metrics"],  # mean_iou, and in text mode the presence and semantic scores, at the top level
        "method": run.model_args.method,
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "global_step": state.global_step,
        "max_steps": run.max_steps,
        "per_device_train_batch_size": batch_size,
        "click_rounds": args.click_rounds,
        "prompt_mode": data_args.prompt_mode,
        "absent_class_fraction": data_args.absent_class_fraction,
        "class_names": sorted(set(train_dataset["class_name"])),  # what the adapter was trained on (the card)
        "trainable_parameters": trainable_parameters,
        "train_seconds": train_seconds,
        "loss_history": state.loss_history,
    }
    if args.load_best_model_at_end:
        results["best_global_step"] = state.best_global_step
    return results


def _save(
    accelerator: Accelerator,
    model,
    base,
    output_dir: Path,
    results: dict[str, Any],
    train_metrics: dict[str, Any],
    data_args: DataArguments,
    args: SamPtxTrainingArguments,
) -> None:
    """Write the adapter repository (with `eval_results.json`) and `train_results.json`; push it if asked."""
    save_adapter_repo(  # also writes eval_results.json
        accelerator.unwrap_model(model),
        output_dir,
        processor=SamPtxProcessor.from_model(base),
        eval_results=results,
        dataset_name=data_args.dataset,
        repo_id=args.hub_model_id,
    )
    (output_dir / TRAIN_RESULTS).write_text(json.dumps(train_metrics, indent=4, sort_keys=True) + "\n")
    if args.push_to_hub:
        upload_adapter_repo(output_dir, args.hub_model_id)
        accelerator.print(f"Pushed {output_dir} to the Hub as {args.hub_model_id}")


def train_results(train_dataset, state: TrainerState, runtime: float, samples_seen: int) -> dict[str, Any]:
    """The metrics of `train_results.json`, as transformers' example scripts write them (`Trainer.save_metrics`):
    `train_samples` (training rows, one per (image, class)), `train_images` (distinct images), `train_runtime`
    (seconds of this process's loop), `train_samples_per_second` (rows trained on in that time) and `train_loss`
    (mean loss of every micro-batch of the run, the ones before a resume included)."""
    images = len(set(train_dataset["image_id"])) if "image_id" in train_dataset.column_names else len(train_dataset)
    return {
        "train_images": images,
        "train_samples": len(train_dataset),
        "train_runtime": round(runtime, 4),
        "train_samples_per_second": round(samples_seen / runtime, 3) if runtime > 0 else 0.0,
        "train_loss": state.train_loss_sum / max(state.train_loss_batches, 1),
    }


def keep_if_best(accelerator: Accelerator, model, state: TrainerState, mean_iou: float, checkpoints_dir: Path) -> bool:
    """Record an evaluation; when its mIoU beats the best so far, save the trainable weights to
    `checkpoints/best-model/` and return True (the model is the best one)."""
    if state.best_mean_iou is not None and mean_iou <= state.best_mean_iou:
        return False
    state.best_mean_iou, state.best_global_step = mean_iou, state.global_step
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        weights = {
            name: parameter.detach().to("cpu", copy=True).contiguous()
            for name, parameter in unwrapped.named_parameters()
            if parameter.requires_grad
        }
        folder = checkpoints_dir / BEST_MODEL
        folder.mkdir(parents=True, exist_ok=True)
        save_file(weights, str(folder / "trainable.safetensors.tmp"))
        os.replace(folder / "trainable.safetensors.tmp", folder / "trainable.safetensors")
    accelerator.wait_for_everyone()
    return True


def load_trainable_weights(model, folder: Path) -> None:
    """Load the weights [`keep_if_best`] saved into `model` (every trainable parameter, nothing else)."""
    weights = load_file(str(folder / "trainable.safetensors"))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    if set(weights) != trainable:
        raise ValueError(f"{folder} holds other trainable parameters than this run's model: it belongs to another run")
    model.load_state_dict(weights, strict=False)


def find_train_batch_size(
    accelerator: Accelerator,
    model,
    train_dataset,
    collator: SamPtxDataCollator,
    text_table: dict[str, torch.Tensor],
    args: SamPtxTrainingArguments,
    presence_head: bool,
) -> int:
    """The largest batch size, from `--per_device_train_batch_size` down (x 0.9 each time), whose training step
    (forward and backward) fits in the device's memory (accelerate's `find_executable_batch_size`); the smallest
    over the processes. The probe's gradients are dropped."""
    model.to(accelerator.device)

    @find_executable_batch_size(starting_batch_size=args.per_device_train_batch_size)
    def probe(batch_size: int) -> int:
        rows = [train_dataset[index] for index in range(min(batch_size, len(train_dataset)))]
        batch = collator(rows)
        inputs = _model_inputs(batch, text_table, accelerator.device, presence_head)
        inputs = {
            key: value.to(accelerator.device) if torch.is_tensor(value) else value for key, value in inputs.items()
        }
        try:
            with accelerator.autocast():
                loss = click_rounds_loss(model, inputs, args.click_rounds, batch["reshaped_input_sizes"])
            loss.backward()
        finally:
            model.zero_grad(set_to_none=True)
        return batch_size

    found = torch.tensor([probe()], device=accelerator.device)
    batch_size = int(accelerator.gather(found).min().item())
    if batch_size != args.per_device_train_batch_size:
        accelerator.print(
            f"--auto_find_batch_size: {batch_size} per device fits (from {args.per_device_train_batch_size})"
        )
    return batch_size


def _non_finite_message(state: TrainerState, checkpoints_dir: Path) -> str:
    checkpoints = list_checkpoints(checkpoints_dir)
    last = (
        f"the last checkpoint is {checkpoints[-1]} (resume with --resume_from_checkpoint {checkpoints[-1]} and, "
        "e.g., a lower --learning_rate)"
        if checkpoints
        else "no checkpoint was saved before it"
    )
    return (
        f"training stopped at step {state.global_step}: the loss is not finite ({state.loss_sum}); nothing was "
        f"saved after it, {last}"
    )
