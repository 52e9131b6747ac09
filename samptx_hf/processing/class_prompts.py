"""Class name → text prompt, one way: the template, its check, and how class names are checked and formatted.

Every entry point that takes a class name (the model's `encode_text`, the processor, `segment`, the pipeline, the
CLI, the demo, training) goes through `check_class_names` and `format_prompts`, so a name is stripped and checked in
one place and the same name gives the same prompt, hence the same cached text embedding, whichever way it came in.
"""

from collections.abc import Sequence
from typing import Any

# CLIP's own zero-shot prompt (Radford et al., 2021); the config, processor and training flag default to it.
DEFAULT_PROMPT_TEMPLATE = "a photo of a {}"


# CLIP's 80 ImageNet templates (Radford et al., 2021) and CLIP Surgery's 5 scene templates (Li et al., 2023): the
# ensemble whose embedding of the empty class name "" `SamPtxConfig.subtract_empty_prompt` removes (the authors'
# text embedding).
EMPTY_PROMPT_TEMPLATES = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.", "there is a {} in the scene.", "there is the {} in the scene.",
    "this is a {} in the scene.", "this is the {} in the scene.", "this is one {} in the scene.",
)  # fmt: skip
# The authors' prompt: the bare class name.
BARE_CLASS_NAME_TEMPLATE = "{}"


def check_prompt_template(template: Any) -> str:
    """`template` when it is a string with exactly one `{}` (where the class name goes); `ValueError` otherwise."""
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ValueError(f"prompt_template={template!r} must contain exactly one '{{}}' for the class name")
    return template


def check_class_names(text: Any) -> list[str]:
    """The class names of `text` (one name or a non-empty list of names), stripped of surrounding white space.

    Raises:
        ValueError: On `None`, bytes, an empty list, or a name that is not a non-empty string; the message names it.
    """
    if text is None:
        raise ValueError("text must be given: a class name or a list of class names")
    if isinstance(text, bytes | bytearray):
        raise ValueError(f"text={text!r} is bytes, expected a class name as a str (decode it: text.decode())")
    class_names = [text] if isinstance(text, str) else text
    if not isinstance(class_names, Sequence) or not class_names:
        raise ValueError(f"text must be a class name or a non-empty list of class names, got {text!r}")
    for name in class_names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"every class name must be a non-empty string, got {name!r}")
    return [name.strip() for name in class_names]


def check_vocabulary(classes: Any, name: str = "classes") -> list[str]:
    """`classes` as a vocabulary: a list of checked class names (`check_class_names`), each named once, as a label
    map, a labelling run or an export over several classes needs them; `name` is the argument the message names.

    Raises:
        ValueError: On a single string, an empty list, a name that is not a non-empty string, or a name given twice.
    """
    if isinstance(classes, str):
        raise ValueError(f"{name}={classes!r} is one string, expected a list of class names such as [{classes!r}]")
    if isinstance(classes, Sequence) and len(classes) == 0:
        raise ValueError(f"{name}={classes!r}: the class list is empty, expected at least one class name")
    class_names = check_class_names(list(classes) if isinstance(classes, Sequence) else classes)
    repeated = sorted({class_name for class_name in class_names if class_names.count(class_name) > 1})
    if repeated:
        raise ValueError(f"{name} names {repeated} more than once, expected each class once")
    return class_names


def format_prompts(class_names: Any, template: str = DEFAULT_PROMPT_TEMPLATE) -> list[str]:
    """The prompts of `class_names` (checked by `check_class_names`) through `template`.

    Example:
        >>> format_prompts([" batfish", "sea horse"], "a photo of a {}")
        ['a photo of a batfish', 'a photo of a sea horse']
    """
    template = check_prompt_template(template)
    return [template.format(name) for name in check_class_names(class_names)]


__all__ = [
    "BARE_CLASS_NAME_TEMPLATE",
    "DEFAULT_PROMPT_TEMPLATE",
    "EMPTY_PROMPT_TEMPLATES",
    "check_class_names",
    "check_prompt_template",
    "check_vocabulary",
    "format_prompts",
]
