"""What every interactive predictor shares, torch-free: the `predict` call, its checks and its answer.

[`SamPtxPredictor`] (the model, in torch) and `samptx_hf.onnx.OnnxPredictor` (an export, over onnxruntime) answer the
same call with the same results and errors; each supplies `_predict`, the prompts through its own model.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..processing.input_checks import check_predict_arguments
from .results import PredictorResult


@dataclass(frozen=True)
class PromptRequest:
    """One `predict` call's arguments, checked: `class_names` a list, `single` when `text` was one name (so
    `mask_input` is one mask, not a list)."""

    class_names: list[str]
    points: Sequence[Sequence[float]] | None
    point_labels: Sequence[int] | None
    box: Sequence[float] | None
    mask_input: Any
    multimask_output: bool
    threshold: float
    presence_threshold: float
    single: bool


class PromptPredictor:
    """An image set once, then `predict` per class name and prompts; subclasses set `_trunk` and `_original_size`
    in `set_image` and implement `_predict`."""

    _trunk: Any = None
    _original_size: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self._trunk is not None

    @property
    def original_size(self) -> tuple[int, int] | None:
        """`(height, width)` of the image set, or None."""
        return self._original_size

    def predict(
        self,
        text: str | Sequence[str],
        points: Sequence[Sequence[float]] | None = None,
        point_labels: Sequence[int] | None = None,
        box: Sequence[float] | None = None,
        mask_input: Any = None,
        multimask_output: bool = False,
        threshold: float = 0.0,
        presence_threshold: float = 0.5,
    ) -> PredictorResult | list[PredictorResult]:
        """Segment what `text` names in the image set, at the given prompts, as [`segment`] would.

        Without points and a box the class name alone is the prompt (SAM's "not a point", as [`segment`] sends it):
        every instance of the class, and with a presence head its `presence`.

        Args:
            text: A class name, or a list of them (one result each, in order).
            points: `(x, y)` pixels of the original image; `point_labels` 1 (foreground, the default) or 0.
            box: `(x1, y1, x2, y2)` pixels of the original image.
            mask_input: The `low_res_logits` of an earlier result, `(1, size, size)` or `(size, size)`; with a list
                of class names, a list with one per name.
            multimask_output: Predict SAM's three masks and keep the best by predicted IoU (all in `masks`).
            threshold: Logit above which a pixel is in the mask.
            presence_threshold: Presence probability below which a class is absent and its masks empty; unused by a
                model without a presence head.

        Returns:
            A [`PredictorResult`] for a class name, a list of them for a list of names.

        Raises:
            RuntimeError: When no image was set.
            ValueError: On bad class names, prompts that are not numbers or lie outside the image, a `mask_input` of
                the wrong shape or with values that are not finite numbers, a NaN `threshold` or a
                `presence_threshold` outside [0, 1]; an export without a text encoder also refuses a class outside
                its `class_embeddings.npy`.
            TypeError: On a `threshold` or `presence_threshold` that is not a real number, or a `multimask_output`
                that is not a bool.
        """
        class_names, threshold, presence_threshold, multimask_output = check_predict_arguments(
            text, points, box, threshold, presence_threshold, multimask_output, self.is_image_set
        )
        single = isinstance(text, str)
        request = PromptRequest(
            class_names, points, point_labels, box, mask_input, multimask_output, threshold, presence_threshold, single
        )
        predictions = self._predict(request)
        return predictions[0] if single else predictions

    def _predict(self, request: PromptRequest) -> list[PredictorResult]:
        """One result per class name of `request`."""
        raise NotImplementedError


__all__ = ["PromptPredictor", "PromptRequest"]
