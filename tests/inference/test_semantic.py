"""`segment_semantic`: one text-only pass per class, a label map where present classes claim pixels by mask logit."""

import numpy as np
import pytest
import torch
from factories import make_model
from hub_factories import make_image

from samptx_hf import SemanticSegmentationResult, segment, segment_semantic, text_injection_for
from samptx_hf.inference.segment import SegmentationResult
from samptx_hf.inference.semantic import label_map_of

CLASSES = ["circle", "square", "dog"]


def text_dependent_model(presence_logits: list[float] | None):
    """A tiny SAM-PTx whose masks depend on the class name; with `presence_logits`, a presence head that answers
    them, one per class of the call in order."""
    model = make_model(
        presence_head=presence_logits is not None, text_injection=text_injection_for("text_mask_decoder").value
    ).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        model.text_prompt_projection.weight.add_(0.5 * torch.randn_like(model.text_prompt_projection.weight))
    if presence_logits is not None:
        answer = torch.tensor(presence_logits)
        model.presence_head.register_forward_hook(lambda module, args, output: answer.view(-1, 1, 1).to(output))
    return model


def result(name: str, mask: list[list[bool]], logits: list[list[float]]) -> SegmentationResult:
    mask = np.array(mask)
    return SegmentationResult(mask, 1.0, name, mask[None], np.ones(1), logits=np.array(logits, np.float32))


def test_a_pixel_goes_to_the_class_with_the_highest_logit_among_the_masks_that_hold_it():
    results = [
        result("a", [[1, 1, 0]], [[5.0, 1.0, 9.0]]),  # its logit 9 at the last pixel is outside its mask
        result("b", [[0, 1, 0]], [[0.0, 2.0, 0.0]]),
        result("c", [[0, 0, 0]], [[9.0, 9.0, 9.0]]),  # an empty mask (an absent class) claims nothing
    ]
    label_map = label_map_of(results)
    assert label_map.dtype == np.int32
    assert label_map.tolist() == [[1, 2, 0]]


def test_the_label_map_needs_the_logits():
    mask = np.ones((2, 2), bool)
    with pytest.raises(ValueError, match=r"'a' has no logits, expected segment\(..., return_logits=True\)"):
        label_map_of([SegmentationResult(mask, 1.0, "a", mask[None], np.ones(1))])


def test_absent_classes_claim_nothing_and_present_ones_their_masks():
    model = text_dependent_model([10.0, -10.0, 10.0])
    image = make_image()
    semantic = segment_semantic(model, image, CLASSES)
    assert isinstance(semantic, SemanticSegmentationResult)
    assert semantic.classes == CLASSES and semantic.present_classes == ["circle", "dog"]
    assert semantic.presence.shape == (3,) and semantic.presence[1] < 0.5 < semantic.presence[0]
    assert semantic.label_map.shape == (48, 80) and semantic.label_map.dtype == np.int32

    results = segment(model, image, CLASSES, return_logits=True)
    assert not semantic.results[1].mask.any() and 2 not in semantic.label_map
    masks = np.stack([results[0].mask, results[2].mask])
    logits = np.stack([results[0].logits, results[2].logits])
    assert masks[0].any() and masks[1].any() and not np.array_equal(masks[0], masks[1])
    assert np.array_equal(semantic.label_map == 0, ~masks.any(0))
    only_circle, only_dog, both = masks[0] & ~masks[1], masks[1] & ~masks[0], masks[0] & masks[1]
    assert both.any()
    assert (semantic.label_map[only_circle] == 1).all() and (semantic.label_map[only_dog] == 3).all()
    np.testing.assert_array_equal(semantic.label_map[both], np.where(logits[0] >= logits[1], 1, 3)[both])


def test_a_higher_presence_threshold_makes_a_class_absent():
    semantic = segment_semantic(text_dependent_model([10.0, 1.0, -10.0]), make_image(), CLASSES, 0.9)
    assert semantic.present_classes == ["circle"]
    assert set(np.unique(semantic.label_map)) <= {0, 1}


def test_without_a_presence_head_every_class_with_a_mask_is_present():
    semantic = segment_semantic(text_dependent_model(None), make_image(), CLASSES)
    assert semantic.presence is None
    assert semantic.present_classes == [r.class_name for r in semantic.results if r.mask.any()]
    assert semantic.present_classes and (semantic.label_map > 0).any()


@pytest.mark.parametrize(
    ("classes", "message"),
    [("circle", r"classes='circle' is one string, expected a list of class names such as \['circle'\]"),
     (["circle", "dog", "circle"], r"classes names \['circle'\] more than once, expected each class once")],
)  # fmt: skip
def test_a_vocabulary_that_is_not_a_list_of_distinct_names_is_refused(classes, message):
    with pytest.raises(ValueError, match=message):
        segment_semantic(make_model(), make_image(), classes)


def test_a_bad_presence_threshold_is_refused():
    with pytest.raises(ValueError, match=r"presence_threshold=2, expected a probability in \[0, 1\]"):
        segment_semantic(make_model(), make_image(), CLASSES, presence_threshold=2)


def test_the_model_methods_answer_as_the_functions():
    model = text_dependent_model([3.0, -3.0, 3.0])
    image = make_image()
    through_method = model.segment_semantic(image, CLASSES)
    through_function = segment_semantic(model, image, CLASSES)
    np.testing.assert_array_equal(through_method.label_map, through_function.label_map)
    assert through_method.present_classes == through_function.present_classes == ["circle", "dog"]
    one_class = text_dependent_model([3.0])  # sigmoid(3) = 0.95
    strict = one_class.segment(image, "circle", presence_threshold=0.99, return_logits=True)
    assert not strict.mask.any() and strict.logits is not None
