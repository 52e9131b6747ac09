"""Benchmarks of SAM-PTx: inference overhead, adapter size, training step, text cost, several classes per image.

Measured side by side in one run, at the real SAM ViT-B shapes (`SamConfig()`: 1024x1024 input, CLIP ViT-B/32 text
encoder `CLIPTextConfig()`, random weights) and at the tiny test configuration (`samptx_hf.tiny`). Speed is
reported as medians of several repeats after a warm-up, and as ratios to a baseline measured in the same run.
Variants that are compared are timed in rotation (A, B, C, A, B, C, ...) so that a change in machine load during
the run affects all of them alike.

    python benchmarks/run_benchmarks.py --sizes tiny                      # about a minute
    python benchmarks/run_benchmarks.py --sizes vit-b --only inference    # one section at a time
    python benchmarks/run_benchmarks.py --sizes tiny,vit-b --resume       # skip what results.json holds

Each finished (size, section) is written to `--output` at once, so an interrupted run loses one section at most;
`--resume` skips the sections already there. The markdown tables of everything in `--output` are printed at the
end (`--report` prints them without measuring).

Sections:
    inference   forward of transformers' `SamModel` vs SAM-PTx (Parallel-Text r=32) vs LoRA on the same MLPs
    params      trainable parameters and adapter file size per method (`get_peft_model` + `save_pretrained`)
    training    step time (forward, backward, AdamW) and peak memory per method, batch 1, with and without
                gradient checkpointing; each configuration in a fresh process so that peak memory is its own
    text        encoding the class prompts once (cached `encode_text`) vs once per sample over an epoch
    multiclass  N class prompts on one image: adapters in the last blocks (shared trunk) vs N full passes, the
                masks of the shared trunk against one class at a time, and the single-class overhead over SamModel
    overhead    one class, batch 1: SAM-PTx (adapters in every block, and in `--shared_layers`) over plain
                `SamModel`, as the median of interleaved pairs (`--pairs`)
    placement   time of each image-encoder part (patch embedding, every block, neck) in one forward, and from it the
                image-encoder cost of N = 1, 4, 16 classes of one image with adapters in all, the last half, the
                last quarter and the last 2 blocks

Memory: on CUDA, `torch.cuda.max_memory_allocated` minus the memory allocated before the step; on CPU, the peak
resident set size of the process during the step minus its size before (Linux `VmHWM`, reset through
`/proc/self/clear_refs`), which also counts allocator caches and is therefore an upper bound.
"""

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, SamConfig, SamModel
from transformers.utils import logging

from samptx_hf import (
    Method,
    SamPtxConfig,
    SamPtxForTextSegmentation,
    parse_adapter_layers,
    peft_config_for,
    text_injection_for,
)
from samptx_hf.tiny import tiny_clip_tokenizer, tiny_sam_config, tiny_text_config

SIZES = ("tiny", "vit-b")
SECTIONS = ("inference", "params", "training", "text", "multiclass", "placement", "overhead")
PLACEMENT_CLASS_COUNTS = (1, 4, 16)
LORA = "lora"
METHODS = tuple(method.value for method in Method) + (LORA,)
# LoRA on the same MLPs as the Parallel-Text adapters: both linear layers of every image-encoder MLP.
LORA_TARGET_MODULES = r".*vision_encoder\.layers\.\d+\.mlp\.lin[12]"
ADAPTER_R = 32
# Defaults per size: ViT-B on a CPU takes tens of seconds per forward, so its repeats are few.
DEFAULT_REPEATS = {"tiny": 20, "vit-b": 2}
DEFAULT_TRAIN_REPEATS = {"tiny": 10, "vit-b": 1}
DEFAULT_NUM_CLASSES = {"tiny": 8, "vit-b": 4}
# The tiny SAM has 2 blocks: adapters in the last one leave one block to share.
DEFAULT_SHARED_LAYERS = {"tiny": "last:1", "vit-b": "last:2"}
DEFAULT_TRAIN_METHODS = {"tiny": METHODS, "vit-b": ("parallel_text", "decoder_only")}
DEFAULT_TRAIN_CHECKPOINTING = {"tiny": (False, True), "vit-b": (False, True)}


# ----------------------------------------------------------------------------------------------- models and inputs


def sam_and_text_configs(size: str, encoder_blocks: int | None = None) -> tuple[SamConfig, CLIPTextConfig]:
    """SAM and CLIP text configurations of `size`, with `encoder_blocks` image-encoder blocks if given.

    ViT-B: SAM's and CLIP ViT-B/32's default shapes. SAM's default `initializer_range` of 1e-10 is replaced by
    0.02 so that random activations have realistic magnitudes (tiny values could turn into slow denormals). With
    another depth, global attention stays in every third block (SAM ViT-B: blocks 2, 5, 8, 11).
    """
    if size == "tiny":
        if encoder_blocks is None:
            return tiny_sam_config(), tiny_text_config()
        return tiny_sam_config(num_hidden_layers=encoder_blocks), tiny_text_config()
    if size == "vit-b":
        vision = {"initializer_range": 0.02}
        if encoder_blocks is not None:
            vision |= {"num_hidden_layers": encoder_blocks, "global_attn_indexes": list(range(2, encoder_blocks, 3))}
        sam_config = SamConfig(initializer_range=0.02, vision_config=vision)
        return sam_config, CLIPTextConfig()
    raise ValueError(f"size={size!r} is not one of {SIZES}")


class Models:
    """Builds the models of one size from one random SAM and one random text encoder (built once, then copied)."""

    def __init__(self, size: str, seed: int = 0, encoder_blocks: int | None = None) -> None:
        self.size = size
        self.sam_config, self.text_config = sam_and_text_configs(size, encoder_blocks)
        torch.manual_seed(seed)
        self.sam = SamModel(self.sam_config).eval()
        self.text_encoder = CLIPTextModelWithProjection(self.text_config).eval()

    def samptx(self, text_injection: str) -> SamPtxForTextSegmentation:
        """A SAM-PTx model on a copy of the SAM weights (peft modifies it in place) and the shared text encoder."""
        config = SamPtxConfig(sam_config=self.sam_config, text_config=self.text_config, text_injection=text_injection)
        model = SamPtxForTextSegmentation(config, sam=copy.deepcopy(self.sam), text_encoder=self.text_encoder)
        model.tokenizer = tiny_clip_tokenizer()  # ids fit any CLIP vocabulary; spells words out letter by letter
        return model.eval()

    def lora_rank(self) -> int:
        """The LoRA rank whose parameter count on lin1 + lin2 is closest to a Parallel-Text adapter's of r=32."""
        vision = self.sam_config.vision_config
        hidden, mlp_dim, text_dim = vision.hidden_size, vision.mlp_dim, self.text_config.projection_dim
        parallel_text_per_block = hidden * ADAPTER_R + ADAPTER_R + ADAPTER_R * hidden + hidden + text_dim * ADAPTER_R
        lora_per_rank = 2 * (hidden + mlp_dim)  # lin1: hidden -> mlp_dim, lin2: mlp_dim -> hidden
        return max(1, round(parallel_text_per_block / lora_per_rank))

    def peft_model(
        self, method: str, train_decoder: bool = True, adapter_layers: str = "all", init_weights: bool = True
    ) -> torch.nn.Module:
        """SAM-PTx with the adapter of `method` (a `Method` value or `"lora"`), as training builds it.

        `adapter_layers` places Parallel-Text adapters (`"last:2"`, ...); `init_weights=False` gives them random,
        non-zero weights (the outputs then depend on the text, as after training).
        """
        if method == LORA:
            model = self.samptx("none")
            config = LoraConfig(
                r=self.lora_rank(),
                lora_alpha=self.lora_rank(),
                target_modules=LORA_TARGET_MODULES,
                modules_to_save=["mask_decoder"] if train_decoder else None,
            )
            return get_peft_model(model, config)
        model = self.samptx(text_injection_for(method).value)
        config = peft_config_for(method, r=ADAPTER_R, adapter_layers=adapter_layers)
        config.init_weights = init_weights
        return get_peft_model(model, config)


def make_inputs(sam_config: SamConfig, text_dim: int, batch_size: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch at SAM's input size: one foreground point per image, a low-resolution target mask."""
    generator = torch.Generator().manual_seed(seed)
    image_size = sam_config.vision_config.image_size
    mask_size = sam_config.prompt_encoder_config.image_embedding_size * 4  # SAM's low-resolution mask size
    labels = torch.zeros(batch_size, mask_size, mask_size)
    labels[:, mask_size // 4 : mask_size // 2, mask_size // 4 : mask_size // 2] = 1
    return {
        "pixel_values": torch.randn(batch_size, 3, image_size, image_size, generator=generator),
        "input_points": torch.full((batch_size, 1, 1, 2), image_size * 3 / 8),
        "input_labels": torch.ones(batch_size, 1, 1, dtype=torch.long),
        "text_embeds": torch.randn(batch_size, text_dim, generator=generator),
        "labels": labels,
    }


# ----------------------------------------------------------------------------------------------- timing


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_in_rotation(
    functions: dict[str, Callable[[], Any]], repeats: int, device: torch.device, warmup: int = 1
) -> dict[str, dict[str, float]]:
    """Median and spread (seconds) of each function, called `warmup` times and then `repeats` times in rotation."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]  # rotate who goes first
        for name in order:
            synchronize(device)
            start = time.perf_counter()
            functions[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {
        name: {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values), "n": len(values)}
        for name, values in times.items()
    }


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


# ----------------------------------------------------------------------------------------------- sections


def bench_inference(models: Models, repeats: int, device: torch.device) -> dict[str, Any]:
    """One forward (image encoder, prompt encoder, mask decoder), batch 1, one point, precomputed text."""
    inputs = {k: v.to(device) for k, v in make_inputs(models.sam_config, models.text_config.projection_dim).items()}
    prompts = {key: inputs[key] for key in ("pixel_values", "input_points", "input_labels")}
    sam = models.sam.to(device)
    wrapper = models.samptx("none").to(device)
    samptx = models.peft_model(Method.PARALLEL_TEXT.value).to(device).eval()
    lora = models.peft_model(LORA, train_decoder=False).to(device).eval()
    variants = {
        "SamModel (transformers)": lambda: sam(**prompts, multimask_output=False),
        "SamPtxForTextSegmentation, no adapter": lambda: wrapper(**prompts),
        f"SAM-PTx, Parallel-Text r={ADAPTER_R}": lambda: samptx(**prompts, text_embeds=inputs["text_embeds"]),
        f"LoRA r={models.lora_rank()} on lin1+lin2 (unmerged)": lambda: lora(**prompts),
    }
    with torch.inference_mode():
        timings = time_in_rotation(variants, repeats, device)
    baseline = timings["SamModel (transformers)"]
    lora_timing = timings[f"LoRA r={models.lora_rank()} on lin1+lin2 (unmerged)"]
    for timing in timings.values():
        timing["ratio_to_sam"] = timing["median_s"] / baseline["median_s"]
        timing["ratio_to_lora"] = timing["median_s"] / lora_timing["median_s"]
        # On a shared machine other work only ever adds time: the fastest run is the least disturbed.
        timing["min_ratio_to_sam"] = timing["min_s"] / baseline["min_s"]
        timing["min_ratio_to_lora"] = timing["min_s"] / lora_timing["min_s"]
    adapter_params = {
        "parallel_text": _encoder_adapter_parameters(samptx),
        "lora": _encoder_adapter_parameters(lora),
    }
    return {"variants": timings, "encoder_adapter_parameters": adapter_params, "lora_rank": models.lora_rank()}


def _encoder_adapter_parameters(peft_model: torch.nn.Module) -> int:
    return sum(
        parameter.numel()
        for name, parameter in peft_model.named_parameters()
        if "vision_encoder" in name and ("parallel_text_" in name or "lora_" in name)
    )


def bench_params(models: Models) -> dict[str, Any]:
    """Trainable parameters and the size of what `save_pretrained` writes, per method."""
    rows = {}
    for method in METHODS:
        peft_model = models.peft_model(method)
        trainable, total = peft_model.get_nb_trainable_parameters()
        with tempfile.TemporaryDirectory() as directory:
            peft_model.save_pretrained(directory)
            files = {path.name: path.stat().st_size for path in Path(directory).rglob("*") if path.is_file()}
        rows[method] = {
            "trainable_parameters": trainable,
            "all_parameters": total,
            "encoder_adapter_parameters": _encoder_adapter_parameters(peft_model),
            "adapter_bytes": sum(files.values()),
            "files": files,
        }
        del peft_model
        gc.collect()
    return {"methods": rows, "lora_rank": models.lora_rank()}


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


def bench_training(
    size: str,
    methods: list[str],
    checkpointing: list[bool],
    repeats: int,
    threads: int,
    device: torch.device,
    log: Callable[[str], None],
    done: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Training step of each (method, checkpointing) configuration; those in `done` are kept, not measured."""
    rows: dict[str, Any] = dict(done or {})
    context = get_context("spawn")
    for method in methods:
        for gradient_checkpointing in checkpointing:
            key = f"{method}{' +gc' if gradient_checkpointing else ''}"
            if key in rows:
                continue
            # A fresh process per configuration: peak memory and allocator state are its own.
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                future = pool.submit(
                    training_step_worker, size, method, gradient_checkpointing, repeats, threads, str(device)
                )
                rows[key] = {"method": method, "gradient_checkpointing": gradient_checkpointing, **future.result()}
            log(f"  training {size} {key}: {rows[key]['median_s']:.3f} s/step")
    return {"rows": rows, "batch_size": 1}


def bench_text(models: Models, num_classes: int, epoch_samples: int, repeats: int) -> dict[str, Any]:
    """Text cost over one epoch of `epoch_samples` samples drawn from `num_classes` class names."""
    model = models.samptx("parallel_text")
    class_names = [f"class{index}" for index in range(num_classes)]
    epoch = [class_names[index % num_classes] for index in range(epoch_samples)]
    tokenizer = model.get_tokenizer()

    def cached() -> None:
        model.text_cache.clear()
        model.encode_text(class_names)  # every class once
        for name in epoch:
            model.encode_text([name])  # a cache hit per sample

    @torch.no_grad()
    def per_sample() -> None:
        for name in epoch:
            tokens = tokenizer(model.format_prompts([name]), padding=True, return_tensors="pt")
            model.text_encoder(**tokens)

    timings = time_in_rotation({"cached": cached, "per_sample": per_sample}, repeats, torch.device("cpu"))
    timings["per_sample"]["ratio_to_cached"] = timings["per_sample"]["median_s"] / timings["cached"]["median_s"]
    prompt_tokens = tokenizer(model.format_prompts(class_names[:1]))["input_ids"][0]
    return {
        "timings": timings,
        "num_classes": num_classes,
        "epoch_samples": epoch_samples,
        "prompt_tokens": len(prompt_tokens),
    }


def _median_of_pair_ratios(
    baseline: Callable[[], Any], candidate: Callable[[], Any], pairs: int, device: torch.device
) -> dict[str, float]:
    """Median of `candidate / baseline` over `pairs` interleaved pairs (who goes first alternates), after a warm-up."""
    baseline(), candidate()
    ratios = []
    for pair in range(pairs):
        seconds = {}
        for name in ("baseline", "candidate") if pair % 2 == 0 else ("candidate", "baseline"):
            function = baseline if name == "baseline" else candidate
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            seconds[name] = time.perf_counter() - start
        ratios.append(seconds["candidate"] / seconds["baseline"])
    return {"median_ratio": statistics.median(ratios), "ratios": ratios, "n": pairs}


def bench_multiclass(
    models: Models, num_classes: int, shared_layers: str, repeats: int, device: torch.device, pairs: int | None = None
) -> dict[str, Any]:
    """N class prompts on one image: shared trunk (adapters in `shared_layers`) against N full passes.

    Variants, timed in rotation: adapters in every block as N forwards of batch 1 (N full image-encoder passes) and,
    at the tiny size or on a GPU, as one forward of batch N (still N full passes: every block reads the text; at
    ViT-B on a CPU its global-attention weights, N x 12 x 4096^2 floats per block, do not fit beside other work),
    and adapters in `shared_layers` only as one forward of batch N (the blocks before them run once). Then the
    masks of the shared forward are compared with the same model's one-class-at-a-time masks, and the single-class
    overhead of SAM-PTx (adapters in every block, batch 1) over plain `SamModel` is measured as the median of
    interleaved pairs (`pairs`, by default `repeats + 1`).

    Batch N and batch 1 round differently in the matrix products (the CPU kernels block by batch size), so the
    logits agree to about 1e-6, not bit for bit; the result counts the mask pixels that differ and the largest
    logit at such a pixel (a pixel can only flip where its logit is that close to the threshold).
    """
    text_dim = models.text_config.projection_dim
    one = make_inputs(models.sam_config, text_dim)
    prompts = {key: one[key].to(device) for key in ("pixel_values", "input_points", "input_labels")}
    texts = torch.randn(num_classes, text_dim, generator=torch.Generator().manual_seed(1)).to(device)
    batched = {key: value.expand(num_classes, *value.shape[1:]) for key, value in prompts.items()}
    every_block = models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval()
    last_blocks = models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
    last_blocks = last_blocks.to(device).eval()
    num_blocks = models.sam_config.vision_config.num_hidden_layers
    adapted = last_blocks.peft_config["default"].layers_to_transform

    def separate(model: torch.nn.Module) -> list[torch.Tensor]:
        return [model(**prompts, text_embeds=texts[i : i + 1]) for i in range(num_classes)]

    variants = {
        "separate_all": lambda: separate(every_block),
        "batched_all": lambda: every_block(**batched, text_embeds=texts),
        "batched_shared": lambda: last_blocks(**batched, text_embeds=texts),
    }
    if models.size != "tiny" and device.type != "cuda":
        del variants["batched_all"]
    with torch.inference_mode():
        # One single-class forward of each model warms it up; a full round of every variant would double a ViT-B run.
        every_block(**prompts, text_embeds=texts[:1]), last_blocks(**prompts, text_embeds=texts[:1])
        timings = time_in_rotation(variants, repeats, device, warmup=0)
        shared, alone = last_blocks(**batched, text_embeds=texts), separate(last_blocks)
        alone_masks = torch.cat([output.pred_masks for output in alone])
        alone_scores = torch.cat([output.iou_scores for output in alone])
        sam = models.sam.to(device)
        single_class = _median_of_pair_ratios(
            lambda: sam(**prompts, multimask_output=False),
            lambda: every_block(**prompts, text_embeds=texts[:1]),
            pairs or repeats + 1,
            device,
        )
    differing = (shared.pred_masks > 0) != (alone_masks > 0)
    for timing in timings.values():
        timing["ratio_to_separate_all"] = timing["median_s"] / timings["separate_all"]["median_s"]
        timing["min_ratio_to_separate_all"] = timing["min_s"] / timings["separate_all"]["min_s"]
    return {
        "timings": timings,
        "num_classes": num_classes,
        "num_blocks": num_blocks,
        "shared_layers": shared_layers,
        "adapted_blocks": adapted,
        "masks_equal_one_class_at_a_time": bool(torch.equal(shared.pred_masks > 0, alone_masks > 0)),
        "max_abs_logit_difference": float((shared.pred_masks - alone_masks).abs().max()),
        "mask_pixels_differing": int(differing.sum()),
        "mask_pixels": differing.numel(),
        "max_abs_logit_at_differing_pixel": float(alone_masks[differing].abs().max()) if differing.any() else 0.0,
        "max_abs_score_difference": float((shared.iou_scores - alone_scores).abs().max()),
        "single_class_ratio_to_sam": single_class,
    }


def bench_overhead(models: Models, shared_layers: str, pairs: int, device: torch.device) -> dict[str, Any]:
    """Single-class inference time of SAM-PTx over plain `SamModel`: median of `pairs` interleaved pairs each."""
    inputs = make_inputs(models.sam_config, models.text_config.projection_dim)
    prompts = {key: inputs[key].to(device) for key in ("pixel_values", "input_points", "input_labels")}
    text_embeds = inputs["text_embeds"].to(device)
    sam = models.sam.to(device)
    candidates = {
        "every block": models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval(),
        shared_layers: models.peft_model(Method.PARALLEL_TEXT.value, adapter_layers=shared_layers, init_weights=False)
        .to(device)
        .eval(),
    }
    with torch.inference_mode():
        ratios = {
            placement: _median_of_pair_ratios(
                lambda: sam(**prompts, multimask_output=False),
                lambda model=model: model(**prompts, text_embeds=text_embeds),
                pairs,
                device,
            )
            for placement, model in candidates.items()
        }
    return {"ratios_to_sam": ratios}


def bench_placement(models: Models, repeats: int, device: torch.device) -> dict[str, Any]:
    """Seconds of each image-encoder part at batch 1, and the encoder cost of N classes per adapter placement.

    With adapters in the last K of B blocks, N classes of one image cost the patch embedding and the first B - K
    blocks once, and the last K blocks and the neck N times (batch N costs N times batch 1 on a CPU: the multiclass
    rows measure it); without sharing, N full passes.
    """
    model = models.peft_model(Method.PARALLEL_TEXT.value, init_weights=False).to(device).eval()
    encoder = model.base_model.model.sam.vision_encoder
    parts = {"patch_embed": encoder.patch_embed, **{f"block {i}": b for i, b in enumerate(encoder.layers)}}
    parts["neck"] = encoder.neck
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    started: dict[str, float] = {}

    def before(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            synchronize(device)
            started[name] = time.perf_counter()

        return hook

    def after(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            synchronize(device)
            seconds[name].append(time.perf_counter() - started[name])

        return hook

    inputs = make_inputs(models.sam_config, models.text_config.projection_dim)
    prompts = {key: inputs[key].to(device) for key in ("pixel_values", "input_points", "input_labels")}
    text_embeds = inputs["text_embeds"].to(device)
    with torch.inference_mode():
        model(**prompts, text_embeds=text_embeds)  # warm-up, not recorded
        handles = [m.register_forward_pre_hook(before(n)) for n, m in parts.items()]
        handles += [m.register_forward_hook(after(n)) for n, m in parts.items()]
        for _ in range(repeats):
            model(**prompts, text_embeds=text_embeds)
        for handle in handles:
            handle.remove()
    part_seconds = {name: statistics.median(values) for name, values in seconds.items()}
    blocks = [part_seconds[f"block {i}"] for i in range(len(encoder.layers))]
    num_blocks = len(blocks)
    placements = {
        "all": num_blocks,
        "last half": num_blocks // 2,
        "last quarter": max(1, num_blocks // 4),
        "last 2": min(2, num_blocks),
    }
    full_pass = part_seconds["patch_embed"] + sum(blocks) + part_seconds["neck"]
    estimates = {}
    for placement, adapted in placements.items():
        shared = part_seconds["patch_embed"] + sum(blocks[: num_blocks - adapted])
        per_class = sum(blocks[num_blocks - adapted :]) + part_seconds["neck"]
        estimates[placement] = {
            "adapted_blocks": adapted,
            "classes": {
                str(n): {
                    "seconds": shared + n * per_class,
                    "ratio_to_full_passes": (shared + n * per_class) / (n * full_pass),
                }
                for n in PLACEMENT_CLASS_COUNTS
            },
        }
    return {"part_seconds": part_seconds, "full_pass_s": full_pass, "estimates": estimates, "n": repeats}


# ----------------------------------------------------------------------------------------------- report


def machine_description(threads: int, device: torch.device) -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    except OSError:
        cpu = platform.processor()
    import peft
    import transformers

    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
    }


def _ms(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{1e6 * seconds:,.0f} µs"
    return f"{1000 * seconds:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def markdown_report(results: dict[str, Any]) -> str:
    """The markdown tables of every section in `results`."""
    lines: list[str] = []
    machine = results.get("machine")
    if machine:
        lines.append(
            f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, torch {machine['torch']} "
            f"(torch.set_num_threads({machine['torch_threads']})), transformers {machine['transformers']}, "
            f"peft {machine['peft']}, device {machine['device']}."
        )
    for size, sections in results.get("sizes", {}).items():
        lines.append(f"\n## {size}\n")
        if "inference" in sections:
            section = sections["inference"]
            lines += [
                f"### Inference, batch 1 (median of {_first(section['variants'])['n']}, load {section['load']})\n",
                "| model | median | min | × SamModel (median, min) | × LoRA (median, min) | encoder adapter params |",
                "|---|---|---|---|---|---|",
            ]
            for name, row in section["variants"].items():
                params = ""
                if name.startswith("SAM-PTx"):
                    params = f"{section['encoder_adapter_parameters']['parallel_text']:,}"
                elif name.startswith("LoRA"):
                    params = f"{section['encoder_adapter_parameters']['lora']:,}"
                to_sam, to_lora = f"{row['ratio_to_sam']:.3f}", f"{row['ratio_to_lora']:.3f}"
                if "min_ratio_to_sam" in row:
                    to_sam += f", {row['min_ratio_to_sam']:.3f}"
                    to_lora += f", {row['min_ratio_to_lora']:.3f}"
                lines.append(
                    f"| {name} | {_ms(row['median_s'])} | {_ms(row['min_s'])} | {to_sam} | {to_lora} | {params} |"
                )
        if "params" in sections:
            section = sections["params"]
            lines += [
                f"\n### Trainable parameters and adapter files (LoRA r={section['lora_rank']} + mask decoder)\n",
                "| method | trainable | of which image-encoder adapters | trainable % | saved adapter |",
                "|---|---|---|---|---|",
            ]
            for method, row in section["methods"].items():
                percent = 100 * row["trainable_parameters"] / row["all_parameters"]
                lines.append(
                    f"| {method} | {row['trainable_parameters']:,} | {row['encoder_adapter_parameters']:,} "
                    f"| {percent:.2f} | {row['adapter_bytes'] / 2**20:.2f} MiB |"
                )
        if "training" in sections:
            section = sections["training"]
            rows = section["rows"]
            measure = _first(rows)["memory_measure"]
            lines += [
                f"\n### Training step, batch 1 (forward + backward + AdamW; load {section['load']})\n",
                f"| method | gradient checkpointing | step (median of {_first(rows)['n']}) | first step "
                f"| peak memory ({measure}) |",
                "|---|---|---|---|---|",
            ]
            for row in rows.values():
                lines.append(
                    f"| {row['method']} | {'yes' if row['gradient_checkpointing'] else 'no'} | {_ms(row['median_s'])} "
                    f"| {_ms(row['first_step_s'])} | {row['peak_memory_bytes'] / 2**20:,.0f} MiB |"
                )
        if "text" in sections:
            section = sections["text"]
            timings = section["timings"]
            lines += [
                f"\n### Text cost over an epoch of {section['epoch_samples']} samples, {section['num_classes']} "
                f"classes (prompt of {section['prompt_tokens']} tokens; load {section['load']})\n",
                "| text encoding | epoch total | per sample | × cached |",
                "|---|---|---|---|",
                f"| once per class (`encode_text`, cached) | {_ms(timings['cached']['median_s'])} "
                f"| {_ms(timings['cached']['median_s'] / section['epoch_samples'])} | 1.000 |",
                f"| once per sample | {_ms(timings['per_sample']['median_s'])} "
                f"| {_ms(timings['per_sample']['median_s'] / section['epoch_samples'])} "
                f"| {timings['per_sample']['ratio_to_cached']:.1f} |",
            ]
        if "multiclass" in sections:
            section = sections["multiclass"]
            timings = section["timings"]
            n, blocks, adapted = section["num_classes"], section["num_blocks"], section["adapted_blocks"]
            names = {
                "separate_all": f"adapters in all {blocks} blocks, {n} forwards of batch 1",
                "batched_all": f"adapters in all {blocks} blocks, one forward of batch {n}",
                "batched_shared": f"adapters in blocks {adapted} only, one forward of batch {n} (shared trunk)",
            }
            single = section["single_class_ratio_to_sam"]
            lines += [
                f"\n### {n} classes of one image, {blocks} image-encoder blocks (median of "
                f"{timings['separate_all']['n']}; load {section['load']})\n",
                "| how | total | per class | min | × N full passes (median, min) |",
                "|---|---|---|---|---|",
            ]
            for name, label in names.items():
                if name not in timings:
                    continue
                row = timings[name]
                lines.append(
                    f"| {label} | {_ms(row['median_s'])} | {_ms(row['median_s'] / n)} | {_ms(row['min_s'])} "
                    f"| {row['ratio_to_separate_all']:.3f}, {row['min_ratio_to_separate_all']:.3f} |"
                )
            if "mask_pixels_differing" in section:
                masks = (
                    f"{section['mask_pixels_differing']:,} of {section['mask_pixels']:,} low-resolution mask pixels "
                    "differ between the shared forward and one class at a time"
                )
                if section["mask_pixels_differing"]:
                    masks += f", each with |logit| ≤ {section['max_abs_logit_at_differing_pixel']:.1e}"
            else:
                masks = f"Shared-trunk masks equal one class at a time: {section['masks_equal_one_class_at_a_time']}"
            lines += [
                "",
                f"{masks} (largest logit difference {section['max_abs_logit_difference']:.1e}, score "
                f"{section['max_abs_score_difference']:.1e}). One class, adapters in every block, against "
                f"`SamModel`: {single['median_ratio']:.3f}× (median of {single['n']} interleaved pairs, "
                f"{min(single['ratios']):.3f}–{max(single['ratios']):.3f}).",
            ]
        if "placement" in sections:
            section = sections["placement"]
            parts = section["part_seconds"]
            block_times = [value for name, value in parts.items() if name.startswith("block ")]
            counts = list(_first(section["estimates"])["classes"])
            lines += [
                f"\n### Image-encoder cost of N classes of one image, by adapter placement (parts timed in one "
                f"forward, median of {section['n']}; load {section['load']})\n",
                f"One full pass {_ms(section['full_pass_s'])}: patch embedding {_ms(parts['patch_embed'])}, "
                f"blocks {_ms(min(block_times))}–{_ms(max(block_times))} (global attention the slowest), "
                f"neck {_ms(parts['neck'])}.\n",
                "| adapters in | " + " | ".join(f"N = {n}" for n in counts) + " |",
                "|---|" + "---|" * len(counts),
            ]
            for placement, row in section["estimates"].items():
                cells = [
                    f"{_ms(row['classes'][n]['seconds'])} ({row['classes'][n]['ratio_to_full_passes']:.2f}×)"
                    for n in counts
                ]
                blocks_label = f"{row['adapted_blocks']} block" + ("s" if row["adapted_blocks"] > 1 else "")
                lines.append(f"| {placement} ({blocks_label}) | " + " | ".join(cells) + " |")
        if "overhead" in sections:
            section = sections["overhead"]
            lines += [
                f"\n### One class, batch 1: SAM-PTx over `SamModel` (median of interleaved pairs; load "
                f"{section['load']})\n",
                "| adapters in | × SamModel (median) | pairs | range |",
                "|---|---|---|---|",
            ]
            for placement, row in section["ratios_to_sam"].items():
                spread = f"{min(row['ratios']):.3f}–{max(row['ratios']):.3f}"
                lines.append(f"| {placement} | {row['median_ratio']:.3f} | {row['n']} | {spread} |")
    return "\n".join(lines)


def _first(mapping: dict[str, Any]) -> Any:
    return next(iter(mapping.values()))


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,vit-b", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--only", default=None, help=f"comma-separated sections to run, of {', '.join(SECTIONS)}")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")
    parser.add_argument(
        "--repeats", type=int, default=None, help=f"timed repeats after one warm-up (default {DEFAULT_REPEATS})"
    )
    parser.add_argument(
        "--train_repeats", type=int, default=None, help=f"timed training steps (default {DEFAULT_TRAIN_REPEATS})"
    )
    parser.add_argument(
        "--train_methods", default=None, help=f"comma-separated, of {', '.join(METHODS)} (default per size)"
    )
    parser.add_argument("--train_checkpointing", default=None, help="comma-separated of off,on (default: off,on)")
    parser.add_argument("--num_classes", type=int, default=None, help=f"multiclass (default {DEFAULT_NUM_CLASSES})")
    parser.add_argument(
        "--shared_layers",
        default=None,
        help="multiclass: adapter placement of the shared-trunk variant, as --adapter_layers of train.py "
        f"(default {DEFAULT_SHARED_LAYERS})",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="multiclass, overhead: interleaved single-class pairs (default repeats + 1, 2 x repeats + 1)",
    )
    parser.add_argument(
        "--encoder_blocks",
        type=int,
        default=None,
        help="image-encoder depth instead of the size's own (results are stored as '<size>, <N> blocks'); "
        "not for the training section",
    )
    parser.add_argument("--text_classes", type=int, default=10, help="class names in the text-cost epoch")
    parser.add_argument("--epoch_samples", type=int, default=1000, help="samples in the text-cost epoch")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch.set_num_threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default="results.json", help="JSON file of the results (updated per section)")
    parser.add_argument("--resume", action="store_true", help="skip (size, section) pairs already in --output")
    parser.add_argument("--report", action="store_true", help="only print the tables of --output")
    args = parser.parse_args(argv)
    if args.shared_layers is not None:
        try:
            parse_adapter_layers(args.shared_layers)
        except ValueError as error:
            raise SystemExit(f"--shared_layers: {error}") from None
    if args.encoder_blocks is not None and args.encoder_blocks < 1:
        raise SystemExit(f"--encoder_blocks must be at least 1, got {args.encoder_blocks}")
    args.sizes = _split(args.sizes, SIZES, "--sizes")
    args.only = _split(args.only, SECTIONS, "--only") if args.only else list(SECTIONS)
    args.skip = _split(args.skip, SECTIONS, "--skip") if args.skip else []
    args.train_methods = _split(args.train_methods, METHODS, "--train_methods") if args.train_methods else None
    if args.train_checkpointing:
        args.train_checkpointing = [
            v == "on" for v in _split(args.train_checkpointing, ("off", "on"), "--train_checkpointing")
        ]
    return args


def _split(value: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise SystemExit(f"{flag}: {unknown} not in {list(allowed)}")
    return items


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    output = Path(args.output)
    results: dict[str, Any] = json.loads(output.read_text()) if output.exists() and (args.resume or args.report) else {}
    if args.report:
        print(markdown_report(results))
        return results
    logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results["machine"] = machine_description(args.threads, device)
    results.setdefault("sizes", {})

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def save() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2))

    for size in args.sizes:
        sections = [s for s in args.only if s not in args.skip]
        if args.encoder_blocks is not None and "training" in sections:
            raise SystemExit("--encoder_blocks does not apply to the training section: add --skip training")
        key = size if args.encoder_blocks is None else f"{size}, {args.encoder_blocks} blocks"
        done = results["sizes"].setdefault(key, {})
        # Training resumes per configuration (method, checkpointing); other sections as a whole.
        todo = [s for s in sections if not (args.resume and s in done and s != "training")]
        if not todo:
            continue
        repeats = args.repeats or DEFAULT_REPEATS[size]
        models = Models(size, encoder_blocks=args.encoder_blocks) if set(todo) - {"training"} else None
        for section in todo:
            log(f"{key}: {section} (load {load_average()})")
            start = time.perf_counter()
            load_before = load_average()
            if section == "inference":
                result = bench_inference(models, repeats, device)
            elif section == "params":
                result = bench_params(models)
            elif section == "training":
                result = bench_training(
                    size,
                    args.train_methods or list(DEFAULT_TRAIN_METHODS[size]),
                    args.train_checkpointing or list(DEFAULT_TRAIN_CHECKPOINTING[size]),
                    args.train_repeats or DEFAULT_TRAIN_REPEATS[size],
                    args.threads,
                    device,
                    log,
                    done=done.get("training", {}).get("rows", {}) if args.resume else {},
                )
            elif section == "text":
                result = bench_text(models, args.text_classes, args.epoch_samples, max(1, repeats // 2))
            elif section == "placement":
                result = bench_placement(models, repeats, device)
            elif section == "overhead":
                shared_layers = args.shared_layers or DEFAULT_SHARED_LAYERS[size]
                result = bench_overhead(models, shared_layers, args.pairs or 2 * repeats + 1, device)
            else:
                num_classes = args.num_classes or DEFAULT_NUM_CLASSES[size]
                shared_layers = args.shared_layers or DEFAULT_SHARED_LAYERS[size]
                result = bench_multiclass(models, num_classes, shared_layers, repeats, device, args.pairs)
            result["load"] = f"{load_before[0]:.1f} → {load_average()[0]:.1f}"
            result["wall_s"] = time.perf_counter() - start
            done[section] = result
            save()
            log(f"{key}: {section} done in {result['wall_s']:.0f} s")
    print(markdown_report(results))
    return results


if __name__ == "__main__":
    main()
