"""Training augmentation of an image and its masks with one draw, through kornia.

The authors' list (their training scripts, arXiv 2605.24807): horizontal and vertical flips, a random resized crop
(scale 0.7-1.0), an affine warp (±30°, scale 0.8-1.2, shear ±10°), colour jitter (brightness, contrast, saturation
0.4, hue 0.1), a Gaussian blur and a 64-pixel cutout. The masks follow the geometric operations (nearest
neighbour, so they stay binary) and not the colour ones (jitter, blur, cutout). The probability of each operation
is not published; each here applies with probability `probability` (0.5).
"""

from collections.abc import Sequence

import numpy as np
import torch

CUTOUT_SIZE = 64  # pixels, square


class PairedAugmentation:
    """Augments an image and its masks with the same random draw, seeded per call (so a row's augmentation does not
    depend on the process, the worker or a resume).

    Args:
        probability (`float`, defaults to 0.5): Probability of each operation, in (0, 1].
        cutout_size (`int`, defaults to 64): Side of the square cut out of the image, in pixels.

    Example:

    ```python
    >>> import numpy as np
    >>> from samptx_hf.data.augmentation import PairedAugmentation
    >>> image, mask = np.zeros((80, 100, 3), dtype=np.uint8), np.zeros((80, 100), dtype=bool)
    >>> new_image, (new_mask,) = PairedAugmentation()(image, [mask], seed=0)
    >>> new_image.shape, new_image.dtype, new_mask.shape, new_mask.dtype
    ((80, 100, 3), dtype('uint8'), (80, 100), dtype('bool'))
    ```
    """

    def __init__(self, probability: float = 0.5, cutout_size: int = CUTOUT_SIZE) -> None:
        if not 0 < probability <= 1:
            raise ValueError(f"probability={probability!r}, expected a probability in (0, 1]")
        if cutout_size < 1:
            raise ValueError(f"cutout_size={cutout_size!r}, expected a positive number of pixels")
        self.probability = float(probability)
        self.cutout_size = int(cutout_size)

    def pipeline(self, height: int, width: int):
        """The kornia `AugmentationSequential` for an image of `height` × `width` (the crop keeps that size; the
        cutout is `cutout_size` pixels square, at most half the shorter side)."""
        import kornia.augmentation as K

        p = self.probability
        side = min(self.cutout_size, max(1, min(height, width) // 2))
        cutout_area = side**2 / (height * width)
        return K.AugmentationSequential(
            K.RandomHorizontalFlip(p=p),
            K.RandomVerticalFlip(p=p),
            K.RandomResizedCrop((height, width), scale=(0.7, 1.0), p=p),
            K.RandomAffine(degrees=30.0, scale=(0.8, 1.2), shear=10.0, p=p),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=p),
            K.RandomGaussianBlur((5, 5), (0.1, 2.0), p=p),
            K.RandomErasing(scale=(cutout_area, cutout_area), ratio=(1.0, 1.0), p=p),
            data_keys=["input", "mask"],
        )

    def __call__(
        self, image: np.ndarray, masks: Sequence[np.ndarray], seed: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`image` (height, width, 3) uint8 and `masks` (each (height, width)) augmented alike; returns the image as
        uint8 and the masks as booleans, at the same size."""
        height, width = image.shape[:2]
        pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255  # (1, 3, h, w)
        stacked = torch.from_numpy(np.stack([np.asarray(mask, dtype=np.float32) for mask in masks]))[None]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pixels, stacked = self.pipeline(height, width)(pixels, stacked)
        augmented = (pixels[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        return augmented, [mask > 0.5 for mask in stacked[0].numpy()]
