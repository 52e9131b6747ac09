"""Train every method on the same data and budget, over several seeds, and write the paper-style table.

    python examples/ablation.py                       # the built-in task and tiny base, 3 seeds (minutes on a CPU)
    python examples/ablation.py --methods parallel_text,decoder_only --seeds 0 --output_dir outputs/abl
    accelerate launch examples/ablation.py --dataset coco --train_annotations ... --fraction 0.001953125 \\
        --sam_model_name_or_path facebook/sam-vit-base --text_model_name_or_path openai/clip-vit-base-patch32

Every flag of examples/train.py applies to all methods (`--method` is replaced by `--methods`, `--seed` by
`--seeds`). Writes `<output_dir>/ablation.md` and `<output_dir>/ablation.json`; each run is in
`<output_dir>/<method>/seed-<seed>/`. On a dataset that carries the answers of text-blind strategies (the built-in
task, `samptx_hf.data.TEXT_BLIND_STRATEGIES`), their scores are printed beside the methods: what a model that
ignores the class name can at best reach.
"""

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState
from transformers.utils import logging

from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.data import TEXT_BLIND_STRATEGIES, TEXT_ONLY_TEXT_BLIND_STRATEGIES
from samptx_hf.evaluation.evaluate_model import score_reference_masks
from samptx_hf.evaluation.interactive import evaluate_clicks
from samptx_hf.modeling.methods import Method, parse_method
from samptx_hf.training import (
    DataArguments,
    ModelArguments,
    SamPtxTrainingArguments,
    TrainingArgumentParser,
    train,
)
from samptx_hf.training.datasets import load_splits


@dataclass
class AblationArguments:
    methods: str = field(
        default=",".join(m.value for m in Method), metadata={"help": "Comma-separated methods to compare."}
    )
    seeds: str = field(default="0,1,2", metadata={"help": "Comma-separated training seeds (--seed of each run)."})
    clicks: int | None = field(
        default=None,
        metadata={"help": "Also run the interactive protocol with this many clicks on the held-out split (mIoU@k)."},
    )

    def __post_init__(self) -> None:
        self.method_list = [parse_method(name.strip()).value for name in self.methods.split(",") if name.strip()]
        if not self.method_list:
            raise ValueError(f"--methods {self.methods!r} names no method")
        try:
            self.seed_list = [int(seed) for seed in self.seeds.split(",") if seed.strip()]
        except ValueError:
            raise ValueError(f"--seeds {self.seeds!r}, expected comma-separated integers such as 0,1,2") from None
        if not self.seed_list or min(self.seed_list) < 0:
            raise ValueError(f"--seeds {self.seeds!r}, expected one or more non-negative integers")
        if self.clicks is not None and self.clicks < 1:
            raise ValueError(f"--clicks {self.clicks}, expected at least 1 click")


def _mean_std(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"


# Scores of runs with a presence answer (absent classes), shown beside the mIoU of present classes; a paired run's
# point task too.
PRESENCE_COLUMNS = {
    "presence_f1": "presence F1",
    "presence_mcc": "presence MCC",
    "semantic_mean_iou": "semantic mIoU",
    "point_mean_iou": "point task mIoU",
}


def markdown_table(rows: list[dict], references: dict[str, float]) -> str:
    """Methods (mean ± sample std over seeds, each seed, and the margin over the best text-blind strategy; with
    absent classes, the presence and semantic scores), then the text-blind strategies themselves."""
    seeds = rows[0]["seeds"]
    best_blind = max(references.values()) if references else None
    presence = [key for key in PRESENCE_COLUMNS if key in rows[0]]
    columns = ["method", "trainable parameters", "held-out mIoU", *(f"seed {s}" for s in seeds)]
    if best_blind is not None:
        columns.append("vs. best text-blind")
    columns += [PRESENCE_COLUMNS[key] for key in presence]
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    for row in rows:
        cells = [row["method"], f"{row['trainable_parameters']:,}", _mean_std(row["mean_iou"])]
        cells += [f"{100 * value:.2f}" for value in row["mean_iou"]]
        if best_blind is not None:
            cells.append(f"{100 * (statistics.fmean(row['mean_iou']) - best_blind):+.2f}")
        cells += [_mean_std(row[key]) for key in presence]
        lines.append("| " + " | ".join(cells) + " |")
    for name, value in references.items():
        cells = [f"*text-blind: {name}*", "—", f"{100 * value:.2f}", *([""] * (len(columns) - 3))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def interactive_table(rows: list[dict]) -> str:
    """mIoU after 1, 3, 5 clicks (those run) and NoC@85/90 per method, mean ± std over seeds."""
    clicks = rows[0]["clicks"]
    columns = [f"miou@{k}" for k in (1, 3, 5) if f"miou@{k}" in clicks] + ["noc@85", "noc@90"]
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = [_mean_std(row["clicks"][name]) if name.startswith("miou") else _noc(row["clicks"][name])
                 for name in columns]  # fmt: skip
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _noc(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def main(argv: list[str] | None = None) -> dict:
    logging.disable_progress_bar()
    parser = TrainingArgumentParser(
        (AblationArguments, ModelArguments, DataArguments, SamPtxTrainingArguments), description=__doc__
    )
    ablation, model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    output_dir = Path(training_args.output_dir)

    _, held_out = load_splits(data_args)
    # Without a point the target is every instance of the class (`class_mask`), and a text-blind model answers every
    # name alike; mixed runs are scored as the text-only protocol is the harder one.
    text_only = data_args.prompt_mode != "point" and "class_mask" in held_out.column_names
    blind, target_column = (
        (TEXT_ONLY_TEXT_BLIND_STRATEGIES, "class_mask") if text_only else (TEXT_BLIND_STRATEGIES, "mask")
    )
    strategies = {name: column for name, column in blind.items() if column in held_out.column_names}
    references = score_reference_masks(held_out, strategies, target_column) if strategies else {}

    rows = []
    for method in ablation.method_list:
        runs = [
            train(
                dataclasses.replace(model_args, method=method),
                data_args,
                dataclasses.replace(training_args, seed=seed, output_dir=str(output_dir / method / f"seed-{seed}")),
            )
            for seed in ablation.seed_list
        ]
        clicks = {}
        if ablation.clicks is not None:
            for run_seed in ablation.seed_list:
                run_dir = output_dir / method / f"seed-{run_seed}"
                model = SamPtxForTextSegmentation.from_pretrained(run_dir)
                for name, value in evaluate_clicks(model, held_out, ablation.clicks).items():
                    clicks.setdefault(name, []).append(value)
        rows.append(
            {
                "method": method,
                "clicks": clicks,
                "trainable_parameters": runs[0]["trainable_parameters"],
                "seeds": ablation.seed_list,
                "mean_iou": [run["mean_iou"] for run in runs],
                **{key: [run[key] for run in runs] for key in PRESENCE_COLUMNS if key in runs[0]},
                "train_seconds": [round(run["train_seconds"], 1) for run in runs],
                "num_processes": runs[0]["num_processes"],
            }
        )
    table = markdown_table(rows, references)
    if ablation.clicks is not None:
        table += "\n\nInteractive protocol (held-out split, simulated clicks):\n\n" + interactive_table(rows)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "ablation.md").write_text(table + "\n")
    result = {"methods": rows, "text_blind": references, "num_eval_samples": len(held_out)}
    (output_dir / "ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    PartialState().print(table)
    return result


if __name__ == "__main__":
    main()
