"""SAM-PTx on a frozen SAM 2 (`Sam2Model`): the same model, tuner and files as on SAM, chosen by the config."""

import copy

import pytest
import torch
from factories import make_batch, make_model
from peft import PeftModel, get_peft_model
from transformers import AutoModel, CLIPTextModelWithProjection, Sam2Model, Sam2VideoConfig, Sam2VideoModel

from samptx_hf import ParallelTextConfig, SamPtxConfig, SamPtxForTextSegmentation, peft_config_for
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_sam2_config, tiny_sam_config, tiny_text_config

BOXES = torch.tensor([[[4.0, 6.0, 30.0, 40.0]], [[20.0, 10.0, 60.0, 50.0]]])


def make_sam2_model(seed: int = 0, **config_kwargs) -> SamPtxForTextSegmentation:
    return make_model(seed=seed, sam_version=2, **config_kwargs)


def sam2_reference(model: SamPtxForTextSegmentation, dynamic_multimask: bool = False) -> Sam2Model:
    """A plain `Sam2Model` with the weights of the model's frozen SAM 2."""
    config = copy.deepcopy(model.config.sam_config)
    config.mask_decoder_config.dynamic_multimask_via_stability = dynamic_multimask
    reference = Sam2Model(config).eval()
    reference.load_state_dict(model.sam.state_dict())
    return reference


def prompt_sets(batch):
    points = {"input_points": batch["input_points"], "input_labels": batch["input_labels"]}
    return {"points": points, "box": {"input_boxes": BOXES}, "points and box": {**points, "input_boxes": BOXES}}


def test_the_config_chooses_sam2_and_takes_a_dict():
    model = make_sam2_model()
    assert isinstance(model.sam, Sam2Model)
    from_dict = SamPtxConfig(sam_config=tiny_sam2_config().to_dict(), text_config=tiny_text_config().to_dict())
    assert from_dict.sam_config.model_type == "sam2"
    assert from_dict.sam_config.vision_config.backbone_config.embed_dim_per_stage == [8, 16, 32, 64]
    assert SamPtxConfig(sam_config=tiny_sam_config().to_dict()).sam_config.model_type == "sam"


def test_a_sam_config_of_another_model_is_refused_with_its_model_type():
    with pytest.raises(ValueError, match=r"model_type='clip_text_model', expected one of \['sam', 'sam2'\]"):
        SamPtxConfig(sam_config=tiny_text_config())
    config = SamPtxConfig(sam_config=tiny_sam2_config(), text_config=tiny_text_config())
    with pytest.raises(TypeError, match="sam is a SamModel but config.sam_config has model_type='sam2'"):
        SamPtxForTextSegmentation(config, sam=make_model().sam)


@pytest.mark.parametrize("multimask_output", [False, True])
@pytest.mark.parametrize("dynamic_multimask", [False, True])
def test_zero_initialised_adapters_give_sam2_masks_and_scores(multimask_output, dynamic_multimask):
    model = make_sam2_model()
    reference = sam2_reference(model, dynamic_multimask)
    model.sam.mask_decoder.dynamic_multimask_via_stability = dynamic_multimask
    peft_model = get_peft_model(model, ParallelTextConfig(r=4)).eval()
    batch = make_batch()
    text_embeds = torch.randn(2, model.config.text_dim)
    for name, prompts in {**prompt_sets(batch), "no prompt": {}}.items():
        with torch.no_grad():
            ours = peft_model(
                pixel_values=batch["pixel_values"],
                **prompts,
                text_embeds=text_embeds,
                multimask_output=multimask_output,
            )
            theirs = reference(pixel_values=batch["pixel_values"], **prompts, multimask_output=multimask_output)
        torch.testing.assert_close(ours.pred_masks, theirs.pred_masks, msg=name)
        torch.testing.assert_close(ours.iou_scores, theirs.iou_scores, msg=name)
    # Not vacuous: the masks depend on the image.
    points = prompt_sets(batch)["points"]
    with torch.no_grad():
        plain = reference(pixel_values=batch["pixel_values"], **points).pred_masks
        flipped = reference(pixel_values=batch["pixel_values"].flip(-1), **points).pred_masks
    assert (plain - flipped).abs().max() > 1e-3


def test_perturbed_adapters_make_the_mask_depend_on_the_class_name():
    model = make_sam2_model()
    peft_model = get_peft_model(model, ParallelTextConfig(r=4, init_weights=False)).eval()
    batch = make_batch()
    inputs = {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}
    with torch.no_grad():
        circle = peft_model(**inputs, text_embeds=model.encode_text(["circle", "circle"])).pred_masks
        stripes = peft_model(**inputs, text_embeds=model.encode_text(["stripes", "stripes"])).pred_masks
        again = peft_model(**inputs, text_embeds=model.encode_text(["circle", "circle"])).pred_masks
    assert torch.equal(circle, again)
    assert (circle - stripes).abs().max() > 1e-3


def test_every_hiera_block_gets_an_adapter_of_its_own_width():
    peft_model = get_peft_model(make_sam2_model(), ParallelTextConfig(r=4))
    blocks = peft_model.base_model.model.sam.vision_encoder.backbone.blocks
    widths = [block.mlp.parallel_text_down["default"].in_features for block in blocks]
    assert widths == [block.dim_out for block in blocks] == [8, 16, 32, 32, 64]
    assert [block.mlp.parallel_text_up["default"].out_features for block in blocks] == widths
    decoder = [name for name, _ in peft_model.named_modules() if "mask_decoder" in name and "parallel_text" in name]
    assert not decoder


def test_save_and_load_reproduce_the_masks(tmp_path):
    peft_model = get_peft_model(make_sam2_model(), ParallelTextConfig(r=4, init_weights=False)).eval()
    peft_model.requires_grad_(False)
    batch = make_batch()
    inputs = {key: batch[key] for key in ("pixel_values", "input_points", "input_labels")}
    text_embeds = torch.randn(2, 12)
    with torch.no_grad():
        expected = peft_model(**inputs, text_embeds=text_embeds)
    peft_model.save_pretrained(tmp_path / "adapter")
    loaded = PeftModel.from_pretrained(make_sam2_model(), tmp_path / "adapter").eval()
    with torch.no_grad():
        actual = loaded(**inputs, text_embeds=text_embeds)
    # another model instance: equal to float32 rounding (docs/method.md, what is bit-exact)
    torch.testing.assert_close(actual.pred_masks, expected.pred_masks)
    torch.testing.assert_close(actual.iou_scores, expected.iou_scores)

    base = make_sam2_model().eval()
    base.save_pretrained(tmp_path / "full")
    reloaded = AutoModel.from_pretrained(tmp_path / "full").eval()
    assert isinstance(reloaded.sam, Sam2Model) and reloaded.config.sam_config.model_type == "sam2"
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).pred_masks, base(**inputs).pred_masks)


def test_from_pretrained_components_loads_a_sam2_checkpoint(tmp_path):
    torch.manual_seed(0)
    Sam2Model(tiny_sam2_config()).save_pretrained(tmp_path / "sam2")
    CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(tmp_path / "clip")
    tiny_clip_tokenizer().save_pretrained(tmp_path / "clip")
    model = SamPtxForTextSegmentation.from_pretrained_components(tmp_path / "sam2", tmp_path / "clip")
    assert isinstance(model.sam, Sam2Model)
    reference = Sam2Model.from_pretrained(tmp_path / "sam2")
    expected = reference.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in model.sam.state_dict().items())


def test_a_sam2_video_checkpoint_gives_its_image_model_and_saves_as_sam2(tmp_path):
    # SAM 2's released checkpoints (facebook/sam2.1-hiera-*) are Sam2VideoModel checkpoints.
    tiny = tiny_sam2_config()
    video_config = Sam2VideoConfig(
        vision_config=tiny.vision_config.to_dict(),
        prompt_encoder_config=tiny.prompt_encoder_config.to_dict(),
        mask_decoder_config=tiny.mask_decoder_config.to_dict(),
        memory_attention_hidden_size=16,
        memory_encoder_hidden_size=16,
        memory_encoder_output_channels=8,
        mem_dim=8,
    )
    torch.manual_seed(0)
    video_model = Sam2VideoModel(video_config)
    video_model.save_pretrained(tmp_path / "sam2-video")
    CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(tmp_path / "clip")
    tiny_clip_tokenizer().save_pretrained(tmp_path / "clip")
    model = SamPtxForTextSegmentation.from_pretrained_components(tmp_path / "sam2-video", tmp_path / "clip")
    assert type(model.sam) is Sam2Model
    video_weights = video_model.state_dict()
    assert all(torch.equal(value, video_weights[name]) for name, value in model.sam.state_dict().items())
    model.save_pretrained(tmp_path / "full")
    assert SamPtxConfig.from_pretrained(tmp_path / "full").sam_config.to_dict()["model_type"] == "sam2"
    assert isinstance(AutoModel.from_pretrained(tmp_path / "full").sam, Sam2Model)


def test_a_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(tmp_path / "clip")
    with pytest.raises(
        ValueError, match=r"model_type='clip_text_model'; SAM-PTx builds on \['sam', 'sam2', 'sam2_video'\]"
    ):
        SamPtxForTextSegmentation.from_pretrained_components(tmp_path / "clip", tmp_path / "clip")


@pytest.mark.parametrize(
    "method", ["parallel_text", "parallel_adapter", "decoder_only", "text_prompt_encoder", "text_mask_decoder"]
)
def test_every_method_trains_on_sam2(method):
    from samptx_hf import text_injection_for

    model = make_sam2_model(text_injection=text_injection_for(method).value)
    peft_model = get_peft_model(model, peft_config_for(method, r=4))
    batch = make_batch()
    trainable = {name: p.clone() for name, p in peft_model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model.train()
    for _ in range(2):
        loss = peft_model(**batch, text_embeds=model.encode_text(["circle", "stripes"])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = [
        name for name, p in peft_model.named_parameters() if p.requires_grad and not torch.equal(p, trainable[name])
    ]
    assert any("mask_decoder" in name for name in changed)
    assert not any("text_encoder" in name or "prompt_encoder" in name for name in trainable)
    if method in ("parallel_text", "parallel_adapter"):
        assert any("backbone.blocks" in name and "parallel_text_" in name for name in changed)
    if method == "parallel_text":
        assert any("parallel_text_text" in name for name in changed)


def test_gradient_checkpointing_gives_the_same_adapter_gradients():
    batch = make_batch()

    def gradients(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = make_sam2_model()
        peft_model = get_peft_model(model, ParallelTextConfig(r=4, init_weights=False))
        if checkpointing:
            peft_model.gradient_checkpointing_enable()
        peft_model.train()
        peft_model(**batch, text_embeds=model.encode_text(["circle", "stripes"])).loss.backward()
        return {name: p.grad for name, p in peft_model.named_parameters() if ".parallel_text_" in name}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain and all(grad.abs().sum() > 0 for grad in plain.values())
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-4, atol=1e-7, msg=name)
