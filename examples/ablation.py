"""Train every method on the same data, budget and seed, and write the paper-style table.

    python examples/ablation.py                       # the synthetic task, tiny random base (minutes on a CPU)
    python examples/ablation.py --methods parallel_text,decoder_only --max_steps 2000 --output_dir outputs/abl
    accelerate launch examples/ablation.py --dataset coco --train_annotations ... --fraction 0.001953125 \\
        --sam_model_name_or_path facebook/sam-vit-base --text_model_name_or_path openai/clip-vit-base-patch32

Every flag of examples/train.py applies to all methods (`--method` is replaced by `--methods`). Writes
`<output_dir>/ablation.md` and `<output_dir>/ablation.json`; each method's run is in `<output_dir>/<method>/`.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState
from transformers.utils import logging

from samptx_hf.methods import Method, parse_method
from samptx_hf.training import (
    DataArguments,
    ModelArguments,
    SamPtxTrainingArguments,
    TrainingArgumentParser,
    train,
)


@dataclass
class AblationArguments:
    methods: str = field(
        default=",".join(m.value for m in Method), metadata={"help": "Comma-separated methods to compare."}
    )


def markdown_table(rows: list[dict]) -> str:
    lines = ["| method | trainable parameters | held-out mIoU |", "|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['method']} | {row['trainable_parameters']:,} | {100 * row['mean_iou']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    logging.disable_progress_bar()
    parser = TrainingArgumentParser(
        (AblationArguments, ModelArguments, DataArguments, SamPtxTrainingArguments), description=__doc__
    )
    ablation, model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    methods = [parse_method(name.strip()).value for name in ablation.methods.split(",") if name.strip()]
    if not methods:
        raise ValueError(f"--methods {ablation.methods!r} names no method")
    output_dir = Path(training_args.output_dir)
    rows = []
    for method in methods:
        results = train(
            dataclasses.replace(model_args, method=method),
            data_args,
            dataclasses.replace(training_args, output_dir=str(output_dir / method)),
        )
        rows.append({key: results[key] for key in ("method", "trainable_parameters", "mean_iou", "num_processes")})
    table = markdown_table(rows)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "ablation.md").write_text(table + "\n")
    (output_dir / "ablation.json").write_text(json.dumps(rows, indent=2))
    PartialState().print(table)
    return rows


if __name__ == "__main__":
    main()
