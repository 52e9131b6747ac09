"""`OnnxPredictor`: [`SamPtxPredictor`]'s `set_image` / `predict` on an ONNX export, with onnxruntime and numpy only.

The same three costs, paid once each, as the PyTorch predictor:

- `set_image`: the image is preprocessed (`samptx_hf.onnx.processing`) and the `trunk` graph runs on it (the image
  encoder's blocks before the first one that reads the text).
- the first `predict` of a class: its text embedding (a row of `class_embeddings.npy`, or the `text_encoder` graph on
  the tokenized prompt) and the `image_encoder` graph on the trunk and that text; kept in a memory-bounded cache,
  least recently used out.
- every `predict`: the `decoder` graph (`decoder_multimask` for SAM's three masks).

This module imports neither torch nor transformers: a deployment needs `onnxruntime`, `numpy` and `pillow` (and
`tokenizers` for class names outside the export's `--classes`).
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..inference.predictor_base import PromptPredictor, PromptRequest
from ..inference.results import PredictorCacheInfo, PredictorResult, results_from_logits
from ..modeling.lru_cache import LruBytesCache, check_max_bytes
from ..processing.class_prompts import format_prompts
from ..processing.input_checks import (
    NOT_A_POINT_LABEL,
    check_box,
    image_fingerprint,
    load_image,
    mask_prompts,
)
from . import layout as export_layout
from .layout import ExportLayout, decoder_prompt
from .processing import (
    check_image_size,
    check_points,
    preprocess_image,
    scale_coordinates,
    upscale_masks,
)

DEFAULT_CACHE_BYTES = 1 << 30  # 1 GiB, as SamPtxPredictor's


# The results of the PyTorch predictor, which are torch-free: the same fields, the same classes.
OnnxPredictorResult = PredictorResult
OnnxPredictorCacheInfo = PredictorCacheInfo


_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
_ONNX_TYPES.update({"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_})


class _Graph:
    """One graph of the export on onnxruntime, fed by name, each input cast to the type the graph declares."""

    def __init__(self, folder: str, spec: export_layout.GraphSpec, providers: Sequence[str] | None) -> None:
        import onnxruntime

        path = os.path.join(folder, spec.file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder} holds no {spec.file}, which its config.json names: export it again")
        self.session = onnxruntime.InferenceSession(path, providers=list(providers) if providers else None)
        self.input_types = {value.name: _ONNX_TYPES.get(value.type) for value in self.session.get_inputs()}
        self.outputs = [value.name for value in self.session.get_outputs()]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = sorted(set(self.input_types) - set(feeds))
        if missing:
            raise ValueError(f"the graph's inputs {missing} were not given (given: {sorted(feeds)})")
        arrays = {
            name: np.ascontiguousarray(feeds[name], dtype=dtype) if dtype is not None else feeds[name]
            for name, dtype in self.input_types.items()
        }
        return dict(zip(self.outputs, self.session.run(self.outputs, arrays), strict=True))


def _nbytes(arrays: dict[str, np.ndarray]) -> int:
    return sum(array.nbytes for array in arrays.values())


class OnnxPredictor(PromptPredictor):
    """Segment classes and clicks on one image at a time from an ONNX export, the image encoded once and each class
    once: [`SamPtxPredictor`]'s API and answers, without torch.

    Args:
        export_dir: A folder written by `samptx export` (its `config.json` says which graph takes what).
        providers: onnxruntime execution providers, e.g. `["CUDAExecutionProvider", "CPUExecutionProvider"]`; by
            default onnxruntime's.
        max_cache_bytes: Memory the trunk and the classes' image embeddings may take, in bytes; the least recently
            used classes are dropped beyond it.

    Example:

    ```py
    >>> predictor = OnnxPredictor("exported/")  # doctest: +SKIP
    >>> predictor.set_image("fish.jpg")  # doctest: +SKIP
    >>> first = predictor.predict("batfish", points=[(320, 240)])  # doctest: +SKIP
    >>> [r.presence for r in predictor.predict(["batfish", "diver"])]  # no point: every X, or none  # doctest: +SKIP
    [0.97, 0.02]
    ```

    Raises:
        FileNotFoundError: When `export_dir` holds no `config.json` or lacks a graph it names.
        ValueError: On an export of another format, or a `max_cache_bytes` that is not a positive integer.
        ImportError: When onnxruntime is not installed.
    """

    def __init__(
        self,
        export_dir: str | os.PathLike,
        providers: Sequence[str] | None = None,
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        check_max_bytes(max_cache_bytes)
        try:
            import onnxruntime  # noqa: F401
        except ImportError as error:
            raise ImportError("OnnxPredictor needs onnxruntime: pip install onnxruntime") from error
        self.export_dir = os.fspath(export_dir)
        self.layout = ExportLayout.load(self.export_dir)
        graphs = self.layout.graphs
        self._trunk_graph = (
            _Graph(self.export_dir, graphs[export_layout.TRUNK], providers) if self.layout.has_trunk else None
        )
        self._image_encoder = _Graph(self.export_dir, graphs[export_layout.IMAGE_ENCODER], providers)
        self._decoders = {
            False: _Graph(self.export_dir, graphs[export_layout.DECODER], providers),
            True: _Graph(self.export_dir, graphs[export_layout.DECODER_MULTIMASK], providers),
        }
        self._providers = providers
        self._text_encoder: _Graph | None = None  # loaded on the first class outside class_embeddings.npy
        self._tokenizer: Any = None
        self._class_rows = {name: row for row, name in enumerate(self.layout.class_names)}
        self._class_embeddings_table = self.layout.read_class_embeddings(self.export_dir)
        self._text_embeds: dict[str, np.ndarray] = {}
        self._class_features: LruBytesCache[dict[str, np.ndarray]] = LruBytesCache(
            max_cache_bytes, _nbytes, self._trunk_bytes
        )
        self.reset_image()

    # ------------------------------------------------------------------------------------------------ the image

    def set_image(self, image: Any) -> None:
        """Preprocess `image` (a path, PIL image or RGB uint8 array) and run the `trunk` graph on it.

        Forgets the previous image and its classes. Setting the same image again keeps them.

        Raises:
            FileNotFoundError, ValueError: On a missing or unreadable image, or one the model cannot take (empty, or
                for SAM too elongated for its input), with [`SamPtxPredictor.set_image`]'s messages.
        """
        pil_image = load_image(image)
        fingerprint = image_fingerprint(pil_image)
        if fingerprint == self._image_fingerprint:
            return
        preprocessing = self.layout.preprocessing
        check_image_size((pil_image.height, pil_image.width), preprocessing.image_size, preprocessing.pad)
        self.reset_image()
        pixel_values, original_size, reshaped_size = preprocess_image(
            pil_image,
            preprocessing.image_size,
            preprocessing.image_mean,
            preprocessing.image_std,
            preprocessing.rescale_factor,
            pad=preprocessing.pad,
        )
        if self._trunk_graph is not None:
            self._trunk = self._trunk_graph({"pixel_values": pixel_values})  # (1, ...) per output
        else:
            self._trunk = {"pixel_values": pixel_values}
        self._original_size, self._reshaped_size = original_size, reshaped_size
        self._image_fingerprint = fingerprint

    def reset_image(self) -> None:
        """Forget the image, its trunk and its classes' embeddings."""
        self._trunk: dict[str, np.ndarray] | None = None
        self._original_size: tuple[int, int] | None = None
        self._reshaped_size: tuple[int, int] | None = None
        self._image_fingerprint: str | None = None
        self._class_features.clear()

    # ------------------------------------------------------------------------------------------------ prompts

    def _predict(self, request: PromptRequest) -> list[PredictorResult]:
        coords, labels = self._decoder_prompt(request.points, request.point_labels, request.box)
        rows = len(request.class_names)
        masks = mask_prompts(request.mask_input, rows, request.single, self.layout.low_res_mask_size)
        features = self._image_features(request.class_names)
        decoder = self._decoders[request.multimask_output]
        feeds = {
            **features,
            "input_points": np.broadcast_to(coords, (rows, 1, *coords.shape)),  # (rows, 1, n, 2)
            "input_labels": np.broadcast_to(labels, (rows, 1, *labels.shape)),  # (rows, 1, n)
            "mask_input": masks if masks is not None else np.zeros((rows, 1, *self._mask_shape), np.float32),
            "has_mask_input": np.full((rows,), 1.0 if masks is not None else 0.0, dtype=np.float32),
        }
        if self.layout.decoder_reads_text:
            feeds["text_embeds"] = self._text_embeddings(request.class_names)
        outputs = decoder({name: feeds[name] for name in decoder.input_types})
        return self._results(outputs, request.class_names, request.threshold, request.presence_threshold)

    def cache_info(self) -> PredictorCacheInfo:
        """The memory the trunk and the classes take, and how often a class was found cached."""
        return PredictorCacheInfo(
            trunk_bytes=self._trunk_bytes(),
            class_embeddings_bytes=self._class_features.nbytes(),
            classes=len(self._class_features),
            hits=self.hits,
            misses=self.misses,
            max_bytes=self.max_cache_bytes,
        )

    # ------------------------------------------------------------------------------------------------ internals

    @property
    def max_cache_bytes(self) -> int:
        """Memory the trunk and the cached classes may take, in bytes; settable."""
        return self._class_features.max_bytes

    @max_cache_bytes.setter
    def max_cache_bytes(self, max_bytes: int) -> None:
        self._class_features.max_bytes = check_max_bytes(max_bytes)

    @property
    def hits(self) -> int:
        """How many class look-ups were answered from the cache."""
        return self._class_features.hits

    @property
    def misses(self) -> int:
        """How many classes' features were computed."""
        return self._class_features.misses

    @property
    def _mask_shape(self) -> tuple[int, int]:
        return self.layout.low_res_mask_size, self.layout.low_res_mask_size

    def _trunk_bytes(self) -> int:
        return _nbytes(self._trunk) if getattr(self, "_trunk", None) is not None else 0

    def _decoder_prompt(
        self, points: Any, point_labels: Any, box: Any
    ) -> tuple[np.ndarray, np.ndarray]:  # (n, 2) float32, (n,) int64
        """The prompt as the decoder graph's points: checked and scaled as `SamPtxProcessor.encode_prompts` does,
        the class name alone SAM's "not a point" (as [`text_only_prompt`])."""
        if point_labels is not None and points is None:
            raise ValueError("input_labels were given without input_points")
        scaled_points = scaled_box = labels = None
        if points is not None:
            checked, labels = check_points(points, point_labels, self._original_size)
            scaled_points = scale_coordinates(checked, self._original_size, self._reshaped_size)
        if box is not None:
            scaled_box = scale_coordinates(
                check_box(box, self._original_size), self._original_size, self._reshaped_size
            )
        if points is None and box is None:
            scaled_points = np.zeros((1, 2), dtype=np.float32)
            labels = np.array([NOT_A_POINT_LABEL], dtype=np.int64)
        return decoder_prompt(self.layout.base, scaled_points, labels, scaled_box)

    def _image_features(self, class_names: list[str]) -> dict[str, np.ndarray]:
        """The decoder's image inputs of each row's class (`image_embeddings`, + SAM 2's high-resolution features):
        cached ones, the missing ones computed in one batch. Without text in the image encoder, one entry serves
        every class."""
        reads_text = self.layout.image_encoder_reads_text
        keys = class_names if reads_text else [""] * len(class_names)

        def compute(missing: list[int]) -> list[dict[str, np.ndarray]]:
            feeds = {name: np.repeat(value, len(missing), axis=0) for name, value in self._trunk.items()}
            if reads_text:
                feeds["text_embeds"] = self._text_embeddings([class_names[row] for row in missing])
            outputs = self._image_encoder(feeds)
            return [
                {name: value[index : index + 1] for name, value in outputs.items()} for index in range(len(missing))
            ]

        rows = self._class_features.get_or_compute(keys, compute)
        return {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}

    def _text_embeddings(self, class_names: list[str]) -> np.ndarray:
        """`(rows, text_dim)` text embeddings: rows of `class_embeddings.npy`, else the text-encoder graph's."""
        unknown = [name for name in dict.fromkeys(class_names) if name not in self._text_embeds]
        from_table = [name for name in unknown if name in self._class_rows]
        for name in from_table:
            self._text_embeds[name] = self._class_embeddings_table[self._class_rows[name]].astype(np.float32)
        to_encode = [name for name in unknown if name not in self._class_rows]
        if to_encode:
            for name, embedding in zip(to_encode, self._encode_text(to_encode), strict=True):
                self._text_embeds[name] = embedding
        return np.stack([self._text_embeds[name] for name in class_names])

    def _encode_text(self, class_names: list[str]) -> np.ndarray:
        """The text-encoder graph on the class names' prompts, tokenized by the export's `tokenizer.json`."""
        layout = self.layout
        if export_layout.TEXT_ENCODER not in layout.graphs or layout.tokenizer_file is None:
            known = ", ".join(repr(name) for name in layout.class_names) or "none"
            raise ValueError(
                f"class {class_names[0]!r} is not among the export's classes ({known}) and the export has no text "
                "encoder: export again with the class in --classes, or with the text encoder for open vocabularies"
            )
        if self._text_encoder is None:
            try:
                from tokenizers import Tokenizer
            except ImportError as error:
                raise ImportError(
                    f"class {class_names[0]!r} is not in class_embeddings.npy: encoding it needs the tokenizers "
                    "package (pip install tokenizers)"
                ) from error
            self._tokenizer = Tokenizer.from_file(os.path.join(self.export_dir, layout.tokenizer_file))
            self._tokenizer.no_padding()
            self._tokenizer.enable_truncation(layout.max_text_length)
            graph_spec = layout.graphs[export_layout.TEXT_ENCODER]
            self._text_encoder = _Graph(self.export_dir, graph_spec, self._providers)
        encodings = self._tokenizer.encode_batch(format_prompts(class_names, layout.prompt_template))
        length = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.full((len(encodings), length), layout.pad_token_id, dtype=np.int64)  # (prompts, length)
        attention_mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        outputs = self._text_encoder({"input_ids": input_ids, "attention_mask": attention_mask})
        return outputs["text_embeds"].astype(np.float32)

    def _results(
        self,
        outputs: dict[str, np.ndarray],
        class_names: list[str],
        threshold: float,
        presence_threshold: float,
    ) -> list[PredictorResult]:
        """One result per row (`samptx_hf.inference.results.results_from_logits`, as every front-end)."""
        low_res = outputs["low_res_masks"][:, 0].astype(np.float32)  # (rows, num_masks, size, size)
        scores = outputs["iou_scores"][:, 0].astype(np.float32)  # (rows, num_masks)
        presences = None
        if "presence_logits" in outputs:
            logits = outputs["presence_logits"][:, 0, 0].astype(np.float64)
            presences = (1.0 / (1.0 + np.exp(-logits))).tolist()
        pad_size = self.layout.preprocessing.image_size if self.layout.preprocessing.pad else None
        upsampled = upscale_masks(low_res, self._original_size, self._reshaped_size, pad_size)  # (rows, masks, h, w)
        return results_from_logits(
            upsampled, scores, class_names, threshold, presences, presence_threshold, low_res_logits=low_res
        )


__all__ = ["DEFAULT_CACHE_BYTES", "OnnxPredictor", "OnnxPredictorCacheInfo", "OnnxPredictorResult"]
