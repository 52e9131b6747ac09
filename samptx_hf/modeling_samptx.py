"""SAM-PTx: SAM conditioned on frozen CLIP text embeddings of a class name."""

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import CommitInfo
from peft import PeftModel, get_peft_model_state_dict
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import AutoConfig, AutoTokenizer, CLIPTextModelWithProjection, PreTrainedModel, Sam2Model, SamModel
from transformers.utils import PROCESSOR_NAME as PROCESSOR_CONFIG_NAME
from transformers.utils import ModelOutput, cached_file, logging

from .configuration_samptx import SamPtxConfig, TextInjection
from .decoder_text_conditioning import decoder_text_conditioning, install_output_token_conditioning
from .hub import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    HUB_KWARGS,
    find_adapter_config,
    locate_pretrained,
    push_adapter_to_hub,
    read_repository_metadata,
    save_adapter_repo,
)
from .inference import segment
from .losses import LOSS_WEIGHTS, sam_segmentation_loss
from .pretrained import resolve_component
from .processing_samptx import SamPtxProcessor
from .sam_backbones import (
    decode_masks,
    embed_prompts,
    encode_image_features,
    input_image_size,
    sam_class_for_checkpoint,
    sam_model_class,
)
from .text_cache import TextCacheInfo, TextEmbeddingCache
from .tuners.parallel_text.conditioning import checkpoint_with_text_conditioning

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
            `samptx_hf.sam_backbones.ImageFeatures`).
    """

    loss: torch.FloatTensor | None = None
    pred_masks: torch.FloatTensor | None = None
    iou_scores: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    image_embeddings: torch.FloatTensor | None = None
    high_resolution_features: tuple[torch.FloatTensor, ...] | None = None


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
        self.tokenizer = None
        self.text_cache = TextEmbeddingCache()
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
            sam_model_name_or_path=str(sam_model_name_or_path),
            text_model_name_or_path=str(text_model_name_or_path),
            **config_kwargs,
        )
        model = cls(config, sam=sam, text_encoder=text_encoder)
        if load_tokenizer:
            model.tokenizer = AutoTokenizer.from_pretrained(text_path, **text_kwargs)
        return model

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
            self.tokenizer = AutoTokenizer.from_pretrained(resolve_component(self.config.text_model_name_or_path))
        return self.tokenizer

    def format_prompts(self, class_names: Sequence[str]) -> list[str]:
        """Class names → prompts through `config.prompt_template`; rejects anything but non-empty strings."""
        if isinstance(class_names, str) or not isinstance(class_names, Sequence):
            raise ValueError(f"class_names must be a list of strings, got {type(class_names).__name__}")
        for name in class_names:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"every class name must be a non-empty string, got {name!r}")
        return [self.config.prompt_template.format(name.strip()) for name in class_names]

    @torch.no_grad()
    def encode_text(self, class_names: Sequence[str]) -> torch.Tensor:
        """Embeddings (len(class_names), text_dim) of class names, through the template and the frozen encoder.

        Each distinct prompt is encoded once per model: later calls read an in-memory cache
        (`text_cache_info()` counts hits and misses).

        Raises:
            ValueError: On an empty or non-string class name, or a prompt longer than CLIP's context.
        """
        prompts = self.format_prompts(class_names)
        if not prompts:
            return torch.empty(0, self.config.text_dim, device=self.device)
        embeddings = self.text_cache.get_or_compute(prompts, self._encode_prompts)
        return torch.stack(embeddings).to(self.device)

    def text_cache_info(self) -> TextCacheInfo:
        """Hits, misses and size of the text-embedding cache."""
        return self.text_cache.info()

    def _encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        tokenizer = self.get_tokenizer()
        tokens = tokenizer(prompts, padding=True, return_tensors="pt")
        return self._text_embeds_from_tokens(tokens["input_ids"], tokens["attention_mask"])

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
        self._check_prompt_lengths(input_ids, attention_mask)
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device) if attention_mask is not None else None
        with torch.no_grad():
            text_embeds = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).text_embeds
        return self._normalize(text_embeds)

    def _normalize(self, text_embeds: torch.Tensor) -> torch.Tensor:
        return F.normalize(text_embeds, dim=-1) if self.config.normalize_text_embeds else text_embeds

    # ----------------------------------------------------------------------------------------------- forward

    def forward(
        self,
        pixel_values: torch.FloatTensor,
        input_points: torch.FloatTensor | None = None,
        input_labels: torch.LongTensor | None = None,
        input_boxes: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        text_embeds: torch.FloatTensor | None = None,
        labels: torch.Tensor | None = None,
        multimask_output: bool = False,
        return_dict: bool = True,
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

        Raises:
            ValueError: On inputs of the wrong rank, shape or batch size, points without labels, both or neither
                of `input_ids`/`text_embeds` when the text is used.
        """
        # 1. Check inputs before any computation.
        batch_size = self._check_image_and_prompts(pixel_values, input_points, input_labels, input_boxes)
        text_embeds = self._resolve_text_embeds(input_ids, attention_mask, text_embeds, batch_size)

        # 2. Image encoder; Parallel-Text adapters read the text. The blocks before the first adapter that reads it
        # run once per distinct image of the batch (several class prompts of one image share them).
        injection = self.config.text_injection
        adapter_text = text_embeds if injection == TextInjection.PARALLEL_TEXT.value else None
        image_features = encode_image_features(self.sam, pixel_values, adapter_text)  # embeddings (batch, c, h, w)

        # 3. Prompt encoder; with `prompt_encoder` injection the text is one more sparse token.
        sparse_embeddings, dense_embeddings = embed_prompts(
            self.sam, input_points, input_labels, input_boxes, batch_size
        )
        text_tokens = self.text_prompt_projection(text_embeds) if self.text_prompt_projection is not None else None
        if injection == TextInjection.PROMPT_ENCODER.value:
            point_batch_size = sparse_embeddings.shape[1] if sparse_embeddings is not None else 1
            text_token = text_tokens[:, None, None, :].expand(batch_size, point_batch_size, 1, -1)
            sparse_embeddings = (
                text_token if sparse_embeddings is None else torch.cat([sparse_embeddings, text_token], dim=2)
            )
        decoder_text = text_tokens if injection == TextInjection.MASK_DECODER.value else None

        # 4. Mask decoder; with `mask_decoder` injection the text is added to its output tokens.
        with decoder_text_conditioning(decoder_text):
            pred_masks, iou_scores = decode_masks(
                self.sam, image_features, sparse_embeddings, dense_embeddings, multimask_output
            )

        # 5. Loss.
        loss = None
        if labels is not None:
            loss = sam_segmentation_loss(
                pred_masks, iou_scores, labels.to(pred_masks.device), **LOSS_WEIGHTS[self.config.loss_type]
            )

        output = SamPtxSegmentationOutput(
            loss=loss,
            pred_masks=pred_masks,
            iou_scores=iou_scores,
            text_embeds=text_embeds,
            image_embeddings=image_features.image_embeddings,
            high_resolution_features=image_features.high_resolution_features,
        )
        return output if return_dict else output.to_tuple()

    def _check_image_and_prompts(
        self,
        pixel_values: torch.Tensor,
        input_points: torch.Tensor | None,
        input_labels: torch.Tensor | None,
        input_boxes: torch.Tensor | None,
    ) -> int:
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4 or pixel_values.shape[1] != 3:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values)
            raise ValueError(f"pixel_values must have shape (batch, 3, height, width), got {shape}")
        image_size = input_image_size(self.config.sam_config)
        if tuple(pixel_values.shape[-2:]) != (image_size, image_size):
            raise ValueError(
                f"pixel_values must be {image_size}x{image_size} (the input size of the frozen "
                f"{type(self.sam).__name__}, as its image processor resizes them), got {tuple(pixel_values.shape[-2:])}"
            )
        batch_size = pixel_values.shape[0]
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
        return batch_size

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

    # ----------------------------------------------------------------------------------------------- inference and Hub
    # The logic lives in `samptx_hf.inference` and `samptx_hf.hub`, which do not import this module.

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
    ) -> Any:
        """Segment what `text` names in `image`: one call from a picture and a class name to a mask.

        See [`samptx_hf.segment`], which this calls with the model. On a `PeftModel` around this model,
        `peft_model.segment(...)` reaches this method and runs through the active adapters (peft places them inside
        this model's modules); `samptx_hf.segment(peft_model, ...)` is the same call through peft's forward.

        Example:

        ```py
        >>> result = model.segment("fish.jpg", "batfish", points=[(320, 240)])  # doctest: +SKIP
        >>> result.mask.shape, result.score  # doctest: +SKIP
        ((480, 640), 0.93)
        ```
        """
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
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load a full saved model, or a trained adapter repository ready to use.

        When the directory or Hub repository holds `adapter_config.json` (an adapter repository, written by
        `save_adapter_repo` or [`SamPtxPeftModel.save_pretrained`]), the result is a [`SamPtxPeftModel`]: the frozen
        SAM and CLIP named in its `config.json`, then the adapters, adapter active, in eval mode. This is also what
        `transformers.AutoModel.from_pretrained` and `pipeline` reach. Accepted then: `adapter_name`, `is_trainable`,
        `config` (a [`SamPtxConfig`] instead of the repository's), `dtype` (the model is cast after loading) and the
        Hub arguments (`revision`, `cache_dir`, `token`, `local_files_only`, `force_download`, `proxies`,
        `subfolder`). Otherwise this is `PreTrainedModel.from_pretrained`, with `use_safetensors=True` unless given.

        Raises:
            TypeError: On an adapter repository, for any other argument (the message lists the accepted ones).
            OSError: When the adapter repository or a frozen component cannot be found.
        """
        # AutoModel and pipeline look for adapter_config.json themselves and say where they found it.
        kwargs = locate_pretrained(pretrained_model_name_or_path, kwargs)
        adapter_kwargs = dict(kwargs.get("adapter_kwargs") or {})
        adapter_repo = adapter_kwargs.pop("_adapter_model_path", None)
        if adapter_repo is None and find_adapter_config(pretrained_model_name_or_path, **kwargs) is not None:
            adapter_repo = pretrained_model_name_or_path
        if adapter_repo is None:
            kwargs.setdefault("use_safetensors", True)
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

        if model_args:
            raise TypeError(
                f"{len(model_args)} positional argument(s) after the path cannot be used when loading the adapter "
                f"repository {os.fspath(adapter_repo)!r}; accepted keywords: {', '.join(_ADAPTER_REPO_KWARGS)}"
            )
        kwargs = {key: value for key, value in kwargs.items() if key not in _AUTO_CLASS_INTERNALS}
        kwargs.update(adapter_kwargs)  # the adapter repository's revision when AutoModel resolved it
        return SamPtxPeftModel.from_adapter_repo(adapter_repo, **kwargs)


# Arguments transformers' AutoModel and pipeline add on their way to `from_pretrained`.
_AUTO_CLASS_INTERNALS = ("adapter_kwargs", "trust_remote_code", "code_revision", "_from_auto", "_from_pipeline")
_ADAPTER_REPO_KWARGS = ("adapter_name", "is_trainable", "config", "dtype", *HUB_KWARGS)


class SamPtxPeftModel(PeftModel):
    """A `PeftModel` around [`SamPtxForTextSegmentation`] that reads and writes whole adapter repositories.

    What `SamPtxForTextSegmentation.from_pretrained` and `AutoModel.from_pretrained` return for an adapter
    repository. It is a `PeftModel` in every respect (adapters, `disable_adapter`, `merge_and_unload`, training with
    `is_trainable=True`); in addition `save_pretrained` and `push_to_hub` write the complete repository (adapter
    weights and config, `config.json`, processor, model card) instead of peft's adapter files alone, so that what was
    loaded, or further trained, can be shared and loaded again.

    Attributes:
        processor ([`SamPtxProcessor`]): The processor loaded with the repository; saved with the model.
        eval_results (`dict`, *optional*): The repository's `eval_results.json`. Saved with the model while the
            adapter weights are the ones loaded; dropped, with a warning, once they have changed (the results would
            no longer describe the model). Set it, or pass `eval_results=` when saving, after a new evaluation.
        dataset_name (`str`, *optional*): The dataset the repository's card names.
    """

    processor: SamPtxProcessor | None = None
    eval_results: dict[str, Any] | None = None
    dataset_name: str | None = None
    _loaded_from: str | None = None
    _loaded_weights_digest: str | None = None

    @classmethod
    def from_adapter_repo(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        adapter_name: str = "default",
        is_trainable: bool = False,
        config: SamPtxConfig | None = None,
        dtype: str | torch.dtype | None = None,
        **hub_kwargs: Any,
    ) -> "SamPtxPeftModel":
        """Rebuild a trained SAM-PTx model from an adapter repository: frozen components, then the adapters.

        1. Read `config.json` ([`SamPtxConfig`]) from the repository, unless `config` is given.
        2. Load the frozen SAM and CLIP from the ids (or directories) it names, with
           [`SamPtxForTextSegmentation.from_pretrained_components`].
        3. Load the adapters and the trained mask decoder with peft (`PeftModel.from_pretrained`), adapter active;
           then the processor, evaluation results and dataset name saved with them.

        Args:
            pretrained_model_name_or_path: A local directory or a Hub id, e.g. `"user/sam-ptx-cod10k"`.
            adapter_name: Name given to the loaded adapter.
            is_trainable: Load the adapter trainable (to continue training) instead of in inference mode.
            config: The [`SamPtxConfig`] to build the model from, instead of the repository's `config.json`.
            dtype: Cast the loaded model to this dtype (`torch.bfloat16` or `"bfloat16"`); `None` or `"auto"` keeps
                the stored float32.
            hub_kwargs: `cache_dir`, `token`, `revision`, `local_files_only`, `force_download`, `proxies`,
                `subfolder` for the adapter repository (the frozen components get the same access options).

        Returns:
            The model, in eval mode unless `is_trainable`.

        Raises:
            OSError: When the repository lacks `config.json` or `adapter_model.safetensors` (only safetensors weights
                are loaded), or a frozen component cannot be found.
            TypeError: On a keyword that is not a Hub argument, or a `config` that is not a `SamPtxConfig`.
            ValueError: On a `dtype` that is not a torch floating-point dtype.
        """
        unknown = sorted(set(hub_kwargs) - set(HUB_KWARGS))
        if unknown:
            raise TypeError(
                f"{unknown} cannot be used when loading the adapter repository "
                f"{os.fspath(pretrained_model_name_or_path)!r}; accepted: {', '.join(_ADAPTER_REPO_KWARGS)}"
            )
        if config is not None and not isinstance(config, SamPtxConfig):
            raise TypeError(f"config must be a SamPtxConfig, got {type(config).__name__}")
        dtype = _torch_dtype(dtype)
        lookup = {key: value for key, value in hub_kwargs.items() if value is not None}
        model_id = os.fspath(pretrained_model_name_or_path)
        weights = cached_file(model_id, ADAPTER_WEIGHTS_NAME, _raise_exceptions_for_missing_entries=False, **lookup)
        if weights is None:
            raise OSError(
                f"{model_id!r} has {ADAPTER_CONFIG_NAME} but no {ADAPTER_WEIGHTS_NAME}: SAM-PTx loads adapter weights "
                "only from safetensors (re-save the adapter with save_pretrained(..., safe_serialization=True))"
            )

        # 1. The configuration names the frozen components.
        config = config if config is not None else SamPtxConfig.from_pretrained(model_id, **lookup)
        # 2. Frozen SAM and CLIP, with this repository's SAM-PTx options (template, text injection, ...). The
        #    revision names this repository's commit; the access options carry over to the components.
        options = {name: getattr(config, name) for name in _samptx_options()}
        access = ("token", "cache_dir", "local_files_only", "proxies")
        component_kwargs = {key: value for key, value in lookup.items() if key in access}
        base = SamPtxForTextSegmentation.from_pretrained_components(
            config.sam_model_name_or_path, config.text_model_name_or_path, hub_kwargs=component_kwargs, **options
        )
        # 3. Adapters and trained decoder, through peft (`cls` makes peft build this class).
        peft_kwargs = {key: value for key, value in lookup.items() if key != "proxies"}
        model = cls.from_pretrained(base, model_id, adapter_name=adapter_name, is_trainable=is_trainable, **peft_kwargs)
        has_processor = cached_file(
            model_id, PROCESSOR_CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **lookup
        )
        model.processor = SamPtxProcessor.from_pretrained(model_id, **lookup) if has_processor else None
        model.eval_results, model.dataset_name = read_repository_metadata(model_id, **lookup)
        if dtype is not None:
            model = model.to(dtype)
        model._loaded_from = model_id
        model._loaded_weights_digest = model._adapter_weights_digest()
        return model if is_trainable else model.eval()

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        selected_adapters: list[str] | None = None,
        is_main_process: bool = True,
        processor: SamPtxProcessor | None = None,
        eval_results: Mapping[str, Any] | None = None,
        dataset_name: str | None = None,
        repo_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Write the complete adapter repository (see `samptx_hf.hub`), loadable again with `from_pretrained`.

        Args:
            save_directory: The folder to write; created if missing.
            safe_serialization: Must be True: adapter repositories hold safetensors weights only.
            selected_adapters: Named adapters to write; all by default.
            is_main_process: Write only when True (the main process of a distributed run).
            processor: The processor to save; by default the one loaded with the model (`self.processor`), else
                [`SamPtxProcessor.from_model`].
            eval_results: Evaluation results to write; by default `self.eval_results` while the adapter weights are
                the ones loaded.
            dataset_name: The dataset for the card; by default `self.dataset_name`.
            repo_id: The Hub id the card's usage examples load from; defaults to the folder name.

        Raises:
            ValueError: When `safe_serialization` is False.
            TypeError: On other keyword arguments.
        """
        if not safe_serialization:
            raise ValueError("safe_serialization=False: SAM-PTx adapter repositories hold safetensors weights only")
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} to SamPtxPeftModel.save_pretrained")
        if not is_main_process:
            return
        save_adapter_repo(
            self,
            save_directory,
            processor=processor if processor is not None else self.processor,
            selected_adapters=selected_adapters,
            repo_id=repo_id,
            **self._repository_metadata(eval_results, dataset_name),
        )

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload SAM-PTx adapter",
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        processor: SamPtxProcessor | None = None,
        eval_results: Mapping[str, Any] | None = None,
        dataset_name: str | None = None,
    ) -> CommitInfo:
        """Upload the complete adapter repository (as [`save_pretrained`] writes it) to `repo_id` in one commit.

        Creates the repository if needed (`private=`); `revision` is the branch, `create_pr` opens a pull request.
        `processor`, `eval_results`, `dataset_name` as for [`save_pretrained`].

        Returns:
            The `CommitInfo` of the upload.
        """
        return push_adapter_to_hub(
            self,
            repo_id,
            processor=processor if processor is not None else self.processor,
            private=private,
            token=token,
            commit_message=commit_message,
            revision=revision,
            create_pr=create_pr,
            **self._repository_metadata(eval_results, dataset_name),
        )

    def _repository_metadata(self, eval_results: Mapping[str, Any] | None, dataset_name: str | None) -> dict[str, Any]:
        """The results and dataset to write: the given ones, else those loaded while the weights are unchanged."""
        if eval_results is None and self.eval_results is not None:
            if self._adapter_weights_digest() == self._loaded_weights_digest:
                eval_results = self.eval_results
            else:
                logger.warning(
                    f"The adapter weights changed since they were loaded from {self._loaded_from!r}: its evaluation "
                    "results no longer describe this model and are not written (pass eval_results= to write new ones)"
                )
        return {"eval_results": eval_results, "dataset_name": dataset_name or self.dataset_name}

    def _adapter_weights_digest(self) -> str:
        """SHA-256 of the active adapter's weights as peft saves them (adapters and trained decoder)."""
        digest = hashlib.sha256()
        state_dict = get_peft_model_state_dict(self, adapter_name=self.active_adapter)
        for name in sorted(state_dict):
            digest.update(name.encode())
            digest.update(state_dict[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()


def _samptx_options() -> list[str]:
    """The fields of `SamPtxConfig` other than the frozen components' architectures and locations."""
    components = {"sam_config", "text_config", "sam_model_name_or_path", "text_model_name_or_path"}
    return [name for name in SamPtxConfig.__annotations__ if name not in components]


def _torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or dtype == "auto":
        return None
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is not a torch floating-point dtype, expected e.g. torch.bfloat16 or 'auto'")
    return resolved


__all__ = ["SamPtxForTextSegmentation", "SamPtxPeftModel", "SamPtxPreTrainedModel", "SamPtxSegmentationOutput"]
