"""The demo page's examples: images of the built-in whole-or-part task, each with both of its class names and a
point that both names concern (the body colour names the whole object, the part colour the part)."""

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..data.prompts import interior_point
from ..data.synthetic_parts import generate_parts_sample

EXAMPLE_MIN_SIDE = 384  # px
EXAMPLES_SEED = 1  # the held-out seed of the default training run: examples it did not train on


@dataclass
class DemoExample:
    """A bundled example: an image file, the class names it shows, and a point that both names concern."""

    image_path: Path
    class_names: tuple[str, ...]
    point: tuple[float, float]

    @property
    def class_text(self) -> str:
        """The class names as the page's text box takes them."""
        return ", ".join(self.class_names)


def write_examples(directory: str | Path, count: int = 3) -> list[DemoExample]:
    """Writes `count` images of the built-in task as PNGs into `directory`, for the page's examples.

    Each example names both colours of one composite, with a point on its part: the whole object and its part from
    one click, told apart by the name (see `samptx_hf.data.synthetic_parts`).

    Small images are enlarged by a whole factor (nearest neighbour) to at least `EXAMPLE_MIN_SIDE` pixels, so that
    the page shows them large enough to click on; SAM resizes its input anyway.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    examples = []
    for index in range(count):
        sample = generate_parts_sample(index, seed=EXAMPLES_SEED)
        image = Image.fromarray(sample.image)
        factor = max(1, math.ceil(EXAMPLE_MIN_SIDE / max(image.size)))
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
        path = directory / f"whole_or_part_{index}.png"
        image.save(path, format="PNG")
        x, y = interior_point(sample.part_mask)
        point = (float(x * factor + factor // 2), float(y * factor + factor // 2))  # the centre of the enlarged pixel
        examples.append(DemoExample(path, (sample.body_colour, sample.part_colour), point))
    return examples


__all__ = ["EXAMPLES_SEED", "EXAMPLE_MIN_SIDE", "DemoExample", "write_examples"]
