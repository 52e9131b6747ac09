"""The adapter repository's card says where the adapters are and lists the adapter under its Hub base model."""

import pytest
from factories import make_model
from huggingface_hub import ModelCard
from peft import get_peft_model

from samptx_hf import peft_config_for, text_injection_for
from samptx_hf.hub import adapter_placement, build_model_card, save_adapter_repo


def card_of(method: str, tmp_path, sam_model_name_or_path: str = "facebook/sam-vit-base", **options) -> ModelCard:
    model = make_model(num_hidden_layers=4, text_injection=text_injection_for(method).value)
    model.config.sam_model_name_or_path = sam_model_name_or_path
    peft_model = get_peft_model(model, peft_config_for(method, r=4, **options))
    save_adapter_repo(peft_model, tmp_path / "repo", repo_id="me/sam-ptx-shapes")
    return ModelCard.load(tmp_path / "repo" / "README.md")


def test_the_card_of_last_two_adapters_names_their_blocks(tmp_path):
    card = card_of("parallel_text", tmp_path, adapter_layers="last:2")
    assert "| Adapters | beside the MLP of image-encoder blocks 2 and 3 of 4 (0-based) |" in card.text
    assert "every one of" not in card.text


def test_the_card_of_adapters_everywhere_says_so(tmp_path):
    card = card_of("parallel_text", tmp_path)
    assert "beside the MLP of every one of the 4 image-encoder blocks" in card.text
    assert "through Parallel-Text adapters in SAM's image encoder" in card.text


@pytest.mark.parametrize(
    ("method", "text_entry", "placement"),
    [("decoder_only", "nowhere: this model is a text-free baseline", "none (the image encoder is SAM's own)"),
     ("parallel_adapter", "nowhere: this model is a text-free baseline", "every one of the 4 image-encoder blocks"),
     ("text_prompt_encoder", "one more sparse prompt token", "none (the image encoder is SAM's own)")],
)  # fmt: skip
def test_the_card_of_a_baseline_says_where_the_text_goes(tmp_path, method, text_entry, placement):
    card = card_of(method, tmp_path)
    assert text_entry in card.text and placement in card.text


@pytest.mark.parametrize(
    ("method", "options", "trained"),
    [("parallel_text", {}, "the adapters and SAM's mask decoder"),
     ("parallel_text", {"form": "reference"}, "the adapters, SAM's mask decoder and SAM's prompt encoder"),
     ("decoder_only", {}, "SAM's mask decoder"),
     ("text_mask_decoder", {}, "SAM's mask decoder and the text projection")],
)  # fmt: skip
def test_the_card_says_what_was_trained(tmp_path, method, options, trained):
    card = card_of(method, tmp_path, **options)
    assert f"Trained:\n{trained}; everything else is frozen." in card.text
    assert f"`adapter_model.safetensors`: {trained} (peft format)" in card.text


def test_a_hub_base_gets_peft_s_adapter_tag(tmp_path):
    card = card_of("parallel_text", tmp_path)
    assert card.data.base_model == "facebook/sam-vit-base"
    assert "base_model:adapter:facebook/sam-vit-base" in card.data.tags


@pytest.mark.parametrize("sam", ["samptx_hf:tiny-sam", "local"])
def test_a_builtin_or_local_base_gets_no_base_model_metadata(tmp_path, sam):
    card = card_of("parallel_text", tmp_path, sam_model_name_or_path=str(tmp_path) if sam == "local" else sam)
    assert card.data.base_model is None
    assert not any(tag.startswith("base_model:") for tag in card.data.tags)


def test_placement_before_wrapping_counts_from_the_end():
    model = make_model(num_hidden_layers=4)
    assert adapter_placement(model.config, peft_config_for("parallel_text", adapter_layers="last:1")) == (
        "beside the MLP of image-encoder block 3 of 4 (0-based)"
    )
    card = build_model_card(model.config, peft_config_for("parallel_text", adapter_layers=[0, 2]))
    assert "blocks 0 and 2 of 4" in card.text


@pytest.mark.parametrize(
    ("eval_results", "row"),
    [({"metrics": {"mean_iou": 0.7}, "click_rounds": 3}, "| `3` (the prompt, then 2 simulated clicks) |"),
     ({"metrics": {"mean_iou": 0.7}, "click_rounds": 1}, "| `1` (one point prompt) |"),
     ({"metrics": {"mean_iou": 0.7}}, None)],
)  # fmt: skip
def test_the_card_says_whether_the_model_was_trained_for_several_clicks(eval_results, row):
    model = make_model(num_hidden_layers=4)
    card = build_model_card(model.config, peft_config_for("parallel_text"), eval_results=eval_results)
    if row is None:
        assert "Prompt rounds per training sample" not in card.text
    else:
        assert f"| Prompt rounds per training sample {row}" in card.text
    assert "click_rounds" not in str(card.data.eval_results)  # a training fact, not a metric
    assert "predictor = SamPtxPredictor(model)" in card.text  # interactive use, as the docs show it


def test_the_card_prompts_with_the_class_names_the_model_was_trained_on():
    model = make_model(num_hidden_layers=4)
    card = build_model_card(model.config, peft_config_for("parallel_text"), class_names=["sea horse", "crab"])
    assert "The model was trained on 2 classes: `sea horse`, `crab`." in card.text
    assert 'model.segment("image.jpg", "sea horse", points=[(320, 240)])' in card.text
    assert 'text=["sea horse", "crab"]' in card.text and "--text 'sea horse'" in card.text
    assert "batfish" not in card.text


def test_a_training_run_s_card_names_the_classes_of_its_results(tmp_path):
    model = make_model(num_hidden_layers=4)
    peft_model = get_peft_model(model, peft_config_for("parallel_text", r=4))
    results = {"metrics": {"mean_iou": 0.7}, "per_class": {"owl": {"iou": 0.8, "num_samples": 3}}}
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=results)  # as the training loop saves
    text = ModelCard.load(tmp_path / "repo" / "README.md").text
    assert "The model was evaluated on one class: `owl`." in text and 'predictor.predict("owl"' in text

    recorded = {**results, "class_names": ["owl", "moth"]}  # a training vocabulary, when the run records it
    assert "trained on 2 classes: `owl`, `moth`" in build_model_card(model.config, peft_model.peft_config["default"],
                                                                     eval_results=recorded).text  # fmt: skip


def test_without_known_classes_the_card_has_no_class_list():
    model = make_model(num_hidden_layers=4)
    card = build_model_card(model.config, peft_config_for("parallel_text"), eval_results={"mean_iou": 0.5})
    assert "## Classes" not in card.text and 'model.segment("image.jpg", "batfish"' in card.text


@pytest.mark.parametrize(("class_names", "message"), [([5], r"class_names holds 5 \(int\)"), ("owl", "one string")])
def test_class_names_that_are_not_names_are_refused(class_names, message):
    model = make_model(num_hidden_layers=4)
    with pytest.raises(ValueError, match=message):
        build_model_card(model.config, peft_config_for("parallel_text"), class_names=class_names)


def test_the_card_of_a_model_with_a_presence_answer_shows_the_text_only_call():
    with_presence = build_model_card(make_model(presence_head=True).config, peft_config_for("parallel_text"))
    assert "result.presence  # probability that the image holds the class" in with_presence.text
    assert "segment_semantic" in with_presence.text
    without = build_model_card(make_model().config, peft_config_for("parallel_text"))
    assert "result.presence" not in without.text
