"""The paper's method and its baselines/ablations, each one option away.

| method                | text enters SAM at                 | trained                                        |
|-----------------------|------------------------------------|------------------------------------------------|
| `parallel_text`       | every image-encoder MLP (adapters) | Parallel-Text adapters + mask decoder          |
| `parallel_adapter`    | nowhere                            | the same adapters without text + mask decoder  |
| `decoder_only`        | nowhere                            | mask decoder                                   |
| `text_prompt_encoder` | one extra sparse prompt token      | text projection + mask decoder                 |
| `text_mask_decoder`   | the mask decoder's output tokens   | text projection + mask decoder                 |

Every method is a `ParallelTextConfig`, so all of them train, save, load and push the same way through peft.

The adapter methods come in two forms (`AdapterForm`): `adaptformer`, the branch beside each image-encoder MLP with
the text after the down-projection and a zero-initialised up-projection (the model starts equal to SAM), and
`reference`, the form of the authors' code (the text added to the branch's input, bottleneck 0.25 × width, scale
0.5, PyTorch's default initialisation, a text-free branch after each attention, the prompt encoder trained too).
"""

from collections.abc import Sequence
from enum import Enum

from peft.utils.constants import DUMMY_TARGET_MODULES

from ..processing.class_prompts import BARE_CLASS_NAME_TEMPLATE
from ..tuners.parallel_text import PYTORCH_INIT, ParallelTextConfig, TextPath
from .configuration_samptx import TextInjection


class Method(str, Enum):
    PARALLEL_TEXT = "parallel_text"
    PARALLEL_ADAPTER = "parallel_adapter"
    DECODER_ONLY = "decoder_only"
    TEXT_PROMPT_ENCODER = "text_prompt_encoder"
    TEXT_MASK_DECODER = "text_mask_decoder"


_TEXT_INJECTION = {
    Method.PARALLEL_TEXT: TextInjection.PARALLEL_TEXT,
    Method.PARALLEL_ADAPTER: TextInjection.NONE,
    Method.DECODER_ONLY: TextInjection.NONE,
    Method.TEXT_PROMPT_ENCODER: TextInjection.PROMPT_ENCODER,
    Method.TEXT_MASK_DECODER: TextInjection.MASK_DECODER,
}


class AdapterForm(str, Enum):
    """Which form of the adapter `parallel_text` and `parallel_adapter` train (see the module docstring)."""

    ADAPTFORMER = "adaptformer"
    REFERENCE = "reference"


# The form the paper describes (MLP side only): on the built-in point task as good as the authors' and 15x smaller at
# ViT-B; text only, the authors' scores higher (docs/method.md, "Which form `parallel_text` means").
DEFAULT_ADAPTER_FORM = AdapterForm.ADAPTFORMER

# The authors' form, option by option (`ParallelTextConfig` fields); `parallel_adapter` drops only the text.
REFERENCE_FORM_OPTIONS = {
    "text_path": TextPath.INPUT.value,
    "bottleneck_ratio": 0.25,
    "scaling": 0.5,
    "activation": "gelu",
    "init_weights": PYTORCH_INIT,
    "attention_adapter": True,
    "pad_windows_before_norm": True,
    "modules_to_save": ["mask_decoder", "prompt_encoder"],
}


# The authors' text side (`SamPtxConfig` fields): the bare class name, minus the empty-prompt ensemble, normalised,
# from CLIP ViT-B/16.
REFERENCE_TEXT_OPTIONS = {
    "prompt_template": BARE_CLASS_NAME_TEMPLATE,
    "subtract_empty_prompt": True,
    "normalize_text_embeds": True,
}
REFERENCE_TEXT_MODEL = "openai/clip-vit-base-patch16"


def parse_adapter_form(form: "str | AdapterForm") -> AdapterForm:
    """`AdapterForm` from its name; `ValueError` listing the valid names otherwise."""
    try:
        return AdapterForm(form)
    except ValueError:
        raise ValueError(f"adapter form {form!r} is not one of {[f.value for f in AdapterForm]}") from None


def parse_method(method: "str | Method") -> Method:
    """`Method` from its name; `ValueError` listing the valid names otherwise."""
    try:
        return Method(method)
    except ValueError:
        raise ValueError(f"method={method!r} is not one of {[m.value for m in Method]}") from None


def text_injection_for(method: "str | Method") -> TextInjection:
    """The `SamPtxConfig.text_injection` that `method` needs."""
    return _TEXT_INJECTION[parse_method(method)]


ALL_LAYERS = "all"
LAST_LAYERS_PREFIX = "last:"


def parse_adapter_layers(adapter_layers: "str | Sequence[int] | None") -> list[int] | None:
    """The image-encoder blocks that get adapters, as `ParallelTextConfig.layers_to_transform`; `None` for all.

    Accepts `"all"` (or `None`), `"last:K"` (the last K blocks, whatever the depth: `[-K, ..., -1]`), a
    comma-separated list of block indices such as `"8,9,10,11"` (negative ones count from the end), or a list of
    indices.

    Raises:
        ValueError: On anything else, naming the value and the accepted forms.
    """
    if adapter_layers is None or adapter_layers == ALL_LAYERS:
        return None
    expected = f"expected {ALL_LAYERS!r}, 'last:K' with K >= 1, or block indices such as '8,9,10,11'"
    if isinstance(adapter_layers, str):
        text = adapter_layers.strip()
        try:
            if text.startswith(LAST_LAYERS_PREFIX):
                count = int(text[len(LAST_LAYERS_PREFIX) :])
                if count < 1:
                    raise ValueError
                return list(range(-count, 0))
            indices = [int(item) for item in text.split(",")]
        except ValueError:
            raise ValueError(f"adapter_layers={adapter_layers!r} is not understood: {expected}") from None
    else:
        indices = list(adapter_layers)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise ValueError(f"adapter_layers={adapter_layers!r} is not understood: {expected}")
    if not indices:
        raise ValueError(f"adapter_layers={adapter_layers!r} names no block: {expected}")
    return indices  # a block named twice is refused by ParallelTextConfig (`check_layers_to_transform`)


def peft_config_for(
    method: "str | Method",
    r: int | None = None,
    scaling: float | None = None,
    dropout: float = 0.0,
    activation: str | None = None,
    adapter_layers: "str | Sequence[int] | None" = None,
    form: "str | AdapterForm" = DEFAULT_ADAPTER_FORM,
    **form_options: object,
) -> ParallelTextConfig:
    """The adapter configuration of `method`; the adapter options only matter for the adapter methods.

    `adapter_layers` places the adapters (see [`parse_adapter_layers`]): `"last:2"` puts them in the last two
    image-encoder blocks only, so that several classes of one image share the blocks before them.

    `r`, `scaling` and `activation` default to 32, 0.1 and ReLU in the `adaptformer` form. `form="reference"` gives the
    authors' form (`REFERENCE_FORM_OPTIONS`: bottleneck 0.25 x the block width, scale 0.5, GELU); any of the three
    given explicitly replaces that value of it (`r` the width ratio). `form_options` override single
    `ParallelTextConfig` fields of either form, for ablations, e.g. `form="reference", attention_adapter=False,
    pad_windows_before_norm=False` or `form="reference", init_weights=True`.

    Example:

    ```py
    >>> config = peft_config_for("parallel_text", form="reference")
    >>> config.text_path, config.bottleneck_ratio, config.attention_adapter
    ('input', 0.25, True)
    ```
    """
    method = parse_method(method)
    form = parse_adapter_form(form)
    layers_to_transform = parse_adapter_layers(adapter_layers)
    if method in (Method.PARALLEL_TEXT, Method.PARALLEL_ADAPTER) and form == AdapterForm.REFERENCE:
        given = {name: value for name, value in (("scaling", scaling), ("activation", activation)) if value is not None}
        if r is not None:  # a width replaces the ratio
            given.update(r=r, bottleneck_ratio=None)
        options = {**REFERENCE_FORM_OPTIONS, **given, **form_options}
        return ParallelTextConfig(
            dropout=dropout,
            use_text=method == Method.PARALLEL_TEXT,
            layers_to_transform=layers_to_transform,
            **options,
        )
    if method in (Method.PARALLEL_TEXT, Method.PARALLEL_ADAPTER):
        return ParallelTextConfig(
            r=32 if r is None else r,
            scaling=0.1 if scaling is None else scaling,
            dropout=dropout,
            activation="relu" if activation is None else activation,
            use_text=method == Method.PARALLEL_TEXT,
            layers_to_transform=layers_to_transform,
            **form_options,
        )
    modules_to_save = ["mask_decoder"]
    if method in (Method.TEXT_PROMPT_ENCODER, Method.TEXT_MASK_DECODER):
        modules_to_save.append("text_prompt_projection")
    return ParallelTextConfig(target_modules=DUMMY_TARGET_MODULES, use_text=False, modules_to_save=modules_to_save)


__all__ = [
    "DEFAULT_ADAPTER_FORM",
    "REFERENCE_FORM_OPTIONS",
    "REFERENCE_TEXT_MODEL",
    "REFERENCE_TEXT_OPTIONS",
    "AdapterForm",
    "Method",
    "parse_adapter_form",
    "parse_adapter_layers",
    "parse_method",
    "peft_config_for",
    "text_injection_for",
]
