"""Fine-tune SAM-PTx (or a baseline) with Accelerate.

With no arguments, trains SAM-PTx on the built-in task (the class name decides whether a point means a whole object
or its part) with the pretrained tiny SAM and tiny CLIP shipped with the package, in a minute or two on a CPU:

    python examples/train.py

On real data and weights, on one or many GPUs:

    accelerate launch examples/train.py --dataset cod10k --data_dir COD10K-v3 \\
        --sam_model_name_or_path facebook/sam-vit-base --text_model_name_or_path openai/clip-vit-base-patch32

Mixed precision is the launcher's choice unless `--mixed_precision` is given (the run's eval_results.json records it):

    accelerate launch --mixed_precision bf16 examples/train.py ...

Two CPU processes (note: `accelerate launch --cpu --num_processes 2` starts only one):

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 examples/train.py

A row of the paper's tables, from its config file (flags after the file override it; docs/reproducing.md):

    accelerate launch examples/train.py examples/configs/ade20k-1_64-parallel_text.yaml --output_dir outputs/ade

`python examples/train.py --help` lists every option.
"""

import os
import shlex
import sys
from pathlib import Path

from accelerate import PartialState
from transformers.utils import logging

from samptx_hf.training import (
    DataArguments,
    ModelArguments,
    NonFiniteLossError,
    SamPtxTrainingArguments,
    TrainingArgumentParser,
    list_checkpoints,
    train,
)


def resume_command(argv: list[str], output_dir: str) -> str:
    """What to run after an interruption: the same arguments, resuming the newest checkpoint of `output_dir`, or,
    before the first checkpoint, starting again over what the run wrote."""
    kept, index = [], 0
    while index < len(argv):
        argument, index = argv[index], index + 1
        if argument.split("=", 1)[0].replace("-", "_") in ("__resume_from_checkpoint", "__overwrite_output_dir"):
            if "=" not in argument and index < len(argv) and not argv[index].startswith("-"):
                index += 1  # its value
            continue
        kept.append(argument)
    has_checkpoint = bool(list_checkpoints(Path(output_dir) / "checkpoints"))
    extra = ["--resume_from_checkpoint", "latest"] if has_checkpoint else ["--overwrite_output_dir"]
    return shlex.join(["python", os.path.relpath(__file__), *kept, *extra])


def main(argv: list[str] | None = None) -> dict:
    logging.disable_progress_bar()  # weight-loading bars; the training bar is tqdm's
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrainingArgumentParser((ModelArguments, DataArguments, SamPtxTrainingArguments), description=__doc__)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)  # bad values: one line
    try:
        results = train(model_args, data_args, training_args)
    except (OSError, ValueError, NonFiniteLossError) as error:  # missing data, a refused output_dir, NaN, ...
        parser.exit(1, f"{parser.prog}: error: {' '.join(str(error).split())}\n")
    except KeyboardInterrupt:
        checkpoints = list_checkpoints(Path(training_args.output_dir) / "checkpoints")
        saved = f"the checkpoints in {checkpoints[0].parent} are intact" if checkpoints else "no checkpoint was saved"
        parser.exit(
            130, f"{parser.prog}: interrupted; {saved}; to go on: {resume_command(argv, training_args.output_dir)}\n"
        )
    PartialState().print(f"Adapter saved to {training_args.output_dir}")  # once, not once per process
    PartialState().print(f"Held-out mIoU ({results['method']}): {100 * results['mean_iou']:.2f}")
    presence = {"presence_f1": "presence F1", "presence_mcc": "presence MCC"}
    if any(key in results for key in presence):  # absent classes: the mIoU above is over the present ones
        summary = ", ".join(f"{label} {results[key]:.3f}" for key, label in presence.items() if key in results)
        if "semantic_mean_iou" in results:
            summary += f", semantic mIoU {100 * results['semantic_mean_iou']:.2f}"
        PartialState().print(f"Held-out {summary} ({results['prompt_mode']} prompts)")
    if "point_mean_iou" in results:  # a paired run: the mIoU above is text only
        PartialState().print(f"Held-out mIoU on the point task: {100 * results['point_mean_iou']:.2f}")
    return results


if __name__ == "__main__":
    main()
