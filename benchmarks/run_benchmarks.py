"""Benchmarks of SAM-PTx: inference overhead, adapter size, training step, text cost, several classes per image.

Measured side by side in one run, at the real SAM ViT-B shapes (`SamConfig()`: 1024x1024 input, CLIP ViT-B/32 text
encoder `CLIPTextConfig()`, random weights) and at the tiny test configuration (`samptx_hf.modeling.tiny`). Speed is
reported as medians of several repeats after a warm-up, and as ratios to a baseline measured in the same run.
Variants that are compared are timed in rotation (A, B, C, A, B, C, ...) so that a change in machine load during
the run affects all of them alike.

    python benchmarks/run_benchmarks.py --sizes tiny                      # about a minute
    python benchmarks/run_benchmarks.py --sizes vit-b --only inference    # one section at a time
    python benchmarks/run_benchmarks.py --sizes tiny,vit-b --resume       # skip what results.json holds

Each finished (size, section) is written to `--output` at once, so an interrupted run loses one section at most;
`--resume` skips the sections already there. The markdown tables of everything in `--output` are printed at the
end (`--report` prints them without measuring). Each section is a module of `benchmarks/sections/` that measures
and reports; the shared pieces (models, inputs, timing) are in `benchmarks/common.py`.
"""

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import torch
from common import DEFAULT_REPEATS, DEFAULT_SHARED_LAYERS, METHODS, SIZES, SizeRun, load_average, machine_description
from sections import SECTIONS
from sections.multiclass import DEFAULT_NUM_CLASSES
from sections.training import DEFAULT_TRAIN_REPEATS
from transformers.utils import logging

from samptx_hf import parse_adapter_layers
from samptx_hf.onnx.export import EXPORTERS


def markdown_report(results: dict[str, Any]) -> str:
    """The markdown tables of every section in `results`, size by size, in the order of `SECTIONS`."""
    lines: list[str] = []
    machine = results.get("machine")
    if machine:
        lines.append(
            f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, torch {machine['torch']} "
            f"(torch.set_num_threads({machine['torch_threads']})), transformers {machine['transformers']}, "
            f"peft {machine['peft']}, device {machine['device']}."
        )
    for size, stored in results.get("sizes", {}).items():
        lines.append(f"\n## {size}")
        for name, section in SECTIONS.items():
            if name in stored:
                lines += section.report(stored[name])
    return "\n".join(lines)


def sections_help() -> str:
    lines = ["Sections:"]
    for name, section in SECTIONS.items():
        lines += textwrap.wrap(section.summary, width=116, initial_indent=f"    {name:<12}", subsequent_indent=" " * 16)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=f"{__doc__}\n{sections_help()}", formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        help="multiclass, overhead: adapter placement of the shared-trunk variant, as --adapter_layers of train.py "
        f"(default {DEFAULT_SHARED_LAYERS})",
    )
    parser.add_argument(
        "--pairs", type=int, default=None, help="overhead: interleaved single-class pairs (default 2 x repeats + 1)"
    )
    parser.add_argument(
        "--encoder_blocks",
        type=int,
        default=None,
        help="image-encoder depth instead of the size's own (results are stored as '<size>, <N> blocks'); "
        "not for the training section",
    )
    parser.add_argument(
        "--onnx_exporter", default="dynamo", choices=EXPORTERS, help="onnx: the exporter of samptx export --exporter"
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
    args.only = _split(args.only, tuple(SECTIONS), "--only") if args.only else list(SECTIONS)
    args.skip = _split(args.skip, tuple(SECTIONS), "--skip") if args.skip else []
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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    names = [name for name in args.only if name not in args.skip]
    if args.encoder_blocks is not None and "training" in names:
        raise SystemExit("--encoder_blocks does not apply to the training section: add --skip training")

    for size in args.sizes:
        key = size if args.encoder_blocks is None else f"{size}, {args.encoder_blocks} blocks"
        done = results["sizes"].setdefault(key, {})
        todo = [n for n in names if not (args.resume and n in done and not SECTIONS[n].resumes_partially)]
        run = SizeRun(
            size=size,
            device=device,
            threads=args.threads,
            repeats=args.repeats or DEFAULT_REPEATS[size],
            options=args,
            stored=done if args.resume else {},
            log=log,
        )
        for name in todo:
            log(f"{key}: {name} (load {load_average()})")
            start = time.perf_counter()
            load_before = load_average()
            result = SECTIONS[name].measure(run)
            result["load"] = f"{load_before[0]:.1f} → {load_average()[0]:.1f}"
            result["wall_s"] = time.perf_counter() - start
            done[name] = result
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(results, indent=2))
            log(f"{key}: {name} done in {result['wall_s']:.0f} s")
    print(markdown_report(results))
    return results


if __name__ == "__main__":
    main()
