"""Command-line arguments of `examples/train.py`, as `HfArgumentParser` dataclasses."""

from dataclasses import dataclass, field

from ..methods import Method, parse_adapter_layers

DATASETS = ("synthetic", "cod10k", "coco", "ade20k", "folder", "hf")
TRACKERS = ("none", "all", "tensorboard", "trackio", "wandb", "comet_ml", "mlflow", "aim", "clearml", "dvclive")
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


@dataclass
class ModelArguments:
    method: str = field(
        default=Method.PARALLEL_TEXT.value,
        metadata={"help": "What is trained and where text enters SAM.", "choices": [m.value for m in Method]},
    )
    sam_model_name_or_path: str = field(
        default="tiny",
        metadata={
            "help": "Frozen SAM checkpoint (Hub id or directory), e.g. facebook/sam-vit-base; 'tiny' builds a tiny "
            "random SAM (the default run)."
        },
    )
    text_model_name_or_path: str = field(
        default="tiny",
        metadata={
            "help": "Frozen CLIP checkpoint with its tokenizer, e.g. openai/clip-vit-base-patch32; 'tiny' builds a "
            "tiny random CLIP text encoder."
        },
    )
    prompt_template: str = field(default="a photo of a {}", metadata={"help": "Class name → prompt; one '{}'."})
    loss_type: str = field(
        default="auto",
        metadata={
            "help": "sam: focal 20 : dice 1 + IoU MSE (the paper's); bce_dice: BCE + dice + IoU MSE; auto: bce_dice "
            "for the 'tiny' random SAM (SAM's focal-dominated loss does not lift a random decoder out of the "
            "all-background solution), sam otherwise.",
            "choices": ["auto", "sam", "bce_dice"],
        },
    )
    adapter_r: int = field(default=16, metadata={"help": "Bottleneck width of the adapters."})
    adapter_scaling: float = field(default=0.5, metadata={"help": "Scale of the adapter branch output."})
    adapter_dropout: float = field(default=0.0, metadata={"help": "Dropout in the adapter bottleneck."})
    adapter_activation: str = field(default="relu", metadata={"help": "Adapter non-linearity (relu, gelu, ...)."})
    adapter_layers: str = field(
        default="all",
        metadata={
            "help": "Image-encoder blocks that get adapters: 'all', 'last:K' (the last K blocks; several classes of "
            "one image then share the blocks before them), or indices such as '8,9,10,11'."
        },
    )
    tiny_image_size: int = field(default=128, metadata={"help": "Input size of the 'tiny' SAM."})
    tiny_hidden_size: int = field(default=64, metadata={"help": "Width of the 'tiny' SAM image encoder."})
    tiny_num_layers: int = field(default=4, metadata={"help": "Blocks in the 'tiny' SAM image encoder."})

    def __post_init__(self) -> None:
        try:
            parse_adapter_layers(self.adapter_layers)
        except ValueError as error:
            raise ValueError(f"--{error}") from None


@dataclass
class DataArguments:
    dataset: str = field(default="synthetic", metadata={"help": "Data source.", "choices": list(DATASETS)})
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "cod10k: the COD10K folder (Train/, Test/); ade20k: ADEChallengeData2016 or its parent; "
            "folder: a root with <class>/images and <class>/masks; hf: a saved dataset directory or Hub id."
        },
    )
    train_annotations: str | None = field(default=None, metadata={"help": "coco: instances JSON of the train set."})
    train_images: str | None = field(default=None, metadata={"help": "coco: image folder of the train set."})
    eval_annotations: str | None = field(default=None, metadata={"help": "coco: instances JSON of the eval set."})
    eval_images: str | None = field(default=None, metadata={"help": "coco: image folder of the eval set."})
    hf_train_split: str = field(default="train", metadata={"help": "hf: split used for training."})
    hf_eval_split: str = field(default="test", metadata={"help": "hf: split used for evaluation."})
    fraction: float = field(
        default=1.0, metadata={"help": "Low-data subset of the training images, e.g. 0.001953125 (1/512)."}
    )
    eval_fraction: float = field(default=1.0, metadata={"help": "Subset of the evaluation images."})
    num_train_samples: int = field(default=2000, metadata={"help": "synthetic: training samples."})
    num_eval_samples: int = field(default=256, metadata={"help": "synthetic: held-out samples."})
    num_points: int = field(default=1, metadata={"help": "Positive points per training sample."})
    data_seed: int = field(default=0, metadata={"help": "Seed of the synthetic data and the subsets."})


@dataclass
class SamPtxTrainingArguments:
    output_dir: str = field(default="outputs/sam-ptx-synthetic", metadata={"help": "Where everything is written."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate of AdamW."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Schedule.", "choices": list(SCHEDULERS)})
    warmup_steps: int = field(default=50, metadata={"help": "Linear warm-up, in optimiser steps."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Batch size per process."})
    per_device_eval_batch_size: int = field(default=16, metadata={"help": "Evaluation batch size per process."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimiser step."})
    max_steps: int = field(default=500, metadata={"help": "Optimiser steps; <= 0 uses num_train_epochs."})
    num_train_epochs: int = field(default=1, metadata={"help": "Epochs, when max_steps <= 0."})
    eval_steps: int = field(default=250, metadata={"help": "Evaluate every N optimiser steps (and at the end)."})
    logging_steps: int = field(default=10, metadata={"help": "Log loss and lr every N optimiser steps."})
    mixed_precision: str = field(
        default="no", metadata={"help": "Accelerate mixed precision.", "choices": ["no", "fp16", "bf16"]}
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute ViT blocks in backward."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation, shuffling and points."})
    checkpointing_steps: int = field(default=250, metadata={"help": "Save a resumable checkpoint every N steps."})
    checkpoints_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint directory, or 'latest' for the newest in output_dir."}
    )
    report_to: str = field(
        default="none", metadata={"help": "Accelerate tracker for the logs.", "choices": list(TRACKERS)}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the trained adapter to the Hub at the end."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Repository id for --push_to_hub."})
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    disable_tqdm: bool = field(default=False, metadata={"help": "No progress bar."})

    def __post_init__(self) -> None:
        positive = ("learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size")
        for name in (*positive, "gradient_accumulation_steps", "eval_steps", "logging_steps", "checkpointing_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError(
                f"--max_steps={self.max_steps} and --num_train_epochs={self.num_train_epochs}: one must be positive"
            )
        for name in ("warmup_steps", "weight_decay", "dataloader_num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.checkpoints_total_limit < 1:
            raise ValueError(f"--checkpoints_total_limit must be at least 1, got {self.checkpoints_total_limit}")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("--push_to_hub needs --hub_model_id (e.g. your-name/sam-ptx-cod10k)")
