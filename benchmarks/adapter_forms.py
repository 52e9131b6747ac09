"""One run of the adapter-form ablation of `parallel_text` (docs/method.md): `examples/train.py` with one variant.

    python benchmarks/adapter_forms.py --variant reference_zero_init --seed 1 --output_dir runs/ref0-s1 [train flags]

Variants: `adaptformer` (this package's first form), `reference` (the authors' form), `reference_no_attention`
(without the attention-side adapter), `reference_zero_init` (zero-initialised up-projections). The run's
`eval_results.json` holds the held-out mIoU, the trainable parameters and the training time.
"""

import argparse
import functools
import importlib.util
import sys
from pathlib import Path

from samptx_hf.training import modeling

VARIANTS = {
    "adaptformer": ("adaptformer", {}),
    "reference": ("reference", {}),
    "reference_no_attention": ("reference", {"attention_adapter": False, "pad_windows_before_norm": False}),
    "reference_zero_init": ("reference", {"init_weights": True}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True, choices=list(VARIANTS))
    args, train_argv = parser.parse_known_args()
    form, options = VARIANTS[args.variant]
    modeling.peft_config_for = functools.partial(modeling.peft_config_for, **options)
    spec = importlib.util.spec_from_file_location("train", Path(__file__).parents[1] / "examples" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.main([*train_argv, "--adapter_form", form])


if __name__ == "__main__":
    sys.exit(main())
