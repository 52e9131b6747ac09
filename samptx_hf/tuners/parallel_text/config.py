"""Configuration of the Parallel-Text adapter."""

import copy
import enum
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from peft import PeftConfig
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.utils import cached_file


class SamPtxPeftType(str, enum.Enum):
    """PEFT method types owned by samptx_hf (peft's own `PeftType` enum is closed)."""

    PARALLEL_TEXT = "PARALLEL_TEXT"


# Every MLP of SAM's image encoder (ViT `layers`) or SAM 2's (Hiera `backbone.blocks`), and only those: the same
# MLP classes also sit in the mask decoder.
SAM_VISION_MLP_PATTERN = r".*vision_encoder\.(?:layers|backbone\.blocks)\.\d+\.mlp"
# The attention module of each image-encoder block (the same blocks): where `attention_adapter` puts its branch.
SAM_VISION_ATTENTION_PATTERN = r".*vision_encoder\.(?:layers|backbone\.blocks)\.\d+\.attn"


class TextPath(str, enum.Enum):
    """Where the text embedding `t` enters the MLP-side branch (`ParallelTextConfig.text_path`).

    - `bottleneck`: `down(h) + W_text·t` (text_dim → r, no bias), added after the down-projection.
    - `input`: `down(h + act(W_t·t + b))` (text_dim → block width, with bias), added to the branch's input, as the
      authors' code does.
    """

    BOTTLENECK = "bottleneck"
    INPUT = "input"


# `init_weights` value that leaves every adapter layer at PyTorch's default initialisation (`nn.Linear`'s own).
PYTORCH_INIT = "pytorch"


def check_layers_to_transform(layers: Any) -> None:
    """`ValueError` unless `layers` is None (every block), a block index, or a non-empty list naming each block once.

    The one check of an adapter placement: `ParallelTextConfig` runs it, and so does the training flag
    `--adapter_layers` when it is parsed.
    """
    if layers is None:
        return
    indices = [layers] if isinstance(layers, int) else layers
    if (
        not isinstance(indices, list | tuple)
        or not indices
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices)
    ):
        raise ValueError(
            "ParallelTextConfig.layers_to_transform must be a block index or a non-empty list of block indices, "
            f"got {layers!r}"
        )
    if len(set(indices)) != len(indices):
        raise ValueError(f"ParallelTextConfig.layers_to_transform={list(indices)!r} names a block twice")


@dataclass
class ParallelTextConfig(PeftConfig):
    """Configuration of [`ParallelTextModel`], the Parallel-Text adapter of SAM-PTx.

    A bottleneck branch runs beside each targeted MLP and reads the MLP's input `h`:

        out = mlp(h) + scaling * up(dropout(act(down(h) + text_proj(t))))            # text_path="bottleneck"
        out = mlp(h) + scaling * up(dropout(act(down(h + act(text_proj(t))))))       # text_path="input"

    where `t` is the class-prompt embedding of the sample, broadcast over its spatial tokens. With
    `attention_adapter`, a text-free branch also follows the attention of the same blocks, inside the window
    partition, with its own skip connection: `a = attn(...)`, then `a + scaling * (a + up(act(down(a))))`.

    Two forms are named presets (`samptx_hf.modeling.methods.peft_config_for(..., form=...)`): `adaptformer` (these
    defaults: text after the down-projection, zero-initialised up-projection, MLP side only) and `reference` (the
    authors' code: `text_path="input"`, `bottleneck_ratio=0.25`, `scaling=0.5`, GELU, `init_weights="pytorch"`,
    `attention_adapter=True`, `pad_windows_before_norm=True`, `modules_to_save=["mask_decoder", "prompt_encoder"]`).

    Args:
        r (`int`, defaults to 32):
            Bottleneck width of the adapter branch (unless `bottleneck_ratio` is set).
        bottleneck_ratio (`float`, *optional*):
            Bottleneck width as a fraction of each block's width, `int(width * ratio)` (the authors' 0.25: 192 at
            ViT-B); overrides `r`. On SAM 2 the width differs from one Hiera stage to the next, and so does the
            bottleneck.
        scaling (`float`, defaults to 0.1):
            Factor `s` on the branch output (AdaptFormer's default).
        dropout (`float`, defaults to 0.0):
            Dropout probability on the bottleneck activations.
        activation (`str`, defaults to `"relu"`):
            Bottleneck non-linearity, any key of `transformers.activations.ACT2FN` (`"relu"`, `"gelu"`, ...).
        use_text (`bool`, defaults to `True`):
            Add the projected text embedding inside the branch. `False` gives the plain Parallel-Adapter baseline.
        text_path (`str`, defaults to `"bottleneck"`):
            Where the text enters the MLP-side branch (see [`TextPath`]): `"bottleneck"` adds `W_text·t` (no bias)
            after the down-projection; `"input"` adds `act(W_t·t + b)` (text_dim → block width) to the branch's input.
        attention_adapter (`bool`, defaults to `False`):
            Also put a text-free branch after the attention of each adapted block (the authors' "Space" adapter),
            applied per window, with its own skip connection: the attention output becomes
            `a + scaling * (a + up(act(down(a))))`, so even a zero branch scales attention by `1 + scaling`. Same
            bottleneck, activation, scale and initialisation as the MLP side.
        pad_windows_before_norm (`bool`, defaults to `False`):
            Give the padding tokens of windowed attention the value `layer_norm1(0)` (its bias) instead of zero, as in
            a block that partitions into windows before its first layer norm (the authors' code; SAM and SAM 2
            normalise first, then pad with zeros). Changes only windows that need padding (ViT-B at 1024 px: a 64 × 64
            grid in 14 × 14 windows). Needs `attention_adapter` (the attention is where it is applied).
        text_dim (`int`, *optional*):
            Width of the text embeddings. Read from the model config (`text_config.projection_dim`) when the
            adapted model is a SAM-PTx model; required otherwise when `use_text=True`.
        target_modules (`str` or `list[str]`, defaults to every MLP of SAM's or SAM 2's image encoder):
            Module names (or one regex, full match) to wrap. Pass `peft.utils.constants.DUMMY_TARGET_MODULES`
            to wrap nothing and only train `modules_to_save` (the decoder-only baseline).
        exclude_modules (`str` or `list[str]`, *optional*):
            Module names (or one regex) to leave untouched.
        layers_to_transform (`int` or `list[int]`, *optional*):
            Adapt only these image-encoder blocks (peft's convention, as in LoRA), e.g. `[10, 11]`. Negative indices
            count from the end, `[-2, -1]` being the last two blocks whatever the model's depth; they are resolved
            against the model when the adapter is added, and the saved config holds the resolved indices. When the
            adapted blocks are the last ones, the blocks before them do not depend on the text, and
            `SamPtxForTextSegmentation` computes them once per image for all of its class prompts. Unlike LoRA,
            this also works with a regex `target_modules` (the default).
        layers_pattern (`str` or `list[str]`, *optional*):
            Name of the `nn.ModuleList` whose index `layers_to_transform` refers to (`"layers"` in SAM's image
            encoder, `"blocks"` in SAM 2's); by default the first numbered segment of a module name.
        modules_to_save (`list[str]`, defaults to `["mask_decoder"]`):
            Modules trained in full and saved with the adapter (SAM's mask decoder; the reference form adds
            `"prompt_encoder"`).
        init_weights (`bool` or `str`, defaults to `True`):
            `True`: start the up-projections at zero; without `attention_adapter` the adapted model then starts exactly
            equal to the base model. `"pytorch"`: PyTorch's default initialisation of every adapter layer (the
            authors'; the model does not start equal to SAM). `False`: the up-projections drawn from N(0, 0.02)
            (for tests).

    Saving: when the adapted model is a `SamPtxForTextSegmentation`, `save_pretrained` writes its `config.json`
    (which names the frozen SAM and CLIP) beside `adapter_config.json`. A plain `PeftModel.save_pretrained` folder
    then loads with `SamPtxForTextSegmentation.from_pretrained` and `AutoModel.from_pretrained` alone.
    """

    r: int = field(default=32, metadata={"help": "Bottleneck width of the adapter branch."})
    bottleneck_ratio: float | None = field(
        default=None,
        metadata={"help": "Bottleneck width as a fraction of the block width (overrides r), e.g. 0.25."},
    )
    scaling: float = field(default=0.1, metadata={"help": "Factor on the adapter branch output."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout probability on the bottleneck activations."})
    activation: str = field(default="relu", metadata={"help": "Bottleneck non-linearity (a key of ACT2FN)."})
    use_text: bool = field(
        default=True,
        metadata={"help": "Add the projected text embedding in the branch (False: Parallel-Adapter)."},
    )
    text_path: str = field(
        default=TextPath.BOTTLENECK.value,
        metadata={"help": "Where text enters the branch: 'bottleneck' (after down) or 'input' (act(W t + b) + h)."},
    )
    attention_adapter: bool = field(
        default=False,
        metadata={"help": "Also adapt the attention output of each block (text-free, with its own skip)."},
    )
    pad_windows_before_norm: bool = field(
        default=False,
        metadata={"help": "Pad attention windows with layer_norm1's bias instead of zeros (the authors' block)."},
    )
    text_dim: int | None = field(
        default=None,
        metadata={"help": "Width of the text embeddings; read from a SAM-PTx model config if unset."},
    )
    target_modules: list[str] | str | None = field(
        default=SAM_VISION_MLP_PATTERN,
        metadata={"help": "Module names or one regex (full match) of the modules to wrap."},
    )
    exclude_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module names or one regex of modules to leave untouched."}
    )
    layers_to_transform: list[int] | int | None = field(
        default=None,
        metadata={"help": "Indices of the image-encoder blocks to adapt (negative: from the end); all if unset."},
    )
    layers_pattern: list[str] | str | None = field(
        default=None,
        metadata={"help": "Name of the ModuleList that layers_to_transform indexes, e.g. 'layers'."},
    )
    modules_to_save: list[str] | None = field(
        default_factory=lambda: ["mask_decoder"],
        metadata={"help": "Modules trained in full and saved with the adapter."},
    )
    init_weights: bool | str = field(
        default=True,
        metadata={"help": "True: zero up-projections; 'pytorch': PyTorch's default init; False: N(0, 0.02)."},
    )

    # The config and class name of the SAM-PTx model the adapter was added to (`record_base_model`); class
    # variables, not fields, so not in adapter_config.json.
    _base_model_config: ClassVar[PreTrainedConfig | None] = None
    _base_model_architecture: ClassVar[str | None] = None
    # The frozen SAM a loaded adapter was trained on (`from_pretrained`): `{"model_type", "name", "adapter"}` from
    # the SAM-PTx `config.json` beside `adapter_config.json`, for the tuner to refuse another SAM.
    _trained_on_sam: ClassVar[dict[str, str | None] | None] = None

    def __post_init__(self):
        super().__post_init__()
        self.peft_type = SamPtxPeftType.PARALLEL_TEXT
        if isinstance(self.target_modules, list | tuple):
            self.target_modules = list(self.target_modules)
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r <= 0:
            raise ValueError(f"ParallelTextConfig.r must be a positive integer, got {self.r!r}")
        if not isinstance(self.scaling, int | float) or not math.isfinite(self.scaling):
            raise ValueError(f"ParallelTextConfig.scaling must be a finite number, got {self.scaling!r}")
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ParallelTextConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.bottleneck_ratio is not None and (
            not isinstance(self.bottleneck_ratio, int | float)
            or isinstance(self.bottleneck_ratio, bool)
            or not 0.0 < self.bottleneck_ratio <= 1.0
        ):
            raise ValueError(
                f"ParallelTextConfig.bottleneck_ratio must be in (0, 1] or None, got {self.bottleneck_ratio!r}"
            )
        if isinstance(self.text_path, TextPath):
            self.text_path = self.text_path.value
        if self.text_path not in [path.value for path in TextPath]:
            raise ValueError(
                f"ParallelTextConfig.text_path={self.text_path!r} is not one of {[path.value for path in TextPath]}"
            )
        if self.init_weights not in (True, False, PYTORCH_INIT):
            raise ValueError(
                f"ParallelTextConfig.init_weights={self.init_weights!r}, expected True (zero up-projections), "
                f"{PYTORCH_INIT!r} (PyTorch's default) or False (random, for tests)"
            )
        if self.pad_windows_before_norm and not self.attention_adapter:
            raise ValueError(
                "ParallelTextConfig.pad_windows_before_norm=True needs attention_adapter=True (it is applied at the "
                "attention that adapter wraps)"
            )
        if self.activation not in ACT2FN:
            raise ValueError(
                f"ParallelTextConfig.activation={self.activation!r} is not a known activation; "
                f"expected one of {sorted(ACT2FN)}"
            )
        if isinstance(self.layers_to_transform, list | tuple):
            self.layers_to_transform = list(self.layers_to_transform)
        layers = self.layers_to_transform
        check_layers_to_transform(layers)
        if self.layers_pattern is not None:
            if layers is None:
                raise ValueError(
                    f"ParallelTextConfig.layers_pattern={self.layers_pattern!r} needs layers_to_transform, the "
                    "indices it refers to"
                )
            patterns = [self.layers_pattern] if isinstance(self.layers_pattern, str) else self.layers_pattern
            if (
                not isinstance(patterns, list | tuple)
                or not patterns
                or not all(isinstance(p, str) and p for p in patterns)
            ):
                raise ValueError(
                    f"ParallelTextConfig.layers_pattern must be a name or a list of names, got {self.layers_pattern!r}"
                )
        if self.text_dim is not None and (not isinstance(self.text_dim, int) or self.text_dim <= 0):
            raise ValueError(f"ParallelTextConfig.text_dim must be a positive integer or None, got {self.text_dim!r}")

    def record_base_model(self, model: Any) -> None:
        """Keep the config of a SAM-PTx `model` this adapter is added to, for `save_pretrained` to write."""
        config = getattr(model, "config", None)
        if getattr(config, "model_type", None) == "sam_ptx":
            self._base_model_config = config
            self._base_model_architecture = type(model).__name__

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str, subfolder: str | None = None, **kwargs: Any
    ) -> "ParallelTextConfig":
        """peft's `from_pretrained`; also reads which frozen SAM the adapter was trained on from the SAM-PTx
        `config.json` beside `adapter_config.json`, when there is one."""
        config = super().from_pretrained(pretrained_model_name_or_path, subfolder=subfolder, **kwargs)
        config._trained_on_sam = _trained_on_sam(pretrained_model_name_or_path, subfolder, kwargs)
        return config

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        """Write `adapter_config.json`, and the SAM-PTx base model's `config.json` when the adapter has one."""
        super().save_pretrained(save_directory, **kwargs)
        if self._base_model_config is not None:
            config = copy.deepcopy(self._base_model_config)
            config.architectures = [self._base_model_architecture]
            config.save_pretrained(save_directory)


def _trained_on_sam(location: str, subfolder: str | None, hub_kwargs: dict[str, Any]) -> dict[str, str | None] | None:
    """`{"model_type", "name", "adapter"}` of the frozen SAM in the SAM-PTx `config.json` at `location`; None without
    one."""
    lookup = {key: hub_kwargs[key] for key in ("revision", "cache_dir", "token") if hub_kwargs.get(key) is not None}
    try:
        config_file = cached_file(
            os.fspath(location),
            "config.json",
            subfolder=subfolder or "",
            _raise_exceptions_for_missing_entries=False,
            **lookup,
        )
        config = json.loads(Path(config_file).read_text(encoding="utf-8")) if config_file else None
    except (OSError, ValueError):  # unreadable: peft's own loading reports what is wrong
        return None
    if not isinstance(config, dict) or config.get("model_type") != "sam_ptx":
        return None
    model_type = (config.get("sam_config") or {}).get("model_type")
    if not model_type:
        return None
    return {"model_type": model_type, "name": config.get("sam_model_name_or_path"), "adapter": os.fspath(location)}
