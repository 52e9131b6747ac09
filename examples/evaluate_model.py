"""Evaluate a trained SAM-PTx model on the held-out built-in task (or any `samptx_hf.data` dataset).

    python examples/evaluate_model.py outputs/sam-ptx-synthetic            # adapter folder written by train.py
    python examples/evaluate_model.py your-name/sam-ptx-synthetic --num_samples 512

Writes `eval_results.json` and `eval_results.md` into `--output_dir` and prints the tables. For the other datasets
swap the loader (e.g. `load_cod10k("COD10K-v3", "test")`) or use `samptx eval --dataset ...`.
"""

import argparse

from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.data import make_parts_dataset
from samptx_hf.evaluation.evaluate_model import evaluate_model, format_eval_results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="adapter folder or Hub id (or a full saved model)")
    parser.add_argument("--num_samples", type=int, default=256, help="held-out synthetic samples")
    parser.add_argument("--seed", type=int, default=1, help="seed of the held-out split (train.py uses data seed + 1)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output_dir", default="eval")
    args = parser.parse_args(argv)

    model = SamPtxForTextSegmentation.from_pretrained(args.model)
    dataset = make_parts_dataset(args.num_samples, seed=args.seed)
    results = evaluate_model(
        model, dataset, batch_size=args.batch_size, dataset_name="synthetic", output_dir=args.output_dir
    )
    print(format_eval_results(results))
    return results


if __name__ == "__main__":
    main()
