"""The Parallel-Text adapter layer: a bottleneck branch beside an MLP, conditioned on text."""

from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer, _get_in_out_features
from torch import nn
from transformers.activations import ACT2FN

from .conditioning import current_text_embeds
from .config import PYTORCH_INIT, ParallelTextConfig, TextPath


def bottleneck_width(config: ParallelTextConfig, width: int) -> int:
    """The bottleneck of a branch beside a block of `width`: `int(width * bottleneck_ratio)`, or `r`."""
    if config.bottleneck_ratio is None:
        return config.r
    bottleneck = int(width * config.bottleneck_ratio)
    if bottleneck < 1:
        raise ValueError(
            f"ParallelTextConfig.bottleneck_ratio={config.bottleneck_ratio} gives an empty bottleneck on a block of "
            f"width {width}: expected a ratio of at least 1/{width}"
        )
    return bottleneck


@torch.no_grad()
def initialise_up_projection(up: nn.Linear, init_weights: bool | str) -> None:
    """Zero `up` (`True`), leave PyTorch's default (`"pytorch"`), or draw it from N(0, 0.02) (`False`)."""
    if init_weights == PYTORCH_INIT:
        return
    if init_weights:
        nn.init.zeros_(up.weight)
        nn.init.zeros_(up.bias)
    else:
        nn.init.normal_(up.weight, std=0.02)
        nn.init.normal_(up.bias, std=0.02)


def _mlp_features(module: nn.Module) -> tuple[int, int]:
    """Input and output width of a wrapped module: SAM's `SamMLPBlock` (`lin1`/`lin2`), SAM 2's `Sam2FeedForward`
    (`proj_in`/`proj_out`; in a Hiera block both are the block's output width) or a linear layer."""
    for first, last in (("lin1", "lin2"), ("proj_in", "proj_out")):
        if isinstance(getattr(module, first, None), nn.Linear) and isinstance(getattr(module, last, None), nn.Linear):
            return getattr(module, first).in_features, getattr(module, last).out_features
    in_features, out_features = _get_in_out_features(module)
    if in_features is None or out_features is None:
        raise ValueError(
            f"ParallelText can wrap SAM's SamMLPBlock, SAM 2's Sam2FeedForward or a linear layer, got "
            f"{type(module).__name__}: "
            "check ParallelTextConfig.target_modules"
        )
    return in_features, out_features


class ParallelTextLayer(nn.Module, BaseTunerLayer):
    """Wraps a module `mlp` as `mlp(h) + s * up(dropout(act(down(h) + text_proj(t))))`, or with
    `text_path="input"` as `mlp(h) + s * up(dropout(act(down(h + act(text_proj(t))))))`.

    `h` has shape (batch, ..., in_features) — (batch, height, width, hidden) inside SAM's image encoder — and `t`,
    the text embedding of each sample (batch, text_dim), is read from `text_conditioning` and broadcast over the
    spatial tokens of its own sample. Adapter weights live in `nn.ModuleDict`s keyed by adapter name.
    """

    adapter_layer_names = ("parallel_text_down", "parallel_text_text", "parallel_text_up")
    other_param_names = ("parallel_text_act", "parallel_text_dropout", "scaling", "use_text", "text_path")

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: ParallelTextConfig, **kwargs: Any) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.in_features, self.out_features = _mlp_features(base_layer)
        self.parallel_text_down = nn.ModuleDict({})
        self.parallel_text_text = nn.ModuleDict({})
        self.parallel_text_up = nn.ModuleDict({})
        self.parallel_text_act = nn.ModuleDict({})
        self.parallel_text_dropout = nn.ModuleDict({})
        self.scaling: dict[str, float] = {}
        self.use_text: dict[str, bool] = {}
        self.text_path: dict[str, str] = {}
        self._disable_adapters = False
        self.merged_adapters = []
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    def update_layer(self, adapter_name: str, config: ParallelTextConfig) -> None:
        """Add (or replace) the adapter `adapter_name` with the shapes and options of `config`."""
        if config.use_text and config.text_dim is None:
            raise ValueError(
                "ParallelTextConfig.text_dim is None but use_text=True: set text_dim to the width of the text "
                "embeddings (it is filled in automatically for SAM-PTx models)"
            )
        r = bottleneck_width(config, self.in_features)
        self.parallel_text_down[adapter_name] = nn.Linear(self.in_features, r)
        self.parallel_text_up[adapter_name] = nn.Linear(r, self.out_features)
        if config.use_text and config.text_path == TextPath.INPUT.value:
            self.parallel_text_text[adapter_name] = nn.Linear(config.text_dim, self.in_features)
        elif config.use_text:
            self.parallel_text_text[adapter_name] = nn.Linear(config.text_dim, r, bias=False)
        self.parallel_text_act[adapter_name] = ACT2FN[config.activation]
        self.parallel_text_dropout[adapter_name] = nn.Dropout(config.dropout) if config.dropout else nn.Identity()
        self.scaling[adapter_name] = float(config.scaling)
        self.use_text[adapter_name] = config.use_text
        self.text_path[adapter_name] = config.text_path
        self.reset_parameters(adapter_name, config.init_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def reset_parameters(self, adapter_name: str, init_weights: bool | str) -> None:
        """Initialise the up-projection as `init_weights` says (see `initialise_up_projection`)."""
        initialise_up_projection(self.parallel_text_up[adapter_name], init_weights)

    def _get_base_layer_device_and_dtype(self, base_layer: nn.Module) -> tuple[torch.device, torch.dtype]:
        # peft reads `base_layer.weight`, which SamMLPBlock does not have.
        parameter = next(base_layer.parameters())
        return parameter.device, parameter.dtype

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise TypeError(
            "ParallelText adapters cannot be merged: the branch up(act(down(h) + text_proj(t))) is non-linear and "
            "depends on the text of each sample. Use unload() to get the base model back, or keep the adapter."
        )

    def unmerge(self) -> None:
        raise TypeError("ParallelText adapters are never merged, so there is nothing to unmerge.")

    @property
    def reads_text(self) -> bool:
        """Whether a forward pass of this layer now depends on the text (an active adapter with `use_text`)."""
        if self.disable_adapters:
            return False
        return any(self.use_text.get(name, False) for name in self.active_adapters if name in self.parallel_text_down)

    def _text_for(self, adapter_name: str, batch_size: int) -> torch.Tensor:
        text_embeds = current_text_embeds()
        if text_embeds is None:
            raise ValueError(
                f"The ParallelText adapter {adapter_name!r} uses text (use_text=True) but this forward pass has no "
                "text: pass input_ids or text_embeds to SamPtxForTextSegmentation, or wrap the call in "
                "samptx_hf.text_conditioning(text_embeds)."
            )
        if text_embeds.shape[0] != batch_size:
            raise ValueError(
                f"text_embeds has batch size {text_embeds.shape[0]} but the image tokens have batch size "
                f"{batch_size}: give one class prompt per image"
            )
        expected = self.parallel_text_text[adapter_name].in_features
        if text_embeds.shape[-1] != expected:
            raise ValueError(
                f"text_embeds has width {text_embeds.shape[-1]}, expected text_dim={expected} from the "
                f"ParallelTextConfig of adapter {adapter_name!r}"
            )
        return text_embeds

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = self.base_layer(hidden_states, *args, **kwargs)
        if self.disable_adapters:
            return result
        for adapter_name in self.active_adapters:
            if adapter_name not in self.parallel_text_down:
                continue
            down = self.parallel_text_down[adapter_name]
            act = self.parallel_text_act[adapter_name]
            branch_input = hidden_states.to(down.weight.dtype)  # (batch, ..., in_features)
            text_proj = None
            if self.use_text[adapter_name]:
                text_embeds = self._text_for(adapter_name, hidden_states.shape[0])
                text_proj = self.parallel_text_text[adapter_name](text_embeds.to(down.weight.dtype))
                spatial_ones = [1] * (hidden_states.dim() - 2)
                text_proj = text_proj.view(text_proj.shape[0], *spatial_ones, text_proj.shape[-1])
            if text_proj is not None and self.text_path[adapter_name] == TextPath.INPUT.value:
                branch_input = branch_input + act(text_proj)  # text_proj: (batch, 1, ..., in_features)
            branch = down(branch_input)  # (batch, ..., r)
            if text_proj is not None and self.text_path[adapter_name] == TextPath.BOTTLENECK.value:
                branch = branch + text_proj  # (batch, 1, ..., r)
            branch = self.parallel_text_dropout[adapter_name](act(branch))
            delta = self.parallel_text_up[adapter_name](branch) * self.scaling[adapter_name]
            result = result + delta.to(result.dtype)
        return result

    def __repr__(self) -> str:
        return "parallel_text." + super().__repr__()


class ParallelTextAttentionLayer(ParallelTextLayer):
    """Wraps the attention of an image-encoder block as `a + s * (a + up(act(down(a))))`, `a` its output.

    The text-free branch of `ParallelTextConfig.attention_adapter` (the authors' "Space" adapter). It sees the
    attention output per window, (batch * windows, window, window, width), as the block's attention does; being
    token-wise, it gives the same tokens as it would after the windows are joined again. With
    `pad_windows_before_norm`, the padding tokens of the windows (zeros, as SAM pads after `layer_norm1`) are
    replaced by `layer_norm1(0)`, the norm's bias, before the attention reads them. They are found as the all-zero
    tokens: a real token leaves `layer_norm1` all zero only if the norm's weights are.
    """

    adapter_layer_names = ("parallel_text_down", "parallel_text_up")
    other_param_names = ("parallel_text_act", "parallel_text_dropout", "scaling", "pad_windows_before_norm")

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        config: ParallelTextConfig,
        block_norm: nn.LayerNorm | None = None,
        **kwargs: Any,
    ) -> None:
        nn.Module.__init__(self)
        self.base_layer = base_layer
        projection = getattr(base_layer, "proj", None)
        if not isinstance(projection, nn.Linear):
            raise ValueError(
                f"ParallelText's attention adapter wraps an attention with an output projection `proj` (SAM's "
                f"SamVisionAttention, SAM 2's Sam2MultiScaleAttention), got {type(base_layer).__name__}"
            )
        self.in_features = self.out_features = projection.out_features
        # The block's first layer norm, not registered as a submodule: it is the base model's, not the adapter's.
        self._block_norm = (block_norm,)
        self.parallel_text_down = nn.ModuleDict({})
        self.parallel_text_up = nn.ModuleDict({})
        self.parallel_text_act = nn.ModuleDict({})
        self.parallel_text_dropout = nn.ModuleDict({})
        self.scaling: dict[str, float] = {}
        self.pad_windows_before_norm: dict[str, bool] = {}
        self._disable_adapters = False
        self.merged_adapters = []
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    def update_layer(self, adapter_name: str, config: ParallelTextConfig) -> None:
        """Add (or replace) the attention-side branch `adapter_name` with the shapes and options of `config`."""
        if config.pad_windows_before_norm and self._block_norm[0] is None:
            raise ValueError(
                "ParallelTextConfig.pad_windows_before_norm=True, but the attention's block has no layer_norm1"
            )
        r = bottleneck_width(config, self.in_features)
        self.parallel_text_down[adapter_name] = nn.Linear(self.in_features, r)
        self.parallel_text_up[adapter_name] = nn.Linear(r, self.out_features)
        self.parallel_text_act[adapter_name] = ACT2FN[config.activation]
        self.parallel_text_dropout[adapter_name] = nn.Dropout(config.dropout) if config.dropout else nn.Identity()
        self.scaling[adapter_name] = float(config.scaling)
        self.pad_windows_before_norm[adapter_name] = config.pad_windows_before_norm
        self.reset_parameters(adapter_name, config.init_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    @property
    def reads_text(self) -> bool:
        """Never: the attention-side branch is text-free."""
        return False

    def _active_names(self) -> list[str]:
        if self.disable_adapters:
            return []
        return [name for name in self.active_adapters if name in self.parallel_text_down]

    def _pad_with_norm_bias(self, windows: torch.Tensor) -> torch.Tensor:
        """`windows` with every all-zero token (window padding) set to the block's `layer_norm1` bias."""
        bias = self._block_norm[0].bias.to(windows.dtype)  # (width,)
        padding = (windows == 0).all(dim=-1, keepdim=True)  # (..., 1)
        return torch.where(padding, bias, windows)

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        names = self._active_names()
        if any(self.pad_windows_before_norm[name] for name in names):
            hidden_states = self._pad_with_norm_bias(hidden_states)
        outputs = self.base_layer(hidden_states, *args, **kwargs)
        if not names:
            return outputs
        attention = outputs[0] if isinstance(outputs, tuple) else outputs  # (batch * windows, ..., width)
        result = attention
        for name in names:
            down = self.parallel_text_down[name]
            branch = self.parallel_text_dropout[name](
                self.parallel_text_act[name](down(attention.to(down.weight.dtype)))
            )
            branch = attention + self.parallel_text_up[name](branch).to(attention.dtype)
            result = result + branch * self.scaling[name]
        return (result, *outputs[1:]) if isinstance(outputs, tuple) else result
