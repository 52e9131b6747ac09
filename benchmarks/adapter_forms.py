"""One run of the adapter-form ablation of `parallel_text` (docs/method.md): `examples/train.py` with one variant.

    python benchmarks/adapter_forms.py --variant reference --seed 1 --output_dir runs/point-reference-s1
    python benchmarks/adapter_forms.py --report runs   # the table of every runs/<mode>-<variant>-s<seed> folder

Variants: `adaptformer` (this package's first form), `reference` (the authors' form), `reference_no_attention`
(without the attention-side adapter), `reference_zero_init` (zero-initialised up-projections),
`adaptformer_text_input` (this project's form, the text entering the branch's input as in the authors'). The run's
`eval_results.json` holds the held-out mIoU, the trainable parameters and the training time.
"""

import argparse
import functools
import importlib.util
import json
import statistics
import sys
from pathlib import Path

from samptx_hf.training import modeling

VARIANTS = {
    "adaptformer": ("adaptformer", {}),
    "reference": ("reference", {}),
    "reference_no_attention": ("reference", {"attention_adapter": False, "pad_windows_before_norm": False}),
    "reference_zero_init": ("reference", {"init_weights": True}),
    # This project's form with the text entering the branch's input as the authors' does: the text path alone.
    "adaptformer_text_input": ("adaptformer", {"text_path": "input"}),
}


def report(runs: Path) -> str:
    """A markdown table (mode, variant: seeds, mean ± std mIoU, presence F1 of text-only runs, trainable parameters,
    seconds per step)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for results_file in sorted(runs.glob("*-s*/eval_results.json")):
        mode, variant = results_file.parent.name.rsplit("-s", 1)[0].split("-", 1)
        groups.setdefault((mode, variant), []).append(json.loads(results_file.read_text()))
    lines = [
        "| prompts | form | seeds | held-out mIoU | per seed | presence F1 | trainable parameters | s / step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (mode, variant), results in groups.items():
        ious = [100 * result["mean_iou"] for result in results]
        spread = f" ± {statistics.stdev(ious):.2f}" if len(ious) > 1 else ""
        per_step = statistics.mean(result["train_seconds"] / result["global_step"] for result in results)
        presence = [result["presence_f1"] for result in results if "presence_f1" in result]
        presence_f1 = f"{statistics.mean(presence):.3f}" if presence else "-"
        lines.append(
            f"| {mode} | {variant} | {len(ious)} | {statistics.mean(ious):.2f}{spread} | "
            f"{' / '.join(f'{iou:.2f}' for iou in ious)} | {presence_f1} | {results[0]['trainable_parameters']:,} | "
            f"{per_step:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=list(VARIANTS))
    parser.add_argument("--report", type=Path, help="print the table of the runs in this folder and stop")
    args, train_argv = parser.parse_known_args()
    if args.report is not None:
        print(report(args.report))
        return
    if args.variant is None:
        parser.error("--variant is required to train")
    form, options = VARIANTS[args.variant]
    modeling.peft_config_for = functools.partial(modeling.peft_config_for, **options)
    spec = importlib.util.spec_from_file_location("train", Path(__file__).parents[1] / "examples" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.main([*train_argv, "--adapter_form", form])


if __name__ == "__main__":
    sys.exit(main())
