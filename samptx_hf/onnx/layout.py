"""What an ONNX export folder holds and which graph takes what: `config.json` as a dataclass.

An export of a SAM-PTx model (`samptx export`, [`samptx_hf.onnx.export.export_model`]) is a folder:

- `trunk.onnx` (only when the first text-reading block is not the first block): `pixel_values` ->
  `trunk_hidden_states` (+ SAM 2: the finished stages, `trunk_stage_0`, ...), once per image.
- `image_encoder.onnx`: `pixel_values` or the trunk's outputs (+ `text_embeds` when the adapters read the text) ->
  `image_embeddings` (+ SAM 2: `high_res_feats_0`, `high_res_feats_1`), once per (image, class) row.
- `decoder.onnx` (one mask per prompt), `decoder_multimask.onnx` (SAM's three): `image_embeddings` (+ SAM 2's two),
  `input_points`, `input_labels`, `mask_input`, `has_mask_input` (+ `text_embeds` for the decoder baselines) ->
  `low_res_masks`, `iou_scores` (+ `presence_logits`).
- `text_encoder.onnx` + `tokenizer.json`: `input_ids`, `attention_mask` -> `text_embeds`.
- `class_embeddings.npy`: `(classes, text_dim)` float32, row i = `class_names[i]`.

Every graph has a dynamic batch ("rows": one per (image, class) pair; the trunk's per image) and the decoder dynamic
point batches and point counts. `text_embeds` are what the model feeds its adapters and decoder: the CLIP projection,
L2-normalised when `normalize_text_embeds` (the text-encoder graph outputs them that way too).

The decoder takes every prompt as points (see [`decoder_prompt`]): a box is two corner points labelled 2 and 3, and
the padding points the model adds itself are explicit. This module imports neither torch nor transformers.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..processing.input_checks import NOT_A_POINT_LABEL

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CLASS_EMBEDDINGS_FILE = "class_embeddings.npy"
TOKENIZER_FILE = "tokenizer.json"

# Graph roles, the keys of `ExportLayout.graphs`.
TRUNK = "trunk"
IMAGE_ENCODER = "image_encoder"
DECODER = "decoder"
DECODER_MULTIMASK = "decoder_multimask"
TEXT_ENCODER = "text_encoder"
GRAPH_ROLES = (TRUNK, IMAGE_ENCODER, DECODER, DECODER_MULTIMASK, TEXT_ENCODER)

BASES = ("sam", "sam2")
TEXT_INJECTIONS = ("parallel_text", "none", "prompt_encoder", "mask_decoder")
RESIZE_MODES = ("longest_side", "square")

# Point labels of the decoder graph's `input_labels`.
BACKGROUND_LABEL = 0
FOREGROUND_LABEL = 1
BOX_TOP_LEFT_LABEL = 2
BOX_BOTTOM_RIGHT_LABEL = 3


@dataclass
class ImagePreprocessing:
    """How an image becomes `pixel_values`, as `SamPtxProcessor.from_model(model)` does it for the base.

    Args:
        image_size (`int`): Side of the square `pixel_values` (1024 for the released models).
        resize (`str`): `"longest_side"` (SAM: the longest side resized to `image_size`, aspect kept) or `"square"`
            (SAM 2: resized to `image_size` x `image_size`).
        resample (`str`): The interpolation, `"bilinear"`.
        rescale_factor (`float`): Multiplies the 8-bit values (1 / 255).
        image_mean, image_std (`list[float]`): Per-channel normalisation after rescaling.
        pad (`bool`): Whether the resized image is padded with zeros bottom-right to the square (SAM).
    """

    image_size: int
    resize: str
    resample: str = "bilinear"
    rescale_factor: float = 1 / 255
    image_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    image_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pad: bool = True

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"preprocessing resize={self.resize!r} is not one of {list(RESIZE_MODES)}")
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"preprocessing image_size={self.image_size!r} must be a positive integer")
        for name in ("image_mean", "image_std"):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) != 3:
                raise ValueError(f"preprocessing {name}={values!r} must be a list of 3 numbers (one per channel)")


@dataclass
class GraphSpec:
    """One ONNX graph of the export.

    Args:
        file (`str`): Its file name in the export folder.
        inputs (`list[str]`): Its input names, in order.
        outputs (`list[str]`): Its output names, in order.
    """

    file: str
    inputs: list[str]
    outputs: list[str]


@dataclass
class ExportLayout:
    """The `config.json` of an export folder: the model it came from, its preprocessing and its graphs.

    Args:
        base (`str`): `"sam"` or `"sam2"`.
        method (`str`): The SAM-PTx method (`parallel_text`, `parallel_adapter`, `decoder_only`,
            `text_prompt_encoder`, `text_mask_decoder`), as the model's adapters and text injection make it.
        text_injection (`str`): Where the text enters: `"parallel_text"` (the image encoder's adapters, graph
            `image_encoder` takes `text_embeds`), `"prompt_encoder"` / `"mask_decoder"` (the decoder graphs take it)
            or `"none"` (no graph takes it).
        first_text_block (`int`): The first image-encoder block that reads the text (`num_blocks` when none does):
            the `trunk` graph runs the blocks before it, once per image.
        num_blocks (`int`): The image encoder's blocks.
        presence_head (`bool`): Whether the decoder graphs output `presence_logits` (rows, point_batch, 1).
        preprocessing ([`ImagePreprocessing`]): How images become `pixel_values`.
        mask_threshold (`float`): Mask logits above it are foreground (0.0).
        low_res_mask_size (`int`): Side of `low_res_masks` and of `mask_input` (256 for the released models).
        image_embedding_shape (`list[int]`): `(channels, h, w)` of `image_embeddings`.
        text_dim (`int`): Width of `text_embeds`.
        normalize_text_embeds (`bool`): Whether the model L2-normalises the CLIP projection (the text-encoder graph
            and `class_embeddings.npy` already are).
        prompt_template (`str`): Class name -> prompt for the tokenizer (`"a photo of a {}"`).
        graphs (`dict[str, GraphSpec]`): By role: `trunk` (optional), `image_encoder`, `decoder`,
            `decoder_multimask` (SAM's three masks per prompt), `text_encoder` (optional).
        opset (`int`): The ONNX opset of every graph.
        exporter (`str`): `"torch.onnx.export(dynamo=True)"` or `"torch.onnx.export(dynamo=False)"`.
        class_names (`list[str]`): The rows of `class_embeddings.npy`; empty when there is none.
        tokenizer_file (`str`, *optional*): The `tokenizers` file of the text encoder, when it is exported.
        max_text_length (`int`): The text encoder's context (77 for CLIP).
        pad_token_id (`int`): Token that pads shorter prompts (attention mask 0).
        quantization (`str`, *optional*): `"int8"` when the graphs' weights are int8 (dynamic quantization).
        format_version (`int`): Of this layout.
    """

    base: str
    method: str
    text_injection: str
    first_text_block: int
    num_blocks: int
    presence_head: bool
    preprocessing: ImagePreprocessing
    mask_threshold: float
    low_res_mask_size: int
    image_embedding_shape: list[int]
    text_dim: int
    normalize_text_embeds: bool
    prompt_template: str
    graphs: dict[str, GraphSpec]
    opset: int
    exporter: str
    class_names: list[str] = field(default_factory=list)
    tokenizer_file: str | None = None
    max_text_length: int = 77
    pad_token_id: int = 0
    quantization: str | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.base not in BASES:
            raise ValueError(f"export base={self.base!r} is not one of {list(BASES)}")
        if self.text_injection not in TEXT_INJECTIONS:
            raise ValueError(f"export text_injection={self.text_injection!r} is not one of {list(TEXT_INJECTIONS)}")
        if not 0 <= self.first_text_block <= self.num_blocks:
            raise ValueError(
                f"export first_text_block={self.first_text_block} must lie in 0..num_blocks={self.num_blocks}"
            )
        for role in (IMAGE_ENCODER, DECODER, DECODER_MULTIMASK):
            if role not in self.graphs:
                raise ValueError(f"export graphs lack {role!r}: got {sorted(self.graphs)}")
        unknown = sorted(set(self.graphs) - set(GRAPH_ROLES))
        if unknown:
            raise ValueError(f"export graphs {unknown} are not among {list(GRAPH_ROLES)}")

    @property
    def has_trunk(self) -> bool:
        """Whether the image encoder is split into a per-image `trunk` and the per-class `image_encoder`."""
        return TRUNK in self.graphs

    @property
    def image_encoder_reads_text(self) -> bool:
        """Whether the `image_encoder` graph takes `text_embeds`."""
        return self.text_injection == "parallel_text"

    @property
    def decoder_reads_text(self) -> bool:
        """Whether the decoder graphs take `text_embeds`."""
        return self.text_injection in ("prompt_encoder", "mask_decoder")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExportLayout":
        """The layout of a parsed `config.json`; `ValueError` naming what is missing or of another format."""
        if not isinstance(data, dict):
            raise ValueError(f"an export config must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"export format_version={version!r}, this samptx_hf reads format {FORMAT_VERSION}: export the model "
                "again with this version"
            )
        data = dict(data)
        try:
            data["preprocessing"] = ImagePreprocessing(**data["preprocessing"])
            data["graphs"] = {role: GraphSpec(**spec) for role, spec in data["graphs"].items()}
            return cls(**data)
        except (KeyError, TypeError) as error:
            raise ValueError(f"export config is incomplete or has unknown fields: {error}") from None

    def save(self, folder: str | os.PathLike) -> str:
        """Write `config.json` into `folder`; returns its path."""
        path = os.path.join(folder, CONFIG_FILE)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_dict(), file, indent=2)
            file.write("\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "ExportLayout":
        """The layout of an export folder.

        Raises:
            FileNotFoundError: When `folder` holds no `config.json`.
            ValueError: When it is not an export config of this format (an adapter repository or a saved model is
                named as such, with the command that exports it).
        """
        path = os.path.join(folder, CONFIG_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder} holds no {CONFIG_FILE}: expected a folder written by `samptx export`")
        with open(path, encoding="utf-8") as file:
            try:
                data = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON: {error}") from None
        if isinstance(data, dict) and "format_version" not in data and "graphs" not in data:
            adapter = os.path.isfile(os.path.join(folder, "adapter_config.json"))
            if adapter or "model_type" in data:
                what = "an adapter repository" if adapter else f"a saved model (model_type {data.get('model_type')!r})"
                raise ValueError(
                    f"{os.fspath(folder)} is {what}, not an ONNX export: export it first with `samptx export "
                    f"--model {os.fspath(folder)} --output <export folder>`, then load the export folder"
                )
        return cls.from_dict(data)

    def read_class_embeddings(self, folder: str | os.PathLike) -> np.ndarray | None:
        """The `(len(class_names), text_dim)` float32 table of `folder/class_embeddings.npy`; None without classes.

        Raises:
            ValueError: When the file is missing, not a `.npy` array (a pickle, a truncated file) or of another shape
                or dtype; the message names the file and what was expected.
        """
        if not self.class_names:
            return None
        path = os.path.join(folder, CLASS_EMBEDDINGS_FILE)
        expected = (
            f"expected a float32 array of shape ({len(self.class_names)}, {self.text_dim}), one row per class of "
            f"config.json, as `samptx export` writes it (export the model again)"
        )
        try:
            table = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            reason = "missing" if isinstance(error, FileNotFoundError) else "not a NumPy .npy array"
            raise ValueError(f"{path} is {reason} ({' '.join(str(error).split())}): {expected}") from None
        if not isinstance(table, np.ndarray) or table.shape != (len(self.class_names), self.text_dim):
            raise ValueError(f"{path} holds an array of shape {getattr(table, 'shape', None)}: {expected}")
        if table.dtype != np.float32:
            raise ValueError(f"{path} holds {table.dtype} values: {expected}")
        return table


def decoder_prompt(
    base: str,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    box: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One prompt as the decoder graph's points: `(n, 2)` float32 coordinates and `(n,)` int64 labels.

    Reproduces what the model's prompt encoder does with `input_points` / `input_boxes`: the box becomes its two
    corners (labels 2 and 3) after the points, and the "not a point" padding (label -1) the model appends is added:

    - SAM: points alone get one padding point; a box none; nothing at all is no point (n = 0).
    - SAM 2: points alone get one padding point, a box one after its corners; nothing at all is two padding points.

    Several prompts of different lengths go into one `(rows, point_batch, n, 2)` batch padded with label -10.

    Args:
        base: `"sam"` or `"sam2"` (`ExportLayout.base`).
        points (`np.ndarray` of shape `(num_points, 2)`, *optional*): `(x, y)` in the resized frame.
        labels (`np.ndarray` of shape `(num_points,)`, *optional*): 1 foreground, 0 background; with `points`.
        box (`np.ndarray` of shape `(4,)`, *optional*): `(x1, y1, x2, y2)` in the resized frame.

    Raises:
        ValueError: On an unknown base, labels that do not match the points, or a box of another shape.
    """
    if base not in BASES:
        raise ValueError(f"base={base!r} is not one of {list(BASES)}")
    coords = np.zeros((0, 2), dtype=np.float32)
    point_labels = np.zeros((0,), dtype=np.int64)
    if points is not None:
        coords = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if labels is None:
            raise ValueError("points were given without labels: pass one label (1 foreground, 0 background) per point")
        point_labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if point_labels.shape[0] != coords.shape[0]:
            raise ValueError(f"{coords.shape[0]} points but {point_labels.shape[0]} labels: expected one per point")
    elif labels is not None:
        raise ValueError("labels were given without points")
    pad_point, pad_label = np.zeros((1, 2), dtype=np.float32), np.array([NOT_A_POINT_LABEL], dtype=np.int64)
    if box is not None:
        box = np.asarray(box, dtype=np.float32)
        if box.shape != (4,):
            raise ValueError(f"box must be (x1, y1, x2, y2), got shape {box.shape}")
        coords = np.concatenate([coords, box.reshape(2, 2)])
        point_labels = np.concatenate([point_labels, [BOX_TOP_LEFT_LABEL, BOX_BOTTOM_RIGHT_LABEL]])
        if base == "sam2":
            coords, point_labels = np.concatenate([coords, pad_point]), np.concatenate([point_labels, pad_label])
    elif points is not None or base == "sam2":
        if points is None:  # SAM 2's empty prompt: one "not a point", which the prompt encoder pads again
            coords, point_labels = pad_point, pad_label
        coords, point_labels = np.concatenate([coords, pad_point]), np.concatenate([point_labels, pad_label])
    return coords.astype(np.float32), point_labels.astype(np.int64)


__all__ = [
    "CLASS_EMBEDDINGS_FILE",
    "CONFIG_FILE",
    "DECODER",
    "DECODER_MULTIMASK",
    "FORMAT_VERSION",
    "IMAGE_ENCODER",
    "TEXT_ENCODER",
    "TOKENIZER_FILE",
    "TRUNK",
    "ExportLayout",
    "GraphSpec",
    "ImagePreprocessing",
    "decoder_prompt",
]
