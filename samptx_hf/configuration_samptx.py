"""Configuration of SAM-PTx: which frozen SAM and CLIP it is built on, and how text enters SAM."""

from enum import Enum

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, CLIPTextConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .class_prompts import DEFAULT_PROMPT_TEMPLATE, check_prompt_template

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
        sam_model_name_or_path (`str`, *optional*, defaults to `"facebook/sam-vit-base"`):
            Hub id or local directory the frozen SAM weights come from.
        text_model_name_or_path (`str`, *optional*, defaults to `"openai/clip-vit-base-patch32"`):
            Hub id or local directory the frozen CLIP text encoder and its tokenizer come from.
        prompt_template (`str`, *optional*, defaults to `"a photo of a {}"`):
            Turns a class name into the text that is encoded; must contain `{}` once.
        text_injection (`str`, *optional*, defaults to `"parallel_text"`):
            One of `parallel_text`, `none`, `prompt_encoder`, `mask_decoder` (see [`TextInjection`]).
        normalize_text_embeds (`bool`, *optional*, defaults to `True`):
            L2-normalise the CLIP text embeddings before they enter SAM, as CLIP does for its similarities.
        loss_type (`str`, *optional*, defaults to `"sam"`):
            `sam` (focal 20 : dice 1 + IoU MSE, the paper's) or `bce_dice` (BCE + dice + IoU MSE, for a randomly
            initialised SAM, see `samptx_hf.losses`).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the initialisation of the text projection of the ablation modes.

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
    sam_model_name_or_path: str = "facebook/sam-vit-base"
    text_model_name_or_path: str = "openai/clip-vit-base-patch32"
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    text_injection: str = TextInjection.PARALLEL_TEXT.value
    normalize_text_embeds: bool = True
    loss_type: str = "sam"
    initializer_range: float = 0.02

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
            if not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty Hub id or directory, got {getattr(self, name)!r}")

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


__all__ = ["SAM_MODEL_TYPES", "SamPtxConfig", "TextInjection"]
