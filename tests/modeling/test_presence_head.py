"""The presence answer: SAM's added token and head, SAM 2's object-score head, their loss, training and saving."""

import pytest
import torch
from factories import make_batch, make_model
from peft import PeftModel, get_peft_model

from samptx_hf import peft_config_for, text_injection_for
from samptx_hf.modeling.losses import presence_loss

SAM_VERSIONS = pytest.mark.parametrize("sam_version", [1, 2], ids=["sam", "sam2"])
TEXT_EMBEDS = torch.randn(2, 12, generator=torch.Generator().manual_seed(0))


def forward(model, batch, **kwargs):
    inputs = {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}
    return model(**inputs, text_embeds=TEXT_EMBEDS, **kwargs)


@SAM_VERSIONS
def test_without_a_presence_head_there_is_no_presence_answer_and_sam_is_unchanged(sam_version):
    model = make_model(sam_version=sam_version).eval()
    assert model.presence_head is None
    with torch.no_grad():
        assert forward(model, make_batch()).presence_logits is None
    with pytest.raises(ValueError, match="no presence head: build it with presence_head=True"):
        forward(model, make_batch(), labels=make_batch()["labels"], presence_labels=torch.ones(2))


@SAM_VERSIONS
def test_every_method_answers_presence_per_prompt(sam_version):
    for method in ("parallel_text", "parallel_adapter", "decoder_only", "text_prompt_encoder", "text_mask_decoder"):
        model = make_model(sam_version=sam_version, presence_head=True, text_injection=text_injection_for(method).value)
        peft_model = get_peft_model(model, peft_config_for(method, r=4)).eval()
        with torch.no_grad():
            output = forward(peft_model, make_batch())
        assert output.presence_logits.shape == (2, 1, 1), method


def test_sams_presence_token_leaves_the_iou_and_mask_tokens_in_place():
    model = make_model(presence_head=True).eval()
    seen = {}
    hook = model.sam.mask_decoder.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(tokens=kwargs["point_embeddings"].shape[2]), with_kwargs=True
    )
    with torch.no_grad():
        forward(model, make_batch())
    hook.remove()
    # iou token + 4 mask tokens + the point + SAM's padding point, then the presence token last (pre-hooks run in
    # the order they were registered: ours appended it before this one looked)
    assert seen["tokens"] == 1 + model.sam.mask_decoder.num_mask_tokens + 2 + 1


def test_sam2_presence_is_its_object_score_head():
    model = make_model(sam_version=2, presence_head=True).eval()
    scores = []
    hook = model.sam.mask_decoder.pred_obj_score_head.register_forward_hook(lambda m, a, out: scores.append(out))
    with torch.no_grad():
        output = forward(model, make_batch())
    hook.remove()
    assert torch.equal(output.presence_logits, scores[0])


@SAM_VERSIONS
def test_the_presence_head_is_trained_only_with_a_presence_answer(sam_version):
    trained = get_peft_model(make_model(sam_version=sam_version, presence_head=True), peft_config_for("decoder_only"))
    names = [name for name, p in trained.named_parameters() if p.requires_grad]
    head = "pred_obj_score_head" if sam_version == 2 else "presence_head"
    assert any(head in name for name in names)
    frozen = get_peft_model(make_model(sam_version=sam_version), peft_config_for("decoder_only"))
    assert not any(head in name for name, p in frozen.named_parameters() if p.requires_grad)


@SAM_VERSIONS
def test_absent_rows_train_presence_only(sam_version):
    model = make_model(sam_version=sam_version, presence_head=True)
    batch = make_batch()
    presence_labels = torch.tensor([1.0, 0.0])
    loss = forward(model, batch, labels=batch["labels"], presence_labels=presence_labels).loss
    other_absent_target = batch["labels"].clone()
    other_absent_target[1] = 1 - other_absent_target[1]  # an absent row's mask target does not count
    again = forward(model, batch, labels=other_absent_target, presence_labels=presence_labels).loss
    torch.testing.assert_close(loss, again)
    all_absent = forward(model, batch, labels=batch["labels"], presence_labels=torch.zeros(2))
    all_absent.loss.backward()  # the presence term alone
    torch.testing.assert_close(all_absent.loss, presence_loss(all_absent.presence_logits, torch.zeros(2)))


def test_presence_labels_are_checked():
    model = make_model(presence_head=True)
    batch = make_batch()
    with pytest.raises(ValueError, match=r"presence_labels must have shape \(batch=2,\)"):
        forward(model, batch, labels=batch["labels"], presence_labels=torch.ones(3))
    with pytest.raises(ValueError, match="presence_labels were given without labels"):
        forward(model, batch, presence_labels=torch.ones(2))


@SAM_VERSIONS
def test_a_few_steps_teach_the_head_presence(sam_version):
    torch.manual_seed(0)
    model = get_peft_model(make_model(sam_version=sam_version, presence_head=True), peft_config_for("decoder_only"))
    batch = make_batch()
    presence_labels = torch.tensor([1.0, 0.0])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    for _ in range(40):
        optimizer.zero_grad()
        forward(model, batch, labels=batch["labels"], presence_labels=presence_labels).loss.backward()
        optimizer.step()
    with torch.no_grad():
        presence = forward(model.eval(), batch).presence_logits.sigmoid().flatten()
    assert presence[0] > 0.9 and presence[1] < 0.1


@SAM_VERSIONS
def test_the_presence_head_is_saved_with_the_adapter(sam_version, tmp_path):
    model = get_peft_model(make_model(sam_version=sam_version, presence_head=True), peft_config_for("parallel_text"))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.1 * torch.randn_like(parameter))
        expected = forward(model.eval(), make_batch()).presence_logits
    model.save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(make_model(sam_version=sam_version, presence_head=True), tmp_path).eval()
    with torch.no_grad():  # another instance: equal to float32 rounding (SAM 2 differs in the last bits here)
        torch.testing.assert_close(forward(reloaded, make_batch()).presence_logits, expected)
