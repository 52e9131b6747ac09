"""Semantic mIoU: every class of a vocabulary scored in every image, ADE20K's protocol.

For each image and each class, the prediction is the model's mask for the class name (empty when it answers absent)
and the reference is the class's union in the image (empty when the class is absent). Per class, intersections and
unions are summed over the images before dividing, so a class painted in an image that lacks it adds its pixels to
the union and lowers the class's IoU (a false positive), while a class neither present nor painted anywhere has a
zero union and is left out of the mean.
"""

from typing import Any

import numpy as np

from samptx_hf.evaluation.metrics._masks import check_same_shape, to_binary_mask, to_numpy_2d


class SemanticIoU:
    """Accumulates (image, class) predictions and references into per-class intersection and union, in pixels.

    Example:
        >>> import numpy as np
        >>> metric = SemanticIoU()
        >>> metric.add(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]), "cat")  # I 1, U 2
        >>> metric.add(np.array([[0, 0], [1, 1]]), np.zeros((2, 2)), "cat")  # painted, absent: I 0, U 2
        >>> metric.compute()["semantic_mean_iou"]
        0.25
    """

    def __init__(self) -> None:
        self.intersection: dict[str, int] = {}  # class name -> pixels, summed over images
        self.union: dict[str, int] = {}  # class name -> pixels, summed over images
        self.num_pairs = 0

    def add(self, prediction: Any, reference: Any, class_name: str) -> None:
        """Add one (image, class) pair.

        Args:
            prediction: The predicted `(height, width)` binary mask (bool or 0/1; empty when the answer is absent).
            reference: The class's union in the image, same shape (empty when the class is absent).
            class_name: The class.

        Raises:
            ValueError: On a mask that is not 2-D or not binary, masks of different shapes, or a class name that is
                not a str.
        """
        if not isinstance(class_name, str):
            raise ValueError(f"class_name is {class_name!r}, expected a str")
        prediction = to_binary_mask(to_numpy_2d(prediction, "prediction"), "prediction")
        reference = to_binary_mask(to_numpy_2d(reference, "reference"), "reference")
        check_same_shape(prediction, reference, self.num_pairs)
        self.intersection[class_name] = self.intersection.get(class_name, 0) + int(
            np.count_nonzero(prediction & reference)
        )
        self.union[class_name] = self.union.get(class_name, 0) + int(np.count_nonzero(prediction | reference))
        self.num_pairs += 1

    def compute(self) -> dict[str, Any]:
        """The semantic mIoU over the pairs added so far.

        Returns:
            `{"semantic_mean_iou": float, "per_class_iou": {class_name: float}, "num_pairs": int}`: `per_class_iou`
            holds the classes with a non-zero summed union (sorted by name), `semantic_mean_iou` is their mean; 1.0
            when no class has a union (nothing to find and nothing painted, `MeanIoU`'s empty-union convention).

        Raises:
            ValueError: Before any pair was added.
        """
        if self.num_pairs == 0:
            raise ValueError("no (image, class) pair to compute the semantic mIoU on: call add first")
        per_class_iou = {
            name: self.intersection[name] / self.union[name] for name in sorted(self.union) if self.union[name] > 0
        }
        return {
            "semantic_mean_iou": float(np.mean(list(per_class_iou.values()))) if per_class_iou else 1.0,
            "per_class_iou": per_class_iou,
            "num_pairs": self.num_pairs,
        }
