"""Training: step time (forward, backward, AdamW) and peak memory per method, each configuration in a fresh process.

Memory: on CUDA, `torch.cuda.max_memory_allocated` minus the memory allocated before the step; on CPU, the peak
resident set size of the process during the step minus its size before (Linux `VmHWM`, reset through
`/proc/self/clear_refs`), which also counts allocator caches and is therefore an upper bound.
"""

import gc
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from common import (
    LORA,
    METHODS,
    Models,
    Section,
    SizeRun,
    first_value,
    format_seconds,
    make_inputs,
    synchronize,
    time_in_rotation,
)
from transformers.utils import logging

DEFAULT_TRAIN_REPEATS = {"tiny": 10, "vit-b": 1}
DEFAULT_TRAIN_METHODS = {"tiny": METHODS, "vit-b": ("parallel_text", "decoder_only")}
DEFAULT_TRAIN_CHECKPOINTING = {"tiny": (False, True), "vit-b": (False, True)}


def _memory_before_step(device: torch.device) -> int:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    return _proc_status_bytes("VmRSS")


def _peak_memory_of_step(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return _proc_status_bytes("VmHWM")


def _proc_status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field} line")


def training_step_worker(
    size: str, method: str, gradient_checkpointing: bool, repeats: int, threads: int, device_name: str
) -> dict[str, Any]:
    """Time training steps of one configuration in this (fresh) process; the first step also gives peak memory."""
    torch.set_num_threads(threads)
    logging.set_verbosity_error()
    device = torch.device(device_name)
    models = Models(size)
    model = models.peft_model(method).to(device)
    model.train()
    if gradient_checkpointing:
        model.get_base_model().gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    inputs = {k: v.to(device) for k, v in make_inputs(models.sam_config, models.text_config.projection_dim).items()}
    if method == LORA:
        inputs.pop("text_embeds")
    del models

    def step() -> None:
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    before = _memory_before_step(device)
    synchronize(device)
    start = time.perf_counter()
    step()  # warm-up; creates AdamW's state, so its peak is a real step's
    synchronize(device)
    first_step_s = time.perf_counter() - start
    peak = _peak_memory_of_step(device)
    timings = time_in_rotation({"step": step}, repeats, device, warmup=0)["step"]
    return {
        **timings,
        "first_step_s": first_step_s,
        "peak_memory_bytes": peak - before,
        "memory_measure": "cuda_max_memory_allocated" if device.type == "cuda" else "cpu_peak_rss_delta",
    }


def measure(run: SizeRun) -> dict[str, Any]:
    """Training step of each (method, checkpointing) configuration of `--train_methods` x `--train_checkpointing`;
    those already stored (with `--resume`) are kept, not measured."""
    methods = run.options.train_methods or list(DEFAULT_TRAIN_METHODS[run.size])
    checkpointing = run.options.train_checkpointing or list(DEFAULT_TRAIN_CHECKPOINTING[run.size])
    repeats = run.options.train_repeats or DEFAULT_TRAIN_REPEATS[run.size]
    rows: dict[str, Any] = dict(run.stored.get("training", {}).get("rows", {}))
    context = get_context("spawn")
    for method in methods:
        for gradient_checkpointing in checkpointing:
            key = f"{method}{' +gc' if gradient_checkpointing else ''}"
            if key in rows:
                continue
            # A fresh process per configuration: peak memory and allocator state are its own.
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                future = pool.submit(
                    training_step_worker,
                    run.size,
                    method,
                    gradient_checkpointing,
                    repeats,
                    run.threads,
                    str(run.device),
                )
                rows[key] = {"method": method, "gradient_checkpointing": gradient_checkpointing, **future.result()}
            run.log(f"  training {run.size} {key}: {rows[key]['median_s']:.3f} s/step")
    return {"rows": rows, "batch_size": 1}


def report(section: dict[str, Any]) -> list[str]:
    rows = section["rows"]
    measure = first_value(rows)["memory_measure"]
    lines = [
        f"\n### Training step, batch 1 (forward + backward + AdamW; load {section['load']})\n",
        f"| method | gradient checkpointing | step (median of {first_value(rows)['n']}) | first step "
        f"| peak memory ({measure}) |",
        "|---|---|---|---|---|",
    ]
    for row in rows.values():
        lines.append(
            f"| {row['method']} | {'yes' if row['gradient_checkpointing'] else 'no'} "
            f"| {format_seconds(row['median_s'])} | {format_seconds(row['first_step_s'])} "
            f"| {row['peak_memory_bytes'] / 2**20:,.0f} MiB |"
        )
    return lines


SECTION = Section(
    name="training",
    summary="step time (forward, backward, AdamW) and peak memory per method, batch 1, with and without gradient "
    "checkpointing; each configuration in a fresh process so that peak memory is its own",
    measure=measure,
    report=report,
    resumes_partially=True,
)
