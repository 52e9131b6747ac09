"""Configuration of SAM-PTx: which frozen SAM and CLIP it is built on, and how text enters SAM."""

from enum import Enum
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, CLIPTextConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..processing.class_prompts import DEFAULT_PROMPT_TEMPLATE, check_prompt_template

SAM_MODEL_TYPES = ("sam", "sam2")  # transformers' SamModel and Sam2Model


class TextInjection(str, Enum):
    """Where the class-prompt embedding enters SAM.

    - `parallel_text`: into every image-encoder block, through the Parallel-Text adapter (SAM-PTx).
    - `none`: nowhere; the spatial-prompt baselines (decoder-only, Parallel-Adapter without text).
    - `prompt_encoder`: as one extra sparse prompt token (ablation).
    - `mask_decoder`: added to the mask decoder's query tokens before each two-way block (ablation).
    """

    PARALLEL_TEXT = "parallel_text"
    NONE = "none"
    PROMPT_ENCODER = "prompt_encoder"
    MASK_DECODER = "mask_decoder"


@strict
class SamPtxConfig(PreTrainedConfig):
    r"""Configuration of [`SamPtxForTextSegmentation`].

    Args:
        sam_config (`SamConfig`, `Sam2Config` or `dict`, *optional*):
            Architecture of the SAM model that is adapted: a `SamConfig` (SAM, `SamModel`) or a `Sam2Config` (SAM 2,
            `Sam2Model`); a dict is read by its `model_type` (`"sam"` when it has none). Defaults to `SamConfig()`
            (ViT-B shapes of `facebook/sam-vit-base` in everything but the vision width: load the real config
            through `SamPtxForTextSegmentation.from_pretrained_components`).
        text_config (`CLIPTextConfig` or `dict`, *optional*):
            Architecture of the frozen CLIP text encoder (`CLIPTextModelWithProjection`); its `projection_dim` is
            the width of the text embeddings, `text_dim`.
        sam_model_name_or_path (`str`, *optional*):
            Hub id, local directory or built-in name (`"samptx_hf:tiny-sam"`) the frozen SAM weights come from, as
            `from_pretrained_components` records it. `None` (a model built from a config, with random weights)
            means the weights come from nowhere that could be loaded again: an adapter trained on such a model
            loads only onto that model (`PeftModel.from_pretrained(base, folder)`).
        text_model_name_or_path (`str`, *optional*):
            Where the frozen CLIP text encoder and its tokenizer come from; `None` as for `sam_model_name_or_path`.
        prompt_template (`str`, *optional*, defaults to `"a photo of a {}"`):
            Turns a class name into the text that is encoded; must contain `{}` once.
        text_injection (`str`, *optional*, defaults to `"parallel_text"`):
            One of `parallel_text`, `none`, `prompt_encoder`, `mask_decoder` (see [`TextInjection`]).
        normalize_text_embeds (`bool`, *optional*, defaults to `True`):
            L2-normalise the CLIP text embeddings before they enter SAM, as CLIP does for its similarities.
        subtract_empty_prompt (`bool`, *optional*, defaults to `False`):
            Subtract from each class prompt's embedding the embedding of the empty class name `""`, averaged over
            the 85 templates of CLIP Surgery (`class_prompts.EMPTY_PROMPT_TEMPLATES`, each embedding L2-normalised,
            the mean L2-normalised), before the normalisation: the authors' text embedding, with
            `prompt_template="{}"` (the bare class name) and CLIP ViT-B/16 (`openai/clip-vit-base-patch16`).
            Computed with the text encoder, once per model; embeddings passed as `text_embeds` are taken as they
            are (normalised only).
        loss_type (`str`, *optional*, defaults to `"sam"`):
            `sam` (focal 20 : dice 1 + IoU MSE, the paper's) or `bce_dice` (BCE + dice + IoU MSE, for a randomly
            initialised SAM, see `samptx_hf.modeling.losses`).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the initialisation of the text projection of the ablation modes.
        presence_head (`bool`, *optional*, defaults to `False`):
            Answer whether the image holds the class at all (`presence_logits`), for text-only prompting: on SAM 2
            its own object-score head is trained; on SAM an extra decoder output token with a head of the same
            kind is added (`samptx_hf.modeling.presence_head`). Off, the model is SAM-PTx as the paper trains it (a
            model saved before this option loads so).

    Example:

    ```python
    >>> from samptx_hf import SamPtxConfig
    >>> config = SamPtxConfig(prompt_template="a camouflaged {}")
    >>> config.text_dim
    512
    ```
    """

    model_type = "sam_ptx"
    sub_configs_defaults = {
        "sam_config": SubConfigSpec(config_class=AutoConfig, model_type="sam"),
        "text_config": CLIPTextConfig,
    }

    sam_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    sam_model_name_or_path: str | None = None
    text_model_name_or_path: str | None = None
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    text_injection: str = TextInjection.PARALLEL_TEXT.value
    normalize_text_embeds: bool = True
    subtract_empty_prompt: bool = False
    loss_type: str = "sam"
    initializer_range: float = 0.02
    presence_head: bool = False

    def __post_init__(self, **kwargs):
        if isinstance(self.text_injection, TextInjection):
            self.text_injection = self.text_injection.value
        super().__post_init__(**kwargs)
        self._check_values()

    def _check_values(self) -> None:
        """Reject values that would only fail later, deep inside `forward`, with a `ValueError` naming the field."""
        sam_model_type = type(self.sam_config).model_type  # a SAM 2 video checkpoint's config says "sam2_video"
        if sam_model_type not in SAM_MODEL_TYPES:
            raise ValueError(
                f"sam_config has model_type={sam_model_type!r}, expected one of {list(SAM_MODEL_TYPES)} "
                "(transformers' SamModel or Sam2Model)"
            )
        allowed = [mode.value for mode in TextInjection]
        if self.text_injection not in allowed:
            raise ValueError(f"text_injection={self.text_injection!r} is not one of {allowed}")
        if self.loss_type not in ("sam", "bce_dice"):
            raise ValueError(f"loss_type={self.loss_type!r} is not one of ['sam', 'bce_dice']")
        check_prompt_template(self.prompt_template)
        if not self.text_config.projection_dim or self.text_config.projection_dim <= 0:
            raise ValueError(
                f"text_config.projection_dim={self.text_config.projection_dim!r} must be a positive integer "
                "(the width of the CLIP text embeddings)"
            )
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range={self.initializer_range!r} must be positive")
        for name in ("sam_model_name_or_path", "text_model_name_or_path"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise ValueError(f"{name} must be a non-empty Hub id or directory (or None), got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as `config.json` holds it, without the machine's paths the sub-configs were loaded from.

        The frozen components are named by `sam_model_name_or_path` and `text_model_name_or_path`; the sub-configs'
        `_name_or_path` (an absolute local path for a built-in or a local component) would only leak the training
        machine's file system into a pushed repository.
        """
        output = super().to_dict()
        for name in self.sub_configs:
            if isinstance(output.get(name), dict):
                _drop_name_or_path(output[name])
        return output

    @property
    def text_dim(self) -> int:
        """Width of the text embeddings that condition SAM (CLIP's projection dim)."""
        return self.text_config.projection_dim

    @property
    def vision_hidden_size(self) -> int:
        """Width of the tokens inside SAM's image encoder (SAM 2: of the first Hiera stage)."""
        if type(self.sam_config).model_type == "sam2":
            return self.sam_config.vision_config.backbone_config.hidden_size
        return self.sam_config.vision_config.hidden_size

    @property
    def prompt_hidden_size(self) -> int:
        """Width of SAM's prompt tokens (and of the mask decoder's queries)."""
        return self.sam_config.prompt_encoder_config.hidden_size


def _drop_name_or_path(config_dict: dict[str, Any]) -> None:
    config_dict.pop("_name_or_path", None)
    for value in config_dict.values():
        if isinstance(value, dict):
            _drop_name_or_path(value)


__all__ = ["SAM_MODEL_TYPES", "SamPtxConfig", "TextInjection"]
