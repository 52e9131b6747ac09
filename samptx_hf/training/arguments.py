"""Command-line arguments of `examples/train.py`, as `HfArgumentParser` dataclasses, and their parser.

Each dataclass checks its values in `__post_init__` and raises `ValueError("argument --flag: what was expected")`;
[`TrainingArgumentParser`] reports those, and every other usage error, as one line, the way `argparse` reports an
invalid choice.
"""

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from transformers import HfArgumentParser

from ..data.collator import PROMPT_MODES
from ..data.sources import DATASETS, GENERATED
from ..hub import locate_pretrained
from ..modeling.methods import DEFAULT_ADAPTER_FORM, AdapterForm, Method, parse_adapter_layers
from ..modeling.tiny import TINY, TINY_RANDOM
from ..pretrained import resolve_component
from ..processing.class_prompts import DEFAULT_PROMPT_TEMPLATE, check_prompt_template
from ..tuners.parallel_text.config import check_layers_to_transform

TRACKERS = ("none", "all", "tensorboard", "trackio", "wandb", "comet_ml", "mlflow", "aim", "clearml", "dvclive")
RESIZE_MODES = ("longest", "square")
# Optimiser steps when neither --max_steps nor --num_train_epochs is given. A text-only run needs more: at 500 steps
# it answered 0 of 160 held-out absent (image, class) pairs empty, at 4000 99 % (docs/ablation.md).
DEFAULT_MAX_STEPS = {"text": 4000}
DEFAULT_MAX_STEPS_OTHER_MODES = 500
# The adaptformer form's size in training (the reference form has its own; a flag given replaces its value).
ADAPTFORMER_TRAINING_SIZES = {"adapter_r": 16, "adapter_scaling": 0.5, "adapter_activation": "relu"}
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


@dataclass
class ModelArguments:
    method: str = field(
        default=Method.PARALLEL_TEXT.value,
        metadata={"help": "What is trained and where text enters SAM.", "choices": [m.value for m in Method]},
    )
    sam_model_name_or_path: str = field(
        default=TINY,
        metadata={
            "help": "Frozen SAM or SAM 2 checkpoint (Hub id or directory), e.g. facebook/sam-vit-base, "
            "facebook/sam2.1-hiera-tiny; 'tiny' is the built-in pretrained tiny SAM (samptx_hf:tiny-sam, the default "
            "run), samptx_hf:tiny-sam2 the built-in pretrained tiny SAM 2; 'tiny-random' builds a tiny random SAM "
            "(fast tests)."
        },
    )
    text_model_name_or_path: str = field(
        default=TINY,
        metadata={
            "help": "Frozen CLIP checkpoint with its tokenizer, e.g. openai/clip-vit-base-patch32; 'tiny' is the "
            "built-in tiny CLIP text encoder (samptx_hf:tiny-clip); 'tiny-random' builds one for the run."
        },
    )
    prompt_template: str = field(default=DEFAULT_PROMPT_TEMPLATE, metadata={"help": "Class name → prompt; one '{}'."})
    subtract_empty_prompt: bool = field(
        default=False,
        metadata={
            "help": "Subtract the embedding of the empty class name (CLIP Surgery's 85-template ensemble) before "
            "normalising: the authors' text embedding, with --prompt_template '{}' and openai/clip-vit-base-patch16."
        },
    )
    loss_type: str = field(
        default="auto",
        metadata={
            "help": "sam: focal 20 : dice 1 + IoU MSE (the paper's); bce_dice: BCE + dice + IoU MSE; auto: bce_dice "
            "for the tiny SAMs (the loss the built-in one was pretrained with; SAM's focal-dominated loss does not "
            "lift a random decoder out of the all-background solution), sam otherwise.",
            "choices": ["auto", "sam", "bce_dice"],
        },
    )
    adapter_form: str = field(
        default=DEFAULT_ADAPTER_FORM.value,
        metadata={
            "help": "Form of the parallel_text / parallel_adapter adapters: 'adaptformer' (text after the "
            "down-projection, zero-initialised, MLP side only) or 'reference' (the authors' code: text on the branch "
            "input, bottleneck 0.25 x width, scale 0.5, GELU, PyTorch init, a text-free adapter after each "
            "attention, prompt encoder trained; --adapter_r, --adapter_scaling or --adapter_activation given "
            "replaces that value of the form).",
            "choices": [form.value for form in AdapterForm],
        },
    )
    adapter_r: int | None = field(
        default=None,
        metadata={"help": f"Bottleneck width of the adapters (default: {ADAPTFORMER_TRAINING_SIZES['adapter_r']}; the "
                  "reference form's is 0.25 x the block width)."},
    )  # fmt: skip
    adapter_scaling: float | None = field(
        default=None,
        metadata={"help": f"Scale of the adapter branch output (default: "
                  f"{ADAPTFORMER_TRAINING_SIZES['adapter_scaling']}, the reference form's too)."},
    )  # fmt: skip
    adapter_dropout: float = field(default=0.0, metadata={"help": "Dropout in the adapter bottleneck."})
    adapter_activation: str | None = field(
        default=None,
        metadata={"help": f"Adapter non-linearity, relu, gelu, ... (default: "
                  f"{ADAPTFORMER_TRAINING_SIZES['adapter_activation']}; the reference form's is gelu)."},
    )  # fmt: skip
    adapter_layers: str = field(
        default="all",
        metadata={
            "help": "Image-encoder blocks that get adapters: 'all', 'last:K' (the last K blocks; several classes of "
            "one image then share the blocks before them), or indices such as '8,9,10,11'."
        },
    )
    # `adapter_layers` parsed and checked once, by `__post_init__`: the `ParallelTextConfig.layers_to_transform`.
    layers_to_transform: list[int] | None = field(init=False, default=None, repr=False)
    tiny_image_size: int | None = field(default=None, metadata={"help": "Input size of the 'tiny-random' SAM (128)."})
    tiny_hidden_size: int | None = field(
        default=None, metadata={"help": "Width of the 'tiny-random' SAM image encoder (64)."}
    )
    tiny_num_layers: int | None = field(
        default=None, metadata={"help": "Blocks in the 'tiny-random' SAM image encoder (4)."}
    )

    def __post_init__(self) -> None:
        _require_finite(self)
        tiny_sizes = ("tiny_image_size", "tiny_hidden_size", "tiny_num_layers")
        for name in tiny_sizes:
            if getattr(self, name) is not None:
                _require(
                    self.sam_model_name_or_path == TINY_RANDOM,
                    name,
                    f"only shapes the 'tiny-random' SAM, but --sam_model_name_or_path is "
                    f"{self.sam_model_name_or_path!r}",
                )
        for name in ("adapter_r", *tiny_sizes):
            value = getattr(self, name)
            _require(value is None or value >= 1, name, f"expected a positive integer, got {value}")
        if self.adapter_form != AdapterForm.REFERENCE.value:  # the reference form keeps its own unless given
            for name, default in ADAPTFORMER_TRAINING_SIZES.items():
                if getattr(self, name) is None:
                    setattr(self, name, default)
        try:
            self.layers_to_transform = parse_adapter_layers(self.adapter_layers)
            check_layers_to_transform(self.layers_to_transform)
        except ValueError as error:
            raise ValueError(f"argument --adapter_layers: {error}") from None
        _require(0 <= self.adapter_dropout < 1, "adapter_dropout", f"expected 0 <= p < 1, got {self.adapter_dropout}")
        try:
            check_prompt_template(self.prompt_template)
        except ValueError as error:
            raise ValueError(f"argument --prompt_template: {error}") from None
        for name in ("sam_model_name_or_path", "text_model_name_or_path"):
            if getattr(self, name) not in (TINY, TINY_RANDOM):
                try:
                    locate_pretrained(resolve_component(getattr(self, name)), what=f"argument --{name}:")
                except (FileNotFoundError, ValueError) as error:
                    raise ValueError(str(error)) from None


@dataclass
class DataArguments:
    dataset: str = field(default="synthetic", metadata={"help": "Data source.", "choices": list(DATASETS)})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "cod10k: the COD10K folder (Train/, Test/); camo: CAMO-V.1.0-CVIU2019 (Images/, GT/); camouflage: "
            "a folder holding COD10K-v3, CAMO-V.1.0-CVIU2019 and CHAMELEON (trains on COD10K + CAMO, evaluates on the "
            "three; rows have a source column); ade20k: ADEChallengeData2016 or its parent; "
            "folder: a root with train/ and test/, each a folder of <class>/images + <class>/masks (or images/ + "
            "masks/ with --classes_file); hf: a saved dataset directory or Hub id."
        },
    )
    classes_file: str | None = field(
        default=None,
        metadata={
            "help": "folder: a JSON {stem: class} or CSV image,class_name file inside train/ and test/, for the flat "
            "layout images/ + masks/ (e.g. classes.json)."
        },
    )
    train_annotations: str | None = field(default=None, metadata={"help": "coco: instances JSON of the train set."})
    train_images: str | None = field(default=None, metadata={"help": "coco: image folder of the train set."})
    eval_annotations: str | None = field(default=None, metadata={"help": "coco: instances JSON of the eval set."})
    eval_images: str | None = field(default=None, metadata={"help": "coco: image folder of the eval set."})
    train_list: str | None = field(
        default=None,
        metadata={
            "help": "A low-data list of the training images, one a line, its path first (UniMatch's "
            "splits/coco/1_512/labeled.txt, UniMatch-V2's splits/ade20k/1_64/labeled.txt): only those images are "
            "read, matched by file name; every dataset but the synthetic ones."
        },
    )
    eval_list: str | None = field(
        default=None, metadata={"help": "The same, of the held-out images (e.g. splits/coco/val.txt)."}
    )
    hf_train_split: str = field(default="train", metadata={"help": "hf: split used for training."})
    hf_eval_split: str = field(default="test", metadata={"help": "hf: split used for evaluation."})
    fraction: float = field(
        default=1.0,
        metadata={
            "help": "A seeded random share of the training images (of the listed ones with --train_list), drawn "
            "before any is read, e.g. 0.001953125 (1/512); the papers' subsets are the lists of --train_list."
        },
    )
    eval_fraction: float = field(default=1.0, metadata={"help": "The same, of the evaluation images."})
    num_train_samples: int = field(default=2000, metadata={"help": "synthetic*: training samples."})
    num_eval_samples: int = field(default=256, metadata={"help": "synthetic*: held-out samples."})
    num_points: int = field(
        default=1,
        metadata={
            "help": "Positive points per sample: drawn uniformly in the target in training; in evaluation the "
            "interior point farthest from the boundary, then K-1 drawn in the target (seeded)."
        },
    )
    resize: str = field(
        default="longest",
        metadata={
            "help": "longest: SAM's processor (longest side to the input size, padded); square: the input size "
            "without keeping the aspect ratio (the authors'; SAM 2 always). Training and the run's evaluation.",
            "choices": list(RESIZE_MODES),
        },
    )
    augment: bool = field(
        default=False,
        metadata={
            "help": "Augment training images and masks alike (kornia): flips, random resized crop 0.7-1.0, affine "
            "±30°/0.8-1.2/shear ±10°, colour jitter 0.4/0.4/0.4/0.1, blur, 64-px cutout, each with probability 0.5."
        },
    )
    data_seed: int = field(default=0, metadata={"help": "Seed of the synthetic data and the subsets."})
    prompt_mode: str = field(
        default="point",
        metadata={
            "help": "point: every sample has its point(s) and targets the object under them; text: the class name "
            "alone, targeting every instance of the class; mixed: each sample keeps its point with probability "
            "--point_probability; paired: each sample is asked both ways in one decoder pass (SAM's point batch, "
            "one image-encoder pass). Training and the final evaluation use it (paired: text only, and the point "
            "task as point_mean_iou).",
            "choices": list(PROMPT_MODES),
        },
    )
    point_probability: float | None = field(
        default=None, metadata={"help": "mixed: probability that a sample keeps its point (0.5 when not given)."}
    )
    absent_class_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Share of the samples that name a class of the dataset's vocabulary absent from the image (empty "
            "target, presence 0). Above 0, the model gets a presence head (every method) and learns to answer 'none'."
        },
    )

    def __post_init__(self) -> None:
        _require_finite(self)
        needs = {
            "cod10k": ["data_dir"],
            "camo": ["data_dir"],
            "chameleon": ["data_dir"],
            "camouflage": ["data_dir"],
            "ade20k": ["data_dir"],
            "folder": ["data_dir"],
            "hf": ["data_dir"],
            "coco": ["train_annotations", "train_images", "eval_annotations", "eval_images"],
        }.get(self.dataset, [])
        for name in needs:
            _require(getattr(self, name), name, f"--dataset {self.dataset} needs it")
        local = [name for name in needs if not (self.dataset == "hf" and name == "data_dir")]
        for name in local:
            _require(os.path.exists(getattr(self, name)), name, f"{getattr(self, name)!r} does not exist")
        for name in ("train_list", "eval_list"):
            if getattr(self, name) is not None:
                _require(
                    self.dataset not in GENERATED,
                    name,
                    f"--dataset {self.dataset} generates its samples; a list names the images of a dataset on disk",
                )
                _require(os.path.isfile(getattr(self, name)), name, f"{getattr(self, name)!r} is not a file")
        if self.classes_file is not None:
            _require(self.dataset == "folder", "classes_file", f"only for --dataset folder, not {self.dataset}")
        for name in ("fraction", "eval_fraction"):
            _require(0 < getattr(self, name) <= 1, name, f"expected 0 < fraction <= 1, got {getattr(self, name)}")
        for name in ("num_train_samples", "num_eval_samples", "num_points"):
            _require(getattr(self, name) >= 1, name, f"expected a positive integer, got {getattr(self, name)}")
        if self.point_probability is not None:
            _require(
                self.prompt_mode == "mixed",
                "point_probability",
                f"only with --prompt_mode mixed, not {self.prompt_mode}",
            )
            _require(
                0 <= self.point_probability <= 1,
                "point_probability",
                f"expected 0 <= p <= 1, got {self.point_probability}",
            )
        _require(
            0 <= self.absent_class_fraction < 1,
            "absent_class_fraction",
            f"expected 0 <= F < 1, got {self.absent_class_fraction}",
        )

    @property
    def presence_head(self) -> bool:
        """Whether the run's model answers presence: only absent classes can teach it to say 'none'."""
        return self.absent_class_fraction > 0

    def collator_prompts(self) -> dict[str, Any]:
        """The prompt options of the run's `SamPtxDataCollator` (training and final evaluation alike)."""
        return {
            "prompt_mode": self.prompt_mode,
            "point_probability": 0.5 if self.point_probability is None else self.point_probability,
            "absent_class_fraction": self.absent_class_fraction,
        }


@dataclass
class SamPtxTrainingArguments:
    output_dir: str = field(
        default="outputs/sam-ptx-synthetic",
        metadata={"help": "Where everything is written; must be empty unless resuming or --overwrite_output_dir."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into a non-empty output_dir: its adapter files are replaced and its checkpoints removed."
        },
    )
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Peak learning rate of AdamW, for every group without its own rate below."}
    )
    adapter_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Rate of the adapters and the text projections (the method's other new layers)."},
    )
    mask_decoder_learning_rate: float | None = field(
        default=None, metadata={"help": "Rate of SAM's mask decoder (and the presence head)."}
    )
    prompt_encoder_learning_rate: float | None = field(
        default=None, metadata={"help": "Rate of SAM's prompt encoder, where the method trains it."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (every group)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Schedule.", "choices": list(SCHEDULERS)})
    warmup_steps: int = field(default=50, metadata={"help": "Linear warm-up, in optimiser steps."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Batch size per process."})
    per_device_eval_batch_size: int = field(default=16, metadata={"help": "Evaluation batch size per process."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimiser step."})
    max_steps: int | None = field(
        default=None,
        metadata={
            "help": "Optimiser steps. Not given (or <= 0): --num_train_epochs when given, else 500, and 4000 with "
            "--prompt_mode text (a text-only model needs them to learn to answer absent classes)."
        },
    )
    num_train_epochs: float | None = field(
        default=None, metadata={"help": "Epochs over the training samples, when --max_steps is not given."}
    )
    eval_steps: int = field(default=250, metadata={"help": "Evaluate every N optimiser steps (and at the end)."})
    load_best_model_at_end: bool = field(
        default=False,
        metadata={
            "help": "Keep the adapter of the evaluation (every --eval_steps, and the end) with the best held-out "
            "mIoU, as the authors select their checkpoint; the saved adapter and eval_results.json are that one."
        },
    )
    auto_find_batch_size: bool = field(
        default=False,
        metadata={
            "help": "Lower --per_device_train_batch_size until a training step fits in the device's memory "
            "(accelerate's find_executable_batch_size: x 0.9 after each out-of-memory error)."
        },
    )
    logging_steps: int = field(
        default=10,
        metadata={
            "help": "Log loss and lr every N optimiser steps (to the trackers and loss_history; also printed when "
            "there is no progress bar on a terminal)."
        },
    )
    mixed_precision: str | None = field(
        default=None,
        metadata={
            "help": "Accelerate mixed precision; by default the launcher's choice (accelerate launch "
            "--mixed_precision, accelerate config), else no. The run's eval_results.json records the one used.",
            "choices": ["no", "fp16", "bf16"],
        },
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute ViT blocks in backward."})
    click_rounds: int = field(
        default=1,
        metadata={
            "help": "Prompt rounds per sample: each after the first adds a simulated click in the largest error region "
            "and feeds the previous mask back, as SAM is trained (one image-encoder pass serves all rounds)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of initialisation, shuffling and points."})
    checkpointing_steps: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N steps."})
    checkpoints_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint directory, or 'latest' for the newest in output_dir."}
    )
    allow_changed_config_on_resume: bool = field(
        default=False,
        metadata={
            "help": "Resume a checkpoint although the run configuration saved with it differs from these flags "
            "(the differences are printed)."
        },
    )
    report_to: str = field(
        default="none", metadata={"help": "Accelerate tracker for the logs.", "choices": list(TRACKERS)}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the trained adapter to the Hub at the end."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Repository id for --push_to_hub."})
    dataloader_num_workers: int | None = field(
        default=None,
        metadata={
            "help": "DataLoader worker processes. Not given: 0 on the CPU (workers would take the cores the model "
            "runs on), on a GPU min(8, CPU cores / processes on the machine)."
        },
    )
    dataloader_pin_memory: bool = field(default=True, metadata={"help": "Pinned host memory for the batches (GPU)."})
    dataloader_persistent_workers: bool = field(
        default=True, metadata={"help": "Keep the training DataLoader's workers from one epoch to the next."}
    )
    disable_tqdm: bool = field(default=False, metadata={"help": "No progress bar."})
    semantic_eval: bool = field(
        default=True,
        metadata={
            "help": "--prompt_mode text: also score semantic mIoU at the end, one text-only pass per held-out image "
            "and class of the vocabulary (for ADE20K's 150 classes that is 150 passes an image: set false)."
        },
    )

    def __post_init__(self) -> None:
        _require_finite(self)
        positive = ("learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size", "click_rounds")
        for name in (*positive, "gradient_accumulation_steps", "eval_steps", "logging_steps", "checkpointing_steps"):
            _require(getattr(self, name) > 0, name, f"must be positive, got {getattr(self, name)}")
        for name in ("adapter_learning_rate", "mask_decoder_learning_rate", "prompt_encoder_learning_rate"):
            value = getattr(self, name)
            _require(value is None or value > 0, name, f"must be positive, got {value}")
        if self.max_steps is not None and self.max_steps <= 0:
            self.max_steps = None  # transformers' -1: the epochs decide
        if self.num_train_epochs is not None:
            _require(self.num_train_epochs > 0, "num_train_epochs", f"must be positive, got {self.num_train_epochs}")
        for name in ("warmup_steps", "weight_decay", "dataloader_num_workers"):
            value = getattr(self, name)
            _require(value is None or value >= 0, name, f"must be >= 0, got {value}")
        _require(
            self.checkpoints_total_limit >= 1,
            "checkpoints_total_limit",
            f"must be at least 1, got {self.checkpoints_total_limit}",
        )
        _require(
            not self.push_to_hub or self.hub_model_id, "push_to_hub", "needs --hub_model_id (e.g. your-name/sam-ptx)"
        )
        _require(not Path(self.output_dir).is_file(), "output_dir", f"{self.output_dir!r} is a file, expected a folder")
        if self.report_to not in ("none", "all"):
            from accelerate.tracking import get_available_trackers

            available = sorted(str(getattr(tracker, "value", tracker)) for tracker in get_available_trackers())
            _require(
                self.report_to in available,
                "report_to",
                f"{self.report_to} is not installed (pip install {self.report_to}); installed trackers: "
                f"{available or 'none'}",
            )


def _require_finite(arguments: Any) -> None:
    """Refuse a float field that is NaN or infinite (`--learning_rate inf` would train to NaN without a word)."""
    for item in fields(arguments):
        value = getattr(arguments, item.name, None)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"argument --{item.name}: expected a finite number, got {value}")


def _require(condition: Any, flag: str, expected: str) -> None:
    """`ValueError("argument --flag: expected")` unless `condition`: the form `argparse` gives its own errors."""
    if not condition:
        raise ValueError(f"argument --{flag}: {expected}")


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class TrainingArgumentParser(HfArgumentParser):
    """`HfArgumentParser` whose errors, including the dataclasses' `ValueError`s, are one line and exit status 2.

    A first argument ending in `.yaml`, `.yml` or `.json` is a config file of flags (`{flag: value}`, as
    `HfArgumentParser.parse_yaml_file` reads one); the flags after it override the file's.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def config_file_flags(self, path: str) -> list[str]:
        """The flags a config file sets, as command-line arguments (`--name=value`); `ValueError` naming the file
        on a file that is not a mapping of known flags."""
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ValueError(f"config file {path!r} cannot be read ({error.strerror or error})") from None
        try:
            import yaml

            values = yaml.safe_load(text) if not path.endswith(".json") else json.loads(text)
        except Exception as error:  # yaml.YAMLError, json.JSONDecodeError: one line naming the file
            raise ValueError(f"config file {path!r} is not valid {Path(path).suffix[1:]}: {error}") from None
        if values is None:
            return []
        if not isinstance(values, dict):
            raise ValueError(f"config file {path!r} holds a {type(values).__name__}, expected a mapping flag: value")
        known = {action.dest for action in self._actions}
        unknown = sorted(str(key) for key in values if key not in known)
        if unknown:
            raise ValueError(f"config file {path!r} sets unknown flags {unknown} (see {self.prog} --help)")
        flags = []
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, list | dict):
                raise ValueError(f"config file {path!r}: {key} is a {type(value).__name__}, expected one value")
            flags.append(f"--{key}={str(value).lower() if isinstance(value, bool) else value}")
        return flags

    def parse_args_into_dataclasses(self, args: Sequence[str] | None = None, **kwargs: Any) -> tuple[Any, ...]:
        args = list(sys.argv[1:] if args is None else args)
        if args and args[0].endswith(CONFIG_SUFFIXES) and not args[0].startswith("-"):
            try:
                args = [*self.config_file_flags(args[0]), *args[1:]]
            except ValueError as error:
                self.error(str(error))
        try:
            *dataclasses, unknown = super().parse_args_into_dataclasses(
                args=args, return_remaining_strings=True, **kwargs
            )
        except ValueError as error:
            self.error(" ".join(str(error).split()))
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return tuple(dataclasses)
