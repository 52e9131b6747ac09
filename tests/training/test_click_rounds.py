"""Training with simulated follow-up clicks: the clicks follow the protocol's rule, and the encode-once rounds give the
loss and the gradients of re-running the whole model every round."""

import pytest
import torch
from factories import make_batch, make_trained_looking_model

from samptx_hf.processing.input_checks import POINT_PAD_LABEL
from samptx_hf.training.click_rounds import click_rounds_loss, next_click_prompts


def _masks(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros(size, size)
    target[2:10, 2:10] = 1
    return torch.full((size, size), -5.0), target


def test_a_missed_object_gets_a_positive_click_at_its_centre_in_the_input_frame():
    logits, target = _masks()
    points, labels = next_click_prompts(logits[None], target[None], torch.tensor([[64, 64]]), input_size=64)
    assert labels.tolist() == [[[1]]]
    x, y = points[0, 0, 0].tolist()
    assert (int(x // 4), int(y // 4)) in {(5, 5), (5, 6), (6, 5), (6, 6)}  # low-res pixels at the square's centre
    assert x % 4 == 1.5 and y % 4 == 1.5  # the centre of the 4 x 4 input pixels under that low-res pixel


def test_a_larger_wrong_region_gets_a_negative_click_and_an_exact_mask_padding():
    logits, target = _masks()
    logits[target > 0] = 5.0
    logits[10:16, 0:16] = 5.0  # 96 wrong pixels, none missed
    _, labels = next_click_prompts(logits[None], target[None], torch.tensor([[64, 64]]), input_size=64)
    assert labels.tolist() == [[[0]]]
    exact = torch.where(target > 0, 5.0, -5.0)
    points, labels = next_click_prompts(exact[None], target[None], torch.tensor([[64, 64]]), input_size=64)
    assert labels.tolist() == [[[POINT_PAD_LABEL]]] and points.abs().sum() == 0


def test_the_padding_below_a_wide_image_is_never_clicked():
    logits, target = _masks()
    logits[12:16] = 5.0  # wrong only in the padding: the image is 64 x 40, its low-res rows 0-9
    logits[target > 0] = 5.0
    _, labels = next_click_prompts(logits[None], target[None], torch.tensor([[40, 64]]), input_size=64)
    assert labels.tolist() == [[[POINT_PAD_LABEL]]]


def test_mismatched_masks_are_refused():
    with pytest.raises(ValueError, match=r"pred_masks \(1, 8, 8\) and labels \(1, 16, 16\)"):
        next_click_prompts(torch.zeros(1, 8, 8), torch.zeros(1, 16, 16), torch.tensor([[64, 64]]), 64)


def _inputs(method: str, seed: int = 0, sam_version: int = 1):
    model = make_trained_looking_model(method, sam_version=sam_version).train()
    batch = make_batch(batch_size=3, seed=seed)
    text_embeds = model.get_base_model().encode_text(["cat", "dog", "cat"])
    return model, {**batch, "text_embeds": text_embeds}


def _rerun_every_round_loss(model, inputs: dict, rounds: int) -> torch.Tensor:
    """The reference: every round re-runs the whole model from the pixels."""
    outputs = model(**inputs)
    losses, points, labels = [outputs.loss], inputs["input_points"], inputs["input_labels"]
    for _ in range(rounds - 1):
        logits = outputs.pred_masks[:, 0, :1].detach()
        resized = torch.nn.functional.interpolate(logits, size=inputs["labels"].shape[-2:], mode="bilinear")
        new_points, new_labels = next_click_prompts(resized[:, 0], inputs["labels"], torch.tensor([[64, 64]] * 3), 64)
        points, labels = torch.cat([points, new_points], 2), torch.cat([labels, new_labels], 2)
        outputs = model(**{**inputs, "input_points": points, "input_labels": labels, "input_masks": logits})
        losses.append(outputs.loss)
    return torch.stack(losses).mean()


@pytest.mark.parametrize(
    ("method", "sam_version"),
    [("parallel_text", 1), ("decoder_only", 1), ("text_prompt_encoder", 1), ("parallel_text", 2)],
)
def test_encode_once_rounds_give_the_loss_and_gradients_of_rerunning_the_model(method, sam_version):
    model, inputs = _inputs(method, sam_version=sam_version)
    sizes = torch.tensor([[64, 64]] * 3)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]

    loss = click_rounds_loss(model, inputs, rounds=3, valid_sizes=sizes)
    # SAM 2's object-score head is trained by no loss here: its gradients are zero in both
    gradients = torch.autograd.grad(loss, trainable, allow_unused=True, materialize_grads=True)
    reference = _rerun_every_round_loss(model, inputs, rounds=3)
    reference_gradients = torch.autograd.grad(reference, trainable, allow_unused=True, materialize_grads=True)

    torch.testing.assert_close(loss, reference)
    for gradient, expected in zip(gradients, reference_gradients, strict=True):
        torch.testing.assert_close(gradient, expected)
    assert loss != click_rounds_loss(model, inputs, rounds=1, valid_sizes=sizes)  # the later rounds count


def test_one_round_is_the_plain_loss():
    model, inputs = _inputs("parallel_text")
    assert torch.equal(click_rounds_loss(model, inputs, 1, torch.tensor([[64, 64]] * 3)), model(**inputs).loss)


@pytest.mark.parametrize("rounds", [0, -1, 1.5, True])
def test_a_bad_number_of_rounds_is_refused(rounds):
    model, inputs = _inputs("parallel_text")
    with pytest.raises(ValueError, match=f"rounds={rounds!r}, expected a whole number"):
        click_rounds_loss(model, inputs, rounds, torch.tensor([[64, 64]] * 3))
