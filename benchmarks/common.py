"""What the benchmarks share: the models of a size, their inputs, timing in rotation, the machine, the section type.

A section of `run_benchmarks.py` is a module of `sections/` that ends with `SECTION = Section(...)`: its `measure`
takes the `SizeRun` of one size and returns a JSON-able dict, its `report` turns that dict back into markdown lines.
"""

import argparse
import copy
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, SamConfig, SamModel

from samptx_hf import Method, SamPtxConfig, SamPtxForTextSegmentation, peft_config_for, text_injection_for
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_sam_config, tiny_text_config

SIZES = ("tiny", "vit-b")
LORA = "lora"
METHODS = tuple(method.value for method in Method) + (LORA,)
# LoRA on the same MLPs as the Parallel-Text adapters: both linear layers of every image-encoder MLP.
LORA_TARGET_MODULES = r".*vision_encoder\.layers\.\d+\.mlp\.lin[12]"
ADAPTER_R = 32
# Defaults per size: ViT-B on a CPU takes tens of seconds per forward, so its repeats are few.
DEFAULT_REPEATS = {"tiny": 20, "vit-b": 2}
# The tiny SAM has 2 blocks: adapters in the last one leave one block to share.
DEFAULT_SHARED_LAYERS = {"tiny": "last:1", "vit-b": "last:2"}
PROMPT_KEYS = ("pixel_values", "input_points", "input_labels")


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


def prompts_and_text(models: Models, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The inputs of one inference call at batch 1, on `device`: SAM's (`PROMPT_KEYS`: one image, one point), which
    `SamModel` takes alone, and one class's text embeddings `(1, projection_dim)`, which SAM-PTx adds."""
    inputs = make_inputs(models.sam_config, models.text_config.projection_dim)
    return {key: inputs[key].to(device) for key in PROMPT_KEYS}, inputs["text_embeds"].to(device)


def encoder_adapter_parameters(peft_model: torch.nn.Module) -> int:
    """Parameters of the adapters inside the image encoder (Parallel-Text or LoRA), not the decoder's."""
    return sum(
        parameter.numel()
        for name, parameter in peft_model.named_parameters()
        if "vision_encoder" in name and ("parallel_text_" in name or "lora_" in name)
    )


# ----------------------------------------------------------------------------------------------- timing


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_in_rotation(
    functions: dict[str, Callable[[], Any]], repeats: int, device: torch.device, warmup: int = 1
) -> dict[str, dict[str, float]]:
    """Median, spread and every time (seconds) of each function, called `warmup` times and then `repeats` times in
    rotation: the i-th times of two functions were taken next to each other (`paired_ratio`)."""
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
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "n": len(values),
            "times_s": values,
        }
        for name, values in times.items()
    }


def paired_ratio(timing: dict[str, dict[str, Any]], numerator: str, denominator: str) -> float:
    """The median over repeats of `numerator`'s time over `denominator`'s in the same round of `time_in_rotation`:
    steadier than the ratio of the medians when the machine's speed drifts during a run."""
    pairs = zip(timing[numerator]["times_s"], timing[denominator]["times_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


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


# ----------------------------------------------------------------------------------------------- report


def format_seconds(seconds: float) -> str:
    """`812 µs`, `3.2 ms`, `16.67 s`: three significant figures or so, in the unit that reads best."""
    if seconds < 1e-3:
        return f"{1e6 * seconds:,.0f} µs"
    return f"{1000 * seconds:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def first_value(mapping: dict[str, Any]) -> Any:
    return next(iter(mapping.values()))


# ----------------------------------------------------------------------------------------------- sections


@dataclass
class SizeRun:
    """What the sections of one size share in one run of `run_benchmarks.py`.

    Args:
        size: one of `SIZES`.
        device: where the models run.
        threads: `torch.set_num_threads` of the run (a section that starts processes passes it on).
        repeats: timed repeats after the warm-up (`--repeats`, or `DEFAULT_REPEATS[size]`).
        options: every flag of `run_benchmarks.py`, parsed (`options.pairs`, `options.num_classes`, ...).
        stored: the results of this size already in `--output` when `--resume` is given, else empty; a section
            that resumes part by part (`Section.resumes_partially`) reads its own entry.
        log: prints a progress line to stderr.
    """

    size: str
    device: torch.device
    threads: int
    repeats: int
    options: argparse.Namespace
    stored: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print

    @cached_property
    def models(self) -> Models:
        """The models of this size, built on first use and shared by the sections that follow."""
        return Models(self.size, encoder_blocks=self.options.encoder_blocks)


@dataclass(frozen=True)
class Section:
    """One section of the benchmarks: what it measures and the markdown it reports.

    Args:
        name: the key of its results in the JSON file and its name for `--only`/`--skip`.
        summary: one line for `--help`.
        measure: runs the section for one size, returns a JSON-able dict (the runner adds `load` and `wall_s`).
        report: the markdown lines of a dict `measure` returned, starting with a `"\\n### title\\n"` line; it must
            also read results written by earlier versions of `measure` that are still in committed JSON files.
        resumes_partially: with `--resume`, the runner calls `measure` again even when the section is stored (it
            then keeps what `SizeRun.stored` holds and measures the rest), instead of skipping it.
    """

    name: str
    summary: str
    measure: Callable[[SizeRun], dict[str, Any]]
    report: Callable[[dict[str, Any]], list[str]]
    resumes_partially: bool = False
