"""Per-forward time of SAM-PTx over its frozen model, SAM ViT-B against SAM 2 Hiera-T, measured side by side.

    OMP_NUM_THREADS=2 python benchmarks/sam2_overhead.py --pairs 11 --output benchmarks/results_sam2_cpu_2core.json
    OMP_NUM_THREADS=2 python benchmarks/sam2_overhead.py --models sam2 --adapter_layers 3,4,5,6,7,8,9,10,11 \
        --output benchmarks/results_sam2_cpu_2core_stages34.json

For each frozen model (random weights with the released shapes: `SamConfig()` with SAM ViT-B's encoder,
`Sam2Config()` with SAM 2.1 Hiera-T's; CLIP ViT-B/32's text width 512), one forward at batch 1 and 1024 px with one
point is timed for the plain transformers model (`SamModel` / `Sam2Model`) and for SAM-PTx with Parallel-Text
adapters (r=32, non-zero weights) beside every image-encoder MLP, in interleaved pairs (who goes first alternates).
Reported: the median seconds of each, and the median of the per-pair ratios (the adapter overhead).
`--adapter_layers` places the adapters in some blocks only (as `examples/train.py --adapter_layers`).
"""

import argparse
import copy
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from peft import get_peft_model
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, Sam2Config, Sam2Model, SamConfig, SamModel

from samptx_hf import SamPtxConfig, SamPtxForTextSegmentation, peft_config_for

ADAPTER_R = 32
MODEL_KEYS = {"sam": "SAM ViT-B (SamModel)", "sam2": "SAM 2.1 Hiera-T (Sam2Model)"}
FROZEN_MODELS = {
    "SAM ViT-B (SamModel)": (
        SamModel,
        lambda: SamConfig(initializer_range=0.02, vision_config={"initializer_range": 0.02}),
    ),
    "SAM 2.1 Hiera-T (Sam2Model)": (Sam2Model, Sam2Config),
}


def paired_seconds(baseline: Callable[[], Any], candidate: Callable[[], Any], pairs: int) -> dict[str, Any]:
    """Seconds of `baseline` and `candidate` over `pairs` interleaved pairs after one warm-up call of each."""
    baseline(), candidate()
    seconds: dict[str, list[float]] = {"baseline": [], "candidate": []}
    for pair in range(pairs):
        for name in ("baseline", "candidate") if pair % 2 == 0 else ("candidate", "baseline"):
            start = time.perf_counter()
            (baseline if name == "baseline" else candidate)()
            seconds[name].append(time.perf_counter() - start)
    ratios = [c / b for b, c in zip(seconds["baseline"], seconds["candidate"], strict=True)]
    return {
        "baseline_median_s": statistics.median(seconds["baseline"]),
        "samptx_median_s": statistics.median(seconds["candidate"]),
        "median_ratio": statistics.median(ratios),
        "ratios": [round(r, 4) for r in ratios],
        "pairs": pairs,
    }


def measure(name: str, pairs: int, adapter_layers: str = "all") -> dict[str, Any]:
    model_class, make_config = FROZEN_MODELS[name]
    torch.manual_seed(0)
    sam_config = make_config()
    sam = model_class(sam_config).eval()
    text_config = CLIPTextConfig()
    # As from_pretrained_components does: keep the attention implementation the frozen model was built with.
    config = SamPtxConfig(
        sam_config=sam_config, text_config=text_config, attn_implementation=sam.config._attn_implementation
    )
    model = SamPtxForTextSegmentation(
        config, sam=copy.deepcopy(sam), text_encoder=CLIPTextModelWithProjection(text_config)
    )
    peft_config = peft_config_for("parallel_text", r=ADAPTER_R, adapter_layers=adapter_layers)
    peft_config.init_weights = False  # non-zero adapters: the outputs depend on the text, as after training
    peft_model = get_peft_model(model, peft_config).eval()
    adapter_parameters = sum(p.numel() for n, p in peft_model.named_parameters() if ".parallel_text_" in n)

    image_size = config.sam_config.prompt_encoder_config.image_size
    generator = torch.Generator().manual_seed(0)
    prompts = {
        "pixel_values": torch.randn(1, 3, image_size, image_size, generator=generator),
        "input_points": torch.tensor([[[[image_size / 3, image_size / 2]]]]),
        "input_labels": torch.ones(1, 1, 1, dtype=torch.long),
    }
    text_embeds = torch.randn(1, text_config.projection_dim, generator=generator)
    with torch.inference_mode():
        result = paired_seconds(
            lambda: sam(**prompts, multimask_output=False),
            lambda: peft_model(**prompts, text_embeds=text_embeds),
            pairs,
        )
    return {
        "frozen_model": name,
        "adapter_layers": adapter_layers,
        "frozen_parameters": sum(p.numel() for p in sam.parameters()),
        "adapter_parameters": adapter_parameters,
        **result,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| frozen model | parameters | adapter parameters (r=32) | frozen model, s/forward | SAM-PTx, s/forward "
        "| overhead (median of pair ratios) | adapters in |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['frozen_model']} | {row['frozen_parameters'] / 1e6:.1f} M | {row['adapter_parameters']:,} "
            f"| {row['baseline_median_s']:.2f} | {row['samptx_median_s']:.2f} | {row['median_ratio']:.3f}x "
            f"| {row['adapter_layers']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=7, help="Interleaved pairs per frozen model.")
    parser.add_argument("--output", default=None, help="Write the results as JSON here.")
    parser.add_argument("--models", default="sam,sam2", help="Comma-separated: sam (ViT-B), sam2 (Hiera-T).")
    parser.add_argument("--adapter_layers", default="all", help="Blocks with adapters: all, last:K, or indices.")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error(f"--pairs must be positive, got {args.pairs}")
    keys = [key.strip() for key in args.models.split(",") if key.strip()]
    if not keys or any(key not in MODEL_KEYS for key in keys):
        parser.error(f"--models {args.models!r}, expected a comma-separated subset of {sorted(MODEL_KEYS)}")
    rows = [measure(MODEL_KEYS[key], args.pairs, args.adapter_layers) for key in keys]
    result = {
        "rows": rows,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    print(markdown(rows))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=2)
            file.write("\n")
    return result


if __name__ == "__main__":
    main()
