"""SAM-PTx: SAM conditioned on frozen CLIP text embeddings of a class name."""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import AutoConfig, AutoTokenizer, CLIPTextModelWithProjection, PreTrainedModel, Sam2Model, SamModel
from transformers.utils import CONFIG_NAME, ModelOutput, logging

from ..hub.locate import locate_pretrained
from ..hub.repository import ADAPTER_CONFIG_NAME
from ..pretrained import resolve_component
from ..processing.class_prompts import EMPTY_PROMPT_TEMPLATES, format_prompts
from ..tuners.parallel_text.conditioning import checkpoint_with_text_conditioning
from .configuration_samptx import SamPtxConfig, TextInjection
from .decoder_text_conditioning import decoder_text_conditioning, install_output_token_conditioning
from .image_encoding import ImageTrunk, encode_trunk
from .losses import LOSS_WEIGHTS, presence_loss, sam_segmentation_loss
from .presence_head import SamPresenceHead, install_presence_token, presence_token_readout
from .sam_backbones import (
    ImageFeatures,
    decode_masks,
    embed_prompts,
    encode_image_features,
    image_embedding_shape,
    image_features_from_trunk,
    input_image_size,
    is_sam2,
    low_res_mask_size,
    sam_class_for_checkpoint,
    sam_model_class,
)
from .text_cache import TextCacheInfo, TextEmbeddingCache

logger = logging.get_logger(__name__)


@dataclass
class SamPtxSegmentationOutput(ModelOutput):
    """Output of [`SamPtxForTextSegmentation`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            SAM's loss (focal 20 : dice 1 + IoU MSE), when `labels` are given.
        pred_masks (`torch.FloatTensor` of shape `(batch, point_batch, num_masks, height, width)`):
            Low-resolution mask logits (a quarter of SAM's input size); upsample with the processor.
        iou_scores (`torch.FloatTensor` of shape `(batch, point_batch, num_masks)`):
            Predicted IoU of each mask.
        text_embeds (`torch.FloatTensor` of shape `(batch, text_dim)`, *optional*):
            The text embeddings that conditioned SAM (normalised if `config.normalize_text_embeds`).
        image_embeddings (`torch.FloatTensor` of shape `(batch, channels, height, width)`):
            Output of the (text-conditioned) image encoder.
        high_resolution_features (`tuple[torch.FloatTensor]`, *optional*):
            SAM 2 only: the two high-resolution feature maps the mask decoder adds while upscaling (see
            `samptx_hf.modeling.sam_backbones.ImageFeatures`).
        presence_logits (`torch.FloatTensor` of shape `(batch, point_batch, 1)`, *optional*):
            Whether the image holds the class the text names (sigmoid: a probability), when
            `config.presence_head` is set (`samptx_hf.modeling.presence_head`). An absent answer means an empty mask;
            `pred_masks` are the decoder's as they are, the callers of the model (`segment`, the predictor, the
            pipeline) empty them.
    """

    loss: torch.FloatTensor | None = None
    pred_masks: torch.FloatTensor | None = None
    iou_scores: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    image_embeddings: torch.FloatTensor | None = None
    high_resolution_features: tuple[torch.FloatTensor, ...] | None = None
    presence_logits: torch.FloatTensor | None = None


class SamPtxPreTrainedModel(PreTrainedModel):
    config: SamPtxConfig
    config_class = SamPtxConfig
    base_model_prefix = "sam_ptx"
    main_input_name = "pixel_values"
    input_modalities = ("image", "text")
    _no_split_modules = ["SamVisionLayer", "Sam2MultiScaleBlock", "CLIPEncoderLayer"]
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @property
    def is_gradient_checkpointing(self) -> bool:
        # transformers deprecated this name for `is_activation_checkpointing`, but peft's `PeftModel` still reads it:
        # answer without the deprecation warning every `get_peft_model` / `PeftModel.from_pretrained` would print.
        return self.is_activation_checkpointing

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # SamModel and the CLIP text encoder initialise themselves (transformers dispatches to sub-models).
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class SamPtxForTextSegmentation(SamPtxPreTrainedModel):
    """SAM whose predictions are conditioned on a class name, through frozen CLIP text embeddings.

    Holds a transformers `SamModel` or `Sam2Model` (`sam`, as `config.sam_config.model_type` says) and a frozen
    `CLIPTextModelWithProjection` (`text_encoder`). Where the text enters SAM is `config.text_injection`: with
    `parallel_text` (SAM-PTx) it reaches the Parallel-Text adapters inside the image encoder (the ViT blocks of SAM,
    the Hiera blocks of SAM 2), which are added with `peft.get_peft_model(model, ParallelTextConfig())`.

    Example:

    ```py
    >>> from peft import get_peft_model  # doctest: +SKIP
    >>> from samptx_hf import ParallelTextConfig, SamPtxForTextSegmentation
    >>> model = SamPtxForTextSegmentation.from_pretrained_components(  # doctest: +SKIP
    ...     "facebook/sam-vit-base", "openai/clip-vit-base-patch32"
    ... )
    >>> model = get_peft_model(model, ParallelTextConfig(r=32))  # doctest: +SKIP
    ```
    """

    def __init__(
        self,
        config: SamPtxConfig,
        sam: SamModel | Sam2Model | None = None,
        text_encoder: CLIPTextModelWithProjection | None = None,
    ) -> None:
        super().__init__(config)
        sam_class = sam_model_class(config.sam_config)
        if sam is not None and not isinstance(sam, sam_class):
            raise TypeError(
                f"sam is a {type(sam).__name__} but config.sam_config has model_type={config.sam_config.model_type!r}: "
                f"expected a {sam_class.__name__}"
            )
        self.sam = sam if sam is not None else sam_class(config.sam_config)
        self.text_encoder = (
            text_encoder if text_encoder is not None else CLIPTextModelWithProjection(config.text_config)
        )
        self.text_encoder.requires_grad_(False)
        self.text_encoder.eval()
        # Ablations: the text embedding as one extra sparse prompt token, or added to the decoder's output tokens.
        self.text_prompt_projection = (
            nn.Linear(config.text_dim, config.prompt_hidden_size)
            if config.text_injection in (TextInjection.PROMPT_ENCODER.value, TextInjection.MASK_DECODER.value)
            else None
        )
        if config.text_injection == TextInjection.MASK_DECODER.value:
            install_output_token_conditioning(self.sam.mask_decoder)
        # The presence answer: SAM 2's own object-score head, or for SAM one more decoder token with such a head.
        self.presence_head = None
        if config.presence_head and not is_sam2(config.sam_config):
            self.presence_head = SamPresenceHead(config.prompt_hidden_size)
            install_presence_token(self.sam.mask_decoder)
        self.tokenizer = None
        self.text_cache = TextEmbeddingCache()
        self._empty_prompt_embeds: torch.Tensor | None = None  # `empty_prompt_embedding`, once computed
        self.post_init()

    # ----------------------------------------------------------------------------------------------- building

    @classmethod
    def from_pretrained_components(
        cls,
        sam_model_name_or_path: str | os.PathLike = "facebook/sam-vit-base",
        text_model_name_or_path: str | os.PathLike = "openai/clip-vit-base-patch32",
        load_tokenizer: bool = True,
        hub_kwargs: dict[str, Any] | None = None,
        **config_kwargs: Any,
    ) -> "SamPtxForTextSegmentation":
        """Assemble SAM-PTx from separately pretrained SAM and CLIP checkpoints (Hub ids or local directories).

        Args:
            sam_model_name_or_path: A `SamModel` or `Sam2Model` checkpoint, e.g. `"facebook/sam-vit-base"` or
                `"facebook/sam2.1-hiera-tiny"`, or the built-in `"samptx_hf:tiny-sam"` / `"samptx_hf:tiny-sam2"`
                (see `samptx_hf.pretrained`); its `config.json` (`model_type`) chooses the class.
            text_model_name_or_path: A CLIP checkpoint (full `CLIPModel` or text-only), e.g.
                `"openai/clip-vit-base-patch32"`, or the built-in `"samptx_hf:tiny-clip"`; its tokenizer is loaded
                too when `load_tokenizer`.
            hub_kwargs: Passed to every `from_pretrained` (`token`, `revision`, `cache_dir`, `local_files_only`).
            config_kwargs: Other [`SamPtxConfig`] fields (`prompt_template`, `text_injection`, ...).

        Only safetensors weights are loaded (`use_safetensors=True`): no downloaded file is unpickled.

        Raises:
            FileNotFoundError: When a checkpoint is neither a folder nor a Hub repository (see
                [`samptx_hf.hub.locate_pretrained`]).
            OSError: When a checkpoint cannot be loaded (transformers' message names the path).
            ValueError: When the SAM checkpoint is neither a SAM nor a SAM 2 (`model_type` other than `sam`,
                `sam2`, `sam2_video`; of a SAM 2 video checkpoint the image model is loaded).
        """
        hub_kwargs = dict(hub_kwargs or {})
        sam_path, text_path = resolve_component(sam_model_name_or_path), resolve_component(text_model_name_or_path)
        sam_kwargs = locate_pretrained(sam_path, hub_kwargs, what="frozen SAM")
        text_kwargs = locate_pretrained(text_path, hub_kwargs, what="frozen CLIP")
        sam_class = sam_class_for_checkpoint(AutoConfig.from_pretrained(sam_path, **sam_kwargs))
        sam = sam_class.from_pretrained(sam_path, use_safetensors=True, **sam_kwargs)
        text_encoder = CLIPTextModelWithProjection.from_pretrained(text_path, use_safetensors=True, **text_kwargs)
        # A composite config hands its attention implementation down to its sub-configs, None included, and the
        # mask decoder and CLIP read it at every call: keep the one the components were loaded with.
        config_kwargs.setdefault("attn_implementation", sam.config._attn_implementation)
        config = SamPtxConfig(
            sam_config=sam.config,
            text_config=text_encoder.config,
            sam_model_name_or_path=_component_location(sam_model_name_or_path),
            text_model_name_or_path=_component_location(text_model_name_or_path),
            **config_kwargs,
        )
        model = cls(config, sam=sam, text_encoder=text_encoder)
        if load_tokenizer:
            model.tokenizer = AutoTokenizer.from_pretrained(text_path, **text_kwargs)
        return model

    @torch.no_grad()
    def reset_added_modules(self) -> "SamPtxForTextSegmentation":
        """Give the modules SAM-PTx adds to SAM, which no SAM or CLIP checkpoint holds, weights that change nothing:
        SAM's presence head answers present (probability 1) whatever it is asked, and the text projection of the
        prompt-encoder and mask-decoder ablations gives zeros.

        An adapter repository loads onto a base reset so: its trained copies of these modules (`modules_to_save`)
        hold what training learnt, and the base's own, what `disable_adapter()` computes with, are the same in every
        load (initialised at random they would differ from load to load, and so would `state_dict()`).
        """
        if self.presence_head is not None:
            self.presence_head.answer_present_()
        if self.text_prompt_projection is not None:
            nn.init.zeros_(self.text_prompt_projection.weight)
            nn.init.zeros_(self.text_prompt_projection.bias)
        return self

    def train(self, mode: bool = True) -> "SamPtxForTextSegmentation":
        super().train(mode)
        self.text_encoder.eval()  # frozen: never in training mode
        return self

    def _set_gradient_checkpointing(
        self, enable: bool = True, gradient_checkpointing_func: Callable = checkpoint, every_n_layers: int = 1
    ) -> None:
        # The recomputation in backward must see the text embedding of its own forward pass.
        super()._set_gradient_checkpointing(
            enable=enable,
            gradient_checkpointing_func=checkpoint_with_text_conditioning(gradient_checkpointing_func),
            every_n_layers=every_n_layers,
        )

    # ----------------------------------------------------------------------------------------------- text

    def get_tokenizer(self):
        """The CLIP tokenizer, loaded from `config.text_model_name_or_path` on first use unless already set."""
        if self.tokenizer is None:
            if self.config.text_model_name_or_path is None:
                raise ValueError(
                    "this model has no tokenizer and config.text_model_name_or_path is None (it was built from a "
                    "config, not loaded): set model.tokenizer to the CLIP tokenizer of its text encoder"
                )
            self.tokenizer = AutoTokenizer.from_pretrained(resolve_component(self.config.text_model_name_or_path))
        return self.tokenizer

    def format_prompts(self, class_names: str | Sequence[str]) -> list[str]:
        """Class names → prompts through `config.prompt_template`
        (`samptx_hf.processing.class_prompts.format_prompts`)."""
        return format_prompts(class_names, self.config.prompt_template)

    @torch.no_grad()
    def encode_text(self, class_names: str | Sequence[str]) -> torch.Tensor:
        """Embeddings (len(class_names), text_dim) of class names, through the template and the frozen encoder.

        The text encoder runs once per distinct prompt per model: its embeddings are kept in memory, keyed by the
        prompt's tokens, and `forward(input_ids=...)` (the processor's route) reads the same cache, so a class name
        costs one text-encoder pass whichever way it comes in (`text_cache_info()` counts hits and misses).

        Raises:
            ValueError: On an empty or non-string class name, or a prompt longer than CLIP's context.
        """
        if isinstance(class_names, Sequence) and not isinstance(class_names, str) and len(class_names) == 0:
            return torch.empty(0, self.config.text_dim, device=self.device)
        tokens = self.get_tokenizer()(self.format_prompts(class_names), padding=True, return_tensors="pt")
        return self._text_embeds_from_tokens(tokens["input_ids"], tokens["attention_mask"])

    def text_cache_info(self) -> TextCacheInfo:
        """Hits, misses and size of the text-embedding cache."""
        return self.text_cache.info()

    def _check_prompt_lengths(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
        """A prompt longer than CLIP's position embeddings as a `ValueError` that names it, not an indexing error."""
        max_length = self.config.text_config.max_position_embeddings
        if input_ids.shape[1] <= max_length:
            return
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        lengths = attention_mask.sum(-1)  # (batch,)
        index = int(lengths.argmax())
        prompt = ""
        if self.tokenizer is not None:
            prompt = self.tokenizer.decode(input_ids[index][: int(lengths[index])], skip_special_tokens=True)
            prompt = repr(prompt if len(prompt) <= 60 else prompt[:57] + "...") + " "
        raise ValueError(
            f"class prompt {prompt}is too long: {int(lengths[index])} tokens, at most {max_length} (the CLIP text "
            "encoder's context); shorten the class name"
        )

    def _text_embeds_from_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Embeddings (batch, text_dim) of tokenised prompts; each distinct prompt is encoded once (the text cache)."""
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, expected that of input_ids "
                f"{tuple(input_ids.shape)}"
            )
        self._check_prompt_lengths(input_ids, attention_mask)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # A prompt is its attended tokens, wherever the padding is.
        rows = zip(input_ids.cpu(), attention_mask.cpu(), strict=True)
        prompts = [tuple(ids[mask.bool()].tolist()) for ids, mask in rows]
        embeddings = self.text_cache.get_or_compute(prompts, self._encode_token_prompts)
        return torch.stack(embeddings).to(self.device)

    @torch.no_grad()
    def _encode_token_prompts(self, prompts: list[tuple[int, ...]]) -> torch.Tensor:
        """One text-encoder pass over token prompts, right-padded as CLIP's tokenizer pads them."""
        length = max(len(prompt) for prompt in prompts)
        pad_token_id = self.config.text_config.pad_token_id or 0
        input_ids = torch.full((len(prompts), length), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, prompt in enumerate(prompts):
            input_ids[row, : len(prompt)] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, : len(prompt)] = 1
        text_embeds = self.text_encoder(
            input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)
        ).text_embeds
        if self.config.subtract_empty_prompt:
            text_embeds = text_embeds - self.empty_prompt_embedding()
        return self._normalize(text_embeds)

    @torch.no_grad()
    def empty_prompt_embedding(self) -> torch.Tensor:
        """The embedding (text_dim,) that `config.subtract_empty_prompt` removes: the empty class name `""` through
        each of `EMPTY_PROMPT_TEMPLATES`, each embedding L2-normalised, their mean L2-normalised. Computed once."""
        if self._empty_prompt_embeds is None:
            prompts = [template.format("") for template in EMPTY_PROMPT_TEMPLATES]
            tokens = self.get_tokenizer()(prompts, padding=True, return_tensors="pt").to(self.device)
            text_embeds = self.text_encoder(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            ).text_embeds
            self._empty_prompt_embeds = F.normalize(F.normalize(text_embeds, dim=-1).mean(0), dim=0)
        return self._empty_prompt_embeds.to(self.device)

    def _normalize(self, text_embeds: torch.Tensor) -> torch.Tensor:
        return F.normalize(text_embeds, dim=-1) if self.config.normalize_text_embeds else text_embeds

    # ----------------------------------------------------------------------------------------------- encode once

    @torch.no_grad()
    def get_image_trunk(self, pixel_values: torch.FloatTensor) -> ImageTrunk:
        """The image encoder up to its first text-reading block, once per image: what every class of it shares.

        With adapters in the last blocks only (`layers_to_transform`), a new class on a known image then costs the
        adapted blocks alone ([`get_image_embeddings`] with `image_trunk=`). With no adapter that reads the text
        (the baselines), the trunk is the whole encoder but the neck.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(images, 3, height, width)`): Preprocessed images.

        Raises:
            ValueError: When `pixel_values` does not have the frozen SAM's input shape.
        """
        self._check_pixel_values(pixel_values)
        return encode_trunk(self.sam.vision_encoder, pixel_values.to(self.device, self.dtype))

    @torch.no_grad()
    def get_image_embeddings(
        self,
        pixel_values: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        text_embeds: torch.FloatTensor | None = None,
        image_trunk: ImageTrunk | None = None,
    ) -> ImageFeatures:
        """The image encoder's output for rows of (image, class), to pass to `forward(image_embeddings=...)`.

        As `SamModel.get_image_embeddings`: encode once, then prompt the decoder as often as needed. The class
        (`input_ids` or `text_embeds`, one per row) conditions the Parallel-Text adapters; methods that read the
        text elsewhere (or not at all) ignore it here and take it in `forward`.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(rows, 3, height, width)`, *optional*): The rows' images.
            input_ids, attention_mask, text_embeds: The rows' class prompts, as for `forward`.
            image_trunk ([`ImageTrunk`], *optional*): From [`get_image_trunk`], instead of `pixel_values`: one
                image for every row, or one image per row.

        Returns:
            [`ImageFeatures`]: `image_embeddings` `(rows, channels, h, w)`, and for SAM 2 the high-resolution
            features its mask decoder reads.

        Raises:
            ValueError: On both or neither of `pixel_values` and `image_trunk`, shapes that do not match, or a trunk
                computed before the adapters changed.
        """
        if (pixel_values is None) == (image_trunk is None):
            raise ValueError("Pass either pixel_values or image_trunk (from get_image_trunk), not both")
        if pixel_values is not None:
            num_rows = self._check_pixel_values(pixel_values)
        else:
            num_rows = image_trunk.num_images
            if input_ids is not None or text_embeds is not None:
                num_rows = (input_ids if input_ids is not None else text_embeds).shape[0]
        # Only Parallel-Text adapters read the text inside the encoder; the other methods take it in `forward`.
        adapter_text = None
        if self.config.text_injection == TextInjection.PARALLEL_TEXT.value:
            adapter_text = self._resolve_text_embeds(input_ids, attention_mask, text_embeds, num_rows)
        if pixel_values is not None:
            return encode_image_features(self.sam, pixel_values.to(self.device, self.dtype), adapter_text)
        if image_trunk.num_images not in (1, num_rows):
            raise ValueError(
                f"image_trunk holds {image_trunk.num_images} images for {num_rows} class prompts: expected one image "
                "for every prompt, or one image per prompt"
            )
        image_of_row = torch.zeros(num_rows, dtype=torch.long, device=image_trunk.hidden_states.device)
        if image_trunk.num_images == num_rows:
            image_of_row = torch.arange(num_rows, device=image_trunk.hidden_states.device)
        return image_features_from_trunk(self.sam, image_trunk, adapter_text, image_of_row)

    # ----------------------------------------------------------------------------------------------- forward

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        input_points: torch.FloatTensor | None = None,
        input_labels: torch.LongTensor | None = None,
        input_boxes: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        text_embeds: torch.FloatTensor | None = None,
        labels: torch.Tensor | None = None,
        multimask_output: bool = False,
        return_dict: bool = True,
        image_embeddings: ImageFeatures | torch.FloatTensor | None = None,
        input_masks: torch.FloatTensor | None = None,
        presence_labels: torch.Tensor | None = None,
        image_groups: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> SamPtxSegmentationOutput | tuple:
        r"""Segment what the text names, at the given point/box prompts.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, height, width)`):
                Images preprocessed by SAM's image processor.
            input_points (`torch.FloatTensor` of shape `(batch, point_batch, num_points, 2)`, *optional*):
                Point prompts (x, y) in the frame of `pixel_values`.
            input_labels (`torch.LongTensor` of shape `(batch, point_batch, num_points)`, *optional*):
                1 foreground, 0 background, -10 padding; required with `input_points`.
            input_boxes (`torch.FloatTensor` of shape `(batch, num_boxes, 4)`, *optional*):
                Box prompts (x1, y1, x2, y2).
            input_ids, attention_mask (`torch.LongTensor` of shape `(batch, seq_len)`, *optional*):
                Tokenised class prompts, one per image, encoded by the frozen text encoder.
            text_embeds (`torch.FloatTensor` of shape `(batch, text_dim)`, *optional*):
                Precomputed class embeddings (e.g. from `encode_text`), instead of `input_ids`.
            labels (`torch.Tensor` of shape `(batch, H, W)` or `(batch, point_batch, H, W)`, *optional*):
                Binary target masks; `loss` is returned when given.
            multimask_output (`bool`, defaults to `False`):
                Predict SAM's three masks per prompt instead of one.
            image_embeddings ([`ImageFeatures`] or `torch.FloatTensor` of shape `(batch, channels, h, w)`, *optional*):
                The image encoder's output from [`get_image_embeddings`], instead of `pixel_values`: the image
                encoder does not run (SAM 2 needs the `ImageFeatures`, whose high-resolution levels its decoder
                reads). The text is still taken where the method reads it outside the encoder.
            input_masks (`torch.FloatTensor` of shape `(batch, 1, 4h, 4w)`, *optional*):
                Low-resolution mask logits of an earlier prediction (`pred_masks` of one mask), SAM's mask prompt
                for iterative refinement.
            presence_labels (`torch.Tensor` of shape `(batch,)`, *optional*):
                1 where the row's class is in the image, 0 where it is not (its `labels` are then empty), with
                `labels`; needs `config.presence_head`. The loss then scores the masks of present rows only and adds
                the presence head's binary cross-entropy over all rows.
            image_groups (`list[int]` of length `batch`, *optional*):
                Which rows hold the same image (equal labels), as `SamPtxDataCollator` gives them: those rows share
                the image encoder's text-free blocks without comparing pixels on the device. Without it the rows are
                compared.

        Raises:
            ValueError: On inputs of the wrong rank, shape or batch size, points without labels, both or neither
                of `input_ids`/`text_embeds` when the text is used, `presence_labels` without `labels` or on a model
                without a presence head.
        """
        # 1. Check inputs before any computation.
        if (pixel_values is None) == (image_embeddings is None):
            raise ValueError("Pass either pixel_values or image_embeddings (from get_image_embeddings), not both")
        if pixel_values is not None:
            batch_size = self._check_pixel_values(pixel_values)
        else:
            image_embeddings = self._check_image_embeddings(image_embeddings)
            batch_size = image_embeddings.image_embeddings.shape[0]
        self._check_prompts(batch_size, input_points, input_labels, input_boxes, input_masks)
        self._check_presence_labels(batch_size, presence_labels, labels)
        text_embeds = self._resolve_text_embeds(input_ids, attention_mask, text_embeds, batch_size)

        # 2. Image encoder; Parallel-Text adapters read the text. The blocks before the first adapter that reads it
        # run once per distinct image of the batch (several class prompts of one image share them).
        injection = self.config.text_injection
        if image_embeddings is not None:
            image_features = image_embeddings
        else:
            adapter_text = text_embeds if injection == TextInjection.PARALLEL_TEXT.value else None
            # (batch, c, h, w)
            image_features = encode_image_features(self.sam, pixel_values, adapter_text, image_groups)

        # 3. Prompt encoder; with `prompt_encoder` injection the text is one more sparse token.
        sparse_embeddings, dense_embeddings = embed_prompts(
            self.sam, input_points, input_labels, input_boxes, batch_size, input_masks
        )
        text_tokens = self.text_prompt_projection(text_embeds) if self.text_prompt_projection is not None else None
        if injection == TextInjection.PROMPT_ENCODER.value:
            point_batch_size = sparse_embeddings.shape[1] if sparse_embeddings is not None else 1
            text_token = text_tokens[:, None, None, :].expand(batch_size, point_batch_size, 1, -1)
            sparse_embeddings = (
                text_token if sparse_embeddings is None else torch.cat([sparse_embeddings, text_token], dim=2)
            )
        decoder_text = text_tokens if injection == TextInjection.MASK_DECODER.value else None

        # 4. Mask decoder; with `mask_decoder` injection the text is added to its output tokens. The presence answer
        # is SAM 2's object score, or SAM's presence token read out of the decoder's transformer.
        presence_token = self.presence_head.presence_token.weight if self.presence_head is not None else None
        with decoder_text_conditioning(decoder_text), presence_token_readout(presence_token) as presence_readout:
            pred_masks, iou_scores, object_score_logits = decode_masks(
                self.sam, image_features, sparse_embeddings, dense_embeddings, multimask_output
            )
        presence_logits = None
        if presence_readout is not None:
            presence_logits = self.presence_head(presence_readout.output)  # (batch, point_batch, 1)
        elif self.config.presence_head:
            presence_logits = object_score_logits

        # 5. Loss: the masks of present rows, and the presence answer of every row.
        loss = None
        if labels is not None:
            present = presence_labels > 0.5 if presence_labels is not None else None
            loss = sam_segmentation_loss(
                pred_masks,
                iou_scores,
                labels.to(pred_masks.device),
                present=present,
                **LOSS_WEIGHTS[self.config.loss_type],
            )
            if presence_labels is not None:
                loss = loss + presence_loss(presence_logits, presence_labels.to(presence_logits.device))

        output = SamPtxSegmentationOutput(
            loss=loss,
            pred_masks=pred_masks,
            iou_scores=iou_scores,
            text_embeds=text_embeds,
            image_embeddings=image_features.image_embeddings,
            high_resolution_features=image_features.high_resolution_features,
            presence_logits=presence_logits,
        )
        return output if return_dict else output.to_tuple()

    def _check_presence_labels(
        self, batch_size: int, presence_labels: torch.Tensor | None, labels: torch.Tensor | None
    ) -> None:
        if presence_labels is None:
            return
        if not self.config.presence_head:
            raise ValueError(
                "presence_labels were given, but this model has no presence head: build it with presence_head=True "
                "(SamPtxConfig, from_pretrained_components or --prompt_mode text/mixed in training)"
            )
        if labels is None:
            raise ValueError("presence_labels were given without labels: they are part of the training targets")
        if not isinstance(presence_labels, torch.Tensor) or tuple(presence_labels.shape) != (batch_size,):
            shape = tuple(presence_labels.shape) if isinstance(presence_labels, torch.Tensor) else presence_labels
            raise ValueError(f"presence_labels must have shape (batch={batch_size},): 1 present, 0 absent, got {shape}")

    def _check_pixel_values(self, pixel_values: torch.Tensor) -> int:
        """The batch size of `pixel_values`; `ValueError` unless it has the frozen SAM's input shape."""
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4 or pixel_values.shape[1] != 3:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values)
            raise ValueError(f"pixel_values must have shape (batch, 3, height, width), got {shape}")
        image_size = input_image_size(self.config.sam_config)
        if tuple(pixel_values.shape[-2:]) != (image_size, image_size):
            raise ValueError(
                f"pixel_values must be {image_size}x{image_size} (the input size of the frozen "
                f"{type(self.sam).__name__}, as its image processor resizes them), got {tuple(pixel_values.shape[-2:])}"
            )
        return pixel_values.shape[0]

    def _check_image_embeddings(self, image_embeddings: Any) -> ImageFeatures:
        """`image_embeddings` as `ImageFeatures`, checked against the frozen SAM's decoder input."""
        if isinstance(image_embeddings, torch.Tensor):
            if is_sam2(self.config.sam_config):
                raise ValueError(
                    "image_embeddings is a tensor, but SAM 2's mask decoder also reads the high-resolution features: "
                    "pass the ImageFeatures that get_image_embeddings returns"
                )
            image_embeddings = ImageFeatures(image_embeddings)
        if not isinstance(image_embeddings, ImageFeatures):
            raise ValueError(
                "image_embeddings must be the ImageFeatures of get_image_embeddings, got "
                f"{type(image_embeddings).__name__}"
            )
        embeddings = image_embeddings.image_embeddings
        expected = image_embedding_shape(self.config.sam_config)
        if embeddings.dim() != 4 or tuple(embeddings.shape[1:]) != expected:
            raise ValueError(
                f"image_embeddings must have shape (batch, {', '.join(map(str, expected))}) for this model, got "
                f"{tuple(embeddings.shape)}"
            )
        if is_sam2(self.config.sam_config) and image_embeddings.high_resolution_features is None:
            raise ValueError("image_embeddings lack the high_resolution_features that SAM 2's mask decoder reads")
        return image_embeddings

    def _check_prompts(
        self,
        batch_size: int,
        input_points: torch.Tensor | None,
        input_labels: torch.Tensor | None,
        input_boxes: torch.Tensor | None,
        input_masks: torch.Tensor | None,
    ) -> None:
        if input_points is not None:
            if input_points.dim() != 4 or input_points.shape[0] != batch_size or input_points.shape[-1] != 2:
                raise ValueError(
                    f"input_points must have shape (batch={batch_size}, point_batch, num_points, 2), "
                    f"got {tuple(input_points.shape)}"
                )
            if input_labels is None:
                raise ValueError(
                    "input_points were given without input_labels: pass input_labels of shape "
                    f"{tuple(input_points.shape[:-1])} (1 foreground, 0 background, -10 padding)"
                )
            if tuple(input_labels.shape) != tuple(input_points.shape[:-1]):
                raise ValueError(
                    f"input_labels must have shape {tuple(input_points.shape[:-1])} to match input_points, "
                    f"got {tuple(input_labels.shape)}"
                )
        elif input_labels is not None:
            raise ValueError("input_labels were given without input_points")
        if input_boxes is not None and (
            input_boxes.dim() != 3 or input_boxes.shape[0] != batch_size or input_boxes.shape[-1] != 4
        ):
            raise ValueError(
                f"input_boxes must have shape (batch={batch_size}, num_boxes, 4), got {tuple(input_boxes.shape)}"
            )
        if input_points is not None and input_boxes is not None and input_points.shape[1] != input_boxes.shape[1]:
            raise ValueError(
                f"input_points has point_batch {input_points.shape[1]} but input_boxes has {input_boxes.shape[1]} "
                "boxes: give one box per point batch"
            )
        mask_size = low_res_mask_size(self.config.sam_config)
        if input_masks is not None and tuple(input_masks.shape) != (batch_size, 1, mask_size, mask_size):
            raise ValueError(
                f"input_masks must have shape (batch={batch_size}, 1, {mask_size}, {mask_size}): one low-resolution "
                f"mask (an earlier prediction's logits) per row, got {tuple(input_masks.shape)}"
            )

    def _resolve_text_embeds(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        text_embeds: torch.Tensor | None,
        batch_size: int,
    ) -> torch.Tensor | None:
        if input_ids is not None and text_embeds is not None:
            raise ValueError("Pass either input_ids or text_embeds, not both")
        if input_ids is not None:
            if input_ids.dim() != 2 or input_ids.shape[0] != batch_size:
                raise ValueError(
                    f"input_ids must have shape (batch={batch_size}, seq_len): one class prompt per image, "
                    f"got {tuple(input_ids.shape)}"
                )
            return self._text_embeds_from_tokens(input_ids, attention_mask)
        if text_embeds is not None:
            if text_embeds.dim() != 2 or text_embeds.shape[-1] != self.config.text_dim:
                raise ValueError(
                    f"text_embeds must have shape (batch, text_dim={self.config.text_dim}), "
                    f"got {tuple(text_embeds.shape)}"
                )
            if text_embeds.shape[0] != batch_size:
                raise ValueError(
                    f"text_embeds has batch size {text_embeds.shape[0]} but pixel_values has {batch_size}: "
                    "give one class prompt per image"
                )
            return self._normalize(text_embeds.to(device=self.device, dtype=self.dtype))
        if self.config.text_injection in (
            TextInjection.PROMPT_ENCODER.value,
            TextInjection.MASK_DECODER.value,
        ):
            raise ValueError(
                f"text_injection={self.config.text_injection!r} needs the class prompt: pass input_ids or text_embeds"
            )
        return None

    # ------------------------------------------------------------------------------------------- inference and loading
    # The logic lives in the inference layer (`samptx_hf.inference`, imported when called: the model does not depend
    # on it) and in `samptx_hf.modeling.peft_model` (adapter repositories).

    # The model class of adapter repositories (`SamPtxPeftModel`, a `PeftModel` around this class), set by
    # `samptx_hf.modeling.peft_model` when it is imported (`import samptx_hf` does): this module does not import it.
    adapter_model_class: ClassVar[type | None] = None

    def segment(
        self,
        image: Any,
        text: str | Sequence[str],
        points: Sequence[Sequence[float]] | None = None,
        box: Sequence[float] | None = None,
        processor: Any = None,
        threshold: float = 0.0,
        multimask_output: bool = False,
        point_labels: Sequence[int] | None = None,
        presence_threshold: float = 0.5,
        return_logits: bool = False,
    ) -> Any:
        """Segment what `text` names in `image`: one call from a picture and a class name to a mask.

        Without a point or box the class name alone is the prompt: every instance of the class, and with a presence
        head (`config.presence_head`) an empty mask and `result.presence` below `presence_threshold` when the image
        holds none.

        See [`samptx_hf.segment`], which this calls with the model. On a `PeftModel` around this model,
        `peft_model.segment(...)` reaches this method and runs through the active adapters (peft places them inside
        this model's modules); `samptx_hf.segment(peft_model, ...)` is the same call through peft's forward.

        Example:

        ```py
        >>> result = model.segment("fish.jpg", "batfish", points=[(320, 240)])  # doctest: +SKIP
        >>> result.mask.shape, result.score  # doctest: +SKIP
        ((480, 640), 0.93)
        >>> model.segment("fish.jpg", "seahorse").presence  # no point: is there any?  # doctest: +SKIP
        0.03
        ```
        """
        from ..inference.segment import segment

        return segment(
            self,
            image,
            text,
            points=points,
            box=box,
            processor=processor,
            threshold=threshold,
            multimask_output=multimask_output,
            point_labels=point_labels,
            presence_threshold=presence_threshold,
            return_logits=return_logits,
        )

    def segment_semantic(self, image: Any, classes: Sequence[str], **kwargs: Any) -> Any:
        """A `(height, width)` label map of `image` over the vocabulary `classes` (0 = background), and the presence
        of each class: see [`samptx_hf.inference.semantic.segment_semantic`], which this calls with the model."""
        from ..inference.semantic import segment_semantic

        return segment_semantic(self, image, classes, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load a full saved model, or a trained adapter repository ready to use.

        When the directory or Hub repository holds `adapter_config.json` (an adapter repository, written by
        `save_adapter_repo` or [`SamPtxPeftModel.save_pretrained`]), the result is a [`SamPtxPeftModel`] (see
        [`SamPtxPeftModel.from_adapter_repo`]): the frozen SAM and CLIP named in its `config.json`, then the adapters,
        adapter active, in eval mode. This is also what `transformers.AutoModel.from_pretrained` and `pipeline` reach.
        Otherwise this is `PreTrainedModel.from_pretrained`, with `use_safetensors=True` unless given.

        Raises:
            FileNotFoundError: When `pretrained_model_name_or_path` is neither a folder nor a Hub repository, or a
                folder without `adapter_config.json` or `config.json`.
            TypeError: On an adapter repository, for an argument it does not take (the message lists them).
            OSError: When the adapter repository or a frozen component cannot be loaded; a broken file of the
                repository is named (see [`SamPtxPeftModel.from_adapter_repo`]).
            ValueError: When the adapter weights do not fit the model the repository's `config.json` describes.
        """
        kwargs = locate_pretrained(pretrained_model_name_or_path, kwargs)
        adapter_model_class = cls.adapter_model_class  # set by `import samptx_hf`, which every import of this runs
        if adapter_model_class is not None:
            adapter_repo = adapter_model_class.adapter_repository(pretrained_model_name_or_path, kwargs)
            if adapter_repo is not None:
                return adapter_model_class.from_auto_class_arguments(adapter_repo, *model_args, **kwargs)
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, kwargs.get("subfolder") or "", CONFIG_NAME)):
            raise FileNotFoundError(
                f"{path} holds neither {ADAPTER_CONFIG_NAME} (a SAM-PTx adapter repository) nor {CONFIG_NAME} (a saved "
                "model): expected a folder written by save_pretrained or examples/train.py"
            )
        kwargs.setdefault("use_safetensors", True)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


def _component_location(name_or_path: str | os.PathLike) -> str:
    """How the config records where a frozen component came from: a local folder as an absolute path (a relative one
    would only load again from the same working directory), a Hub id or built-in name as given."""
    name = os.fspath(name_or_path)
    return os.path.abspath(name) if os.path.isdir(name) else name


__all__ = ["SamPtxForTextSegmentation", "SamPtxPreTrainedModel", "SamPtxSegmentationOutput"]
