"""A class name has one path to its prompt: one template, one check, one `format_prompts`."""

import pytest
from transformers import SamImageProcessorPil

from samptx_hf import SamPtxConfig
from samptx_hf.modeling.tiny import tiny_clip_tokenizer
from samptx_hf.processing.class_prompts import (
    DEFAULT_PROMPT_TEMPLATE,
    check_class_names,
    check_prompt_template,
    check_vocabulary,
    format_prompts,
)
from samptx_hf.processing.processing_samptx import SamPtxProcessor
from samptx_hf.training.arguments import ModelArguments


def test_config_processor_and_training_arguments_default_to_the_one_template():
    processor = SamPtxProcessor(SamImageProcessorPil(), tiny_clip_tokenizer())
    assert SamPtxConfig().prompt_template == DEFAULT_PROMPT_TEMPLATE
    assert processor.prompt_template == DEFAULT_PROMPT_TEMPLATE
    assert ModelArguments().prompt_template == DEFAULT_PROMPT_TEMPLATE


def test_names_are_stripped_and_formatted():
    assert check_class_names(" batfish ") == ["batfish"]
    assert format_prompts(["weed", " sea horse"], "a {} in the field") == [
        "a weed in the field",
        "a sea horse in the field",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "text must be given"), ([], "non-empty list of class names"), (["weed", " "], "got ' '"),
     ([3], "got 3"), (42, "got 42")],
)  # fmt: skip
def test_bad_names_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        check_class_names(text)


@pytest.mark.parametrize("template", ["a photo", "{} and {}", None])
def test_a_template_needs_exactly_one_slot_everywhere(template):
    with pytest.raises(ValueError, match="must contain exactly one '{}'"):
        check_prompt_template(template)
    with pytest.raises(ValueError, match="must contain exactly one '{}'"):
        SamPtxProcessor(SamImageProcessorPil(), tiny_clip_tokenizer(), prompt_template=template)
    if template is not None:
        with pytest.raises(ValueError, match="argument --prompt_template: .*must contain exactly one '{}'"):
            ModelArguments(prompt_template=template)


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ("dog", r"classes='dog' is one string, expected a list of class names such as \['dog'\]"),
        ([], r"classes=\[\]: the class list is empty"),
        (["dog", ""], "every class name must be a non-empty string"),
        (["dog", " cat", "dog "], r"classes names \['dog'\] more than once, expected each class once"),
    ],
)
def test_a_vocabulary_names_each_class_once(classes, message):
    with pytest.raises(ValueError, match=message):
        check_vocabulary(classes)


def test_a_vocabulary_is_stripped_and_keeps_its_order():
    assert check_vocabulary([" sea horse", "batfish "]) == ["sea horse", "batfish"]
