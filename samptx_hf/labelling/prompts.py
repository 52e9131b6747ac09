"""Point and box prompts for `samptx label --prompts FILE`: read, checked against the vocabulary, matched to images.

Two formats, told apart by their keys:

- a COCO instances file (`images`, `annotations`, `categories`): each annotation's `bbox` `[x, y, width, height]`
  becomes a box prompt for its category's name; its image is matched by `file_name` (the re-segmentation of a
  detector's boxes). Categories that no annotation uses need not be in the vocabulary.
- a JSON object `{"<file_name>": [{"class": "dog", "points": [[x, y], ...], "point_labels": [1, ...],
  "box": [x1, y1, x2, y2]}, ...]}`: points and/or a box per prompt, pixels of the original image; `point_labels`
  (1 foreground, 0 background) default to 1.

Keys and `file_name`s are the images' names in the output: paths relative to the `--images` folder, or the
`file_name`s of its COCO file. Whether a prompt lies inside its image is checked when the image is read
([`ImagePrompt.check_inside`]).
"""

import hashlib
import json
import math
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .sources import ImageEntry

_PROMPT_KEYS = {"class", "points", "point_labels", "box"}


@dataclass(frozen=True)
class ImagePrompt:
    """One prompt of one image: a class, and points and/or a box in pixels of the original image.

    Args:
        class_name (`str`): The class, one of the vocabulary.
        points (`tuple` of `(x, y)`, *optional*): Point prompts.
        point_labels (`tuple[int, ...]`, *optional*): 1 (foreground) or 0 (background) per point; 1 by default.
        box (`tuple` of 4 floats, *optional*): `(x1, y1, x2, y2)`.
    """

    class_name: str
    points: tuple[tuple[float, float], ...] | None = None
    point_labels: tuple[int, ...] | None = None
    box: tuple[float, float, float, float] | None = None

    @property
    def structure(self) -> tuple[int, bool]:
        """`(number of points, has a box)`: prompts of one structure go through the mask decoder together."""
        return (len(self.points) if self.points is not None else 0, self.box is not None)

    def check_inside(self, width: int, height: int, where: str) -> None:
        """Refuse a point or box outside a `width` x `height` image.

        Raises:
            ValueError: Naming `where` (e.g. `"prompt 2 of 'a.png'"`), the point or box, and the image's size.
        """
        for x, y in self.points or ():
            if not (x <= width and y <= height):
                raise ValueError(
                    f"{where}: point ({x:g}, {y:g}) lies outside the {width}x{height} image, expected "
                    f"0 <= x <= {width} and 0 <= y <= {height}"
                )
        if self.box is not None and not (self.box[2] <= width and self.box[3] <= height):
            raise ValueError(
                f"{where}: box ({', '.join(f'{value:g}' for value in self.box)}) is not inside the {width}x{height} "
                f"image, expected x2 <= {width} and y2 <= {height}"
            )


def read_prompts(path: str | os.PathLike, classes: Sequence[str]) -> dict[str, list[ImagePrompt]]:
    """The prompts of a COCO instances file or of a `{file_name: [prompt, ...]}` JSON file, by image `file_name`.

    Args:
        path: The prompts file.
        classes: The vocabulary; every prompt's class must be one of it.

    Raises:
        FileNotFoundError: When `path` is not a file.
        ValueError: On a file that is not JSON or in neither format, a class (or a used COCO category) outside
            `classes`, a prompt without points and box, a point or box with negative or non-finite coordinates, a
            box with `x2 <= x1` or `y2 <= y1`, or `point_labels` that do not match the points.
    """
    where = f"--prompts {os.fspath(path)!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} does not exist, expected a COCO or a prompts JSON file")
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not a JSON file: {error}") from None
    if isinstance(document, dict) and all(isinstance(document.get(key), list) for key in _COCO_KEYS):
        prompts = _coco_prompts(document, classes, where)
    elif isinstance(document, dict):
        prompts = {
            _normalised(name): [_prompt(item, classes, f"{where}: {name!r}[{i}]") for i, item in enumerate(items)]
            for name, items in _entries(document, where)
        }
    else:
        raise ValueError(
            f"{where} holds a JSON {type(document).__name__}, expected a COCO instances file or an object "
            '{"<file_name>": [{"class": ..., "points": ..., "box": ...}, ...]}'
        )
    return {name: image_prompts for name, image_prompts in prompts.items() if image_prompts}


def prompts_of_entries(
    prompts: Mapping[str, list[ImagePrompt]], entries: Sequence[ImageEntry], path: str | os.PathLike
) -> dict[int, list[ImagePrompt]]:
    """The prompts of each source image that has some, by the image's `index`.

    An image with prompts gets one annotation per prompt; the images without are labelled text only.

    Raises:
        ValueError: When prompts name an image that is not among `entries`: most often a path relative to another
            folder, which would otherwise leave every image text only without a word.
    """
    index_of = {_normalised(entry.file_name): entry.index for entry in entries}
    unknown = [name for name in prompts if name not in index_of]
    if unknown:
        example = f", such as {next(iter(index_of))!r}" if index_of else ""
        raise ValueError(
            f"--prompts {os.fspath(path)!r} has prompts for {len(unknown)} images that are not among --images, e.g. "
            f"{unknown[0]!r}; expected file names relative to the images folder (or its COCO file's file_name)"
            f"{example}"
        )
    return {index_of[name]: list(image_prompts) for name, image_prompts in prompts.items()}


def prompts_fingerprint(path: str | os.PathLike) -> str:
    """A hash of the prompts file's bytes, for the run header: a resume with other prompts is refused."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


_COCO_KEYS = ("images", "annotations", "categories")


def _normalised(file_name: str) -> str:
    return posixpath.normpath(file_name.replace("\\", "/"))


def _entries(document: dict, where: str) -> list[tuple[str, list]]:
    for name, items in document.items():
        if not isinstance(items, list):
            raise ValueError(f"{where}: {name!r} holds {items!r}, expected a list of prompts")
    return list(document.items())


def _prompt(item: Any, classes: Sequence[str], where: str) -> ImagePrompt:
    if not isinstance(item, dict) or not isinstance(item.get("class"), str):
        raise ValueError(f'{where} is {item!r}, expected {{"class": <name>, "points": ..., "box": ...}}')
    if set(item) - _PROMPT_KEYS:
        raise ValueError(f"{where} has keys {sorted(set(item) - _PROMPT_KEYS)}, expected only {sorted(_PROMPT_KEYS)}")
    class_name = item["class"]
    if class_name not in classes:
        raise ValueError(f"{where}: class {class_name!r} is not in --classes {list(classes)}")
    if item.get("point_labels") is not None and item.get("points") is None:
        raise ValueError(f"{where} has point_labels {item['point_labels']!r} but no points")
    if item.get("points") is None and item.get("box") is None:
        raise ValueError(f"{where} has neither points nor box, expected at least one")
    points = labels = box = None
    if item.get("points") is not None:
        points = tuple(tuple(point) for point in _numbers(item["points"], where, "points"))
    if item.get("point_labels") is not None:
        labels = item["point_labels"]
        if not isinstance(labels, list) or len(labels) != len(points) or any(label not in (0, 1) for label in labels):
            raise ValueError(
                f"{where}: point_labels {labels!r} for {len(points)} points, expected one 1 (foreground) or 0 "
                "(background) per point"
            )
        labels = tuple(int(label) for label in labels)
    if item.get("box") is not None:
        box = _box(item["box"], where, "box")
    return ImagePrompt(class_name, points, labels, box)


def _numbers(points: Any, where: str, name: str) -> list[list[float]]:
    valid = isinstance(points, list) and points and all(isinstance(point, list) and len(point) == 2 for point in points)
    if not valid or not all(_coordinate(value) for point in points for value in point):
        raise ValueError(f"{where}: {name} {points!r}, expected a non-empty list of [x, y] pixels (>= 0)")
    return [[float(value) for value in point] for point in points]


def _box(box: Any, where: str, name: str) -> tuple[float, float, float, float]:
    if not isinstance(box, list) or len(box) != 4 or not all(_coordinate(value) for value in box):
        raise ValueError(f"{where}: {name} {box!r}, expected [x1, y1, x2, y2] pixels (>= 0)")
    x1, y1, x2, y2 = (float(value) for value in box)
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"{where}: {name} {box!r} is empty, expected x1 < x2 and y1 < y2")
    return (x1, y1, x2, y2)


def _coordinate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _coco_prompts(document: dict, classes: Sequence[str], where: str) -> dict[str, list[ImagePrompt]]:
    try:
        file_name_of = {image["id"]: image["file_name"] for image in document["images"]}
        name_of = {category["id"]: category["name"] for category in document["categories"]}
    except (TypeError, KeyError) as error:
        raise ValueError(
            f"{where}: an image or category without {error}, expected COCO's id, file_name, name"
        ) from None
    used = {annotation.get("category_id") for annotation in document["annotations"] if isinstance(annotation, dict)}
    outside = sorted(str(name_of.get(category, category)) for category in used if name_of.get(category) not in classes)
    if outside:
        raise ValueError(f"{where} has boxes of categories {outside} that are not in --classes {list(classes)}")
    prompts: dict[str, list[ImagePrompt]] = {}
    for i, annotation in enumerate(document["annotations"]):
        at = f"{where}: annotations[{i}]"
        if not isinstance(annotation, dict) or annotation.get("image_id") not in file_name_of:
            raise ValueError(f"{at} is {_short(annotation)}, expected an image_id of the file's images")
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_coordinate(value) for value in bbox):
            raise ValueError(f"{at}: bbox {bbox!r}, expected [x, y, width, height] pixels (>= 0)")
        x, y, width, height = (float(value) for value in bbox)
        box = _box([x, y, x + width, y + height], at, f"bbox {bbox!r} as box")
        file_name = _normalised(file_name_of[annotation["image_id"]])
        prompts.setdefault(file_name, []).append(ImagePrompt(name_of[annotation["category_id"]], box=box))
    return prompts


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["ImagePrompt", "prompts_fingerprint", "prompts_of_entries", "read_prompts"]
