"""The paper's method and its baselines/ablations, each one option away.

| method                | text enters SAM at                 | trained                                        |
|-----------------------|------------------------------------|------------------------------------------------|
| `parallel_text`       | every image-encoder MLP (adapters) | Parallel-Text adapters + mask decoder          |
| `parallel_adapter`    | nowhere                            | the same adapters without text + mask decoder  |
| `decoder_only`        | nowhere                            | mask decoder                                   |
| `text_prompt_encoder` | one extra sparse prompt token      | text projection + mask decoder                 |
| `text_mask_decoder`   | the mask decoder's output tokens   | text projection + mask decoder                 |

Every method is a `ParallelTextConfig`, so all of them train, save, load and push the same way through peft.
"""

from enum import Enum

from peft.utils.constants import DUMMY_TARGET_MODULES

from .configuration_samptx import TextInjection
from .tuners.parallel_text import ParallelTextConfig


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


def parse_method(method: "str | Method") -> Method:
    """`Method` from its name; `ValueError` listing the valid names otherwise."""
    try:
        return Method(method)
    except ValueError:
        raise ValueError(f"method={method!r} is not one of {[m.value for m in Method]}") from None


def text_injection_for(method: "str | Method") -> TextInjection:
    """The `SamPtxConfig.text_injection` that `method` needs."""
    return _TEXT_INJECTION[parse_method(method)]


def peft_config_for(
    method: "str | Method", r: int = 32, scaling: float = 0.1, dropout: float = 0.0, activation: str = "relu"
) -> ParallelTextConfig:
    """The adapter configuration of `method`; the adapter options only matter for the adapter methods."""
    method = parse_method(method)
    if method in (Method.PARALLEL_TEXT, Method.PARALLEL_ADAPTER):
        return ParallelTextConfig(
            r=r, scaling=scaling, dropout=dropout, activation=activation, use_text=method == Method.PARALLEL_TEXT
        )
    modules_to_save = ["mask_decoder"]
    if method in (Method.TEXT_PROMPT_ENCODER, Method.TEXT_MASK_DECODER):
        modules_to_save.append("text_prompt_projection")
    return ParallelTextConfig(target_modules=DUMMY_TARGET_MODULES, use_text=False, modules_to_save=modules_to_save)


__all__ = ["Method", "parse_method", "peft_config_for", "text_injection_for"]
