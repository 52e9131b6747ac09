"""Masks of a trained model through PyTorch, its float32 ONNX export and its int8 export, on the built-in task.

Text only (the class name alone is the prompt) on held-out samples of the synthetic whole-or-part task: IoU of each
runtime's mask with the target, averaged over the samples, and how often int8 and float32 agree on presence.

    python examples/train.py --dataset synthetic --prompt_mode text --max_steps 400 --output_dir outputs/tiny-text
    python benchmarks/onnx_int8_quality.py --model outputs/tiny-text --num-images 64
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from samptx_hf import SamPtxForTextSegmentation, SamPtxPredictor
from samptx_hf.data.synthetic_parts import generate_parts_sample
from samptx_hf.onnx import OnnxPredictor
from samptx_hf.onnx.export import export_model
from samptx_hf.onnx.quantization import quantize_export


def iou(mask: np.ndarray, target: np.ndarray) -> float:
    union = np.logical_or(mask, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(mask, target).sum() / union)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained adapter repository (text-only training)")
    parser.add_argument("--num-images", type=int, default=64, help="held-out samples (default 64)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the held-out samples (training uses 0)")
    args = parser.parse_args()

    model = SamPtxForTextSegmentation.from_pretrained(args.model).eval()
    with tempfile.TemporaryDirectory() as workspace:
        float_dir, int8_dir = Path(workspace, "float32"), Path(workspace, "int8")
        export_model(model, float_dir)
        shutil.copytree(float_dir, int8_dir)
        quantize_export(int8_dir)
        sizes = {
            name: sum(path.stat().st_size for path in folder.glob("*.onnx"))
            for name, folder in (("float32", float_dir), ("int8", int8_dir))
        }
        predictors = {
            "pytorch": SamPtxPredictor(model),
            "onnx_float32": OnnxPredictor(float_dir),
            "onnx_int8": OnnxPredictor(int8_dir),
        }
        ious: dict[str, list[float]] = {name: [] for name in predictors}
        presence_agrees, pixels_apart = 0, []
        for index in range(args.num_images):
            sample = generate_parts_sample(index, seed=args.seed)
            target = sample.class_mask()
            results = {}
            for name, predictor in predictors.items():
                predictor.set_image(sample.image)
                results[name] = predictor.predict(sample.class_name)
                ious[name].append(iou(np.asarray(results[name].mask), target))
            float_result, int8_result = results["onnx_float32"], results["onnx_int8"]
            presence_agrees += (float_result.presence is None) or (
                (float_result.presence >= 0.5) == (int8_result.presence >= 0.5)
            )
            pixels_apart.append(float((float_result.mask != int8_result.mask).mean()))
    print(f"{args.num_images} held-out samples (seed {args.seed}), text only")
    print("| runtime | mean IoU | graphs |")
    print("|---|---|---|")
    for name, values in ious.items():
        size = sizes["int8" if name == "onnx_int8" else "float32"] / 2**20
        print(f"| {name} | {100 * np.mean(values):.2f} | {size:.2f} MiB |")
    apart = 100 * np.mean(pixels_apart)
    print(
        f"int8 vs float32: presence agrees on {presence_agrees}/{args.num_images}, masks {apart:.3f} % of pixels apart"
    )


if __name__ == "__main__":
    main()
