"""Fine-tune SAM-PTx (or a baseline) with Accelerate.

With no arguments, trains SAM-PTx on the built-in synthetic task with a tiny random frozen SAM and CLIP, in a few
minutes on a CPU:

    python examples/train.py

On real data and weights, on one or many GPUs:

    accelerate launch examples/train.py --dataset cod10k --data_dir COD10K-v3 \\
        --sam_model_name_or_path facebook/sam-vit-base --text_model_name_or_path openai/clip-vit-base-patch32

Two CPU processes (note: `accelerate launch --cpu --num_processes 2` starts only one):

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 examples/train.py

`python examples/train.py --help` lists every option.
"""

from transformers import HfArgumentParser
from transformers.utils import logging

from samptx_hf.training import DataArguments, ModelArguments, SamPtxTrainingArguments, train


def main(argv: list[str] | None = None) -> dict:
    logging.disable_progress_bar()  # weight-loading bars; the training bar is tqdm's
    parser = HfArgumentParser((ModelArguments, DataArguments, SamPtxTrainingArguments), description=__doc__)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    results = train(model_args, data_args, training_args)
    if results is not None:
        print(f"Adapter saved to {training_args.output_dir}")
        print(f"Held-out mIoU ({results['method']}): {100 * results['mean_iou']:.2f}")
    return results


if __name__ == "__main__":
    main()
