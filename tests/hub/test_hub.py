import json
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import make_model
from hub_factories import (
    CLIP_ID,
    SAM_ID,
    FakeHub,
    hub_offline,
    make_image,
    make_peft_model,
    name_components_by_hub_id,
    offline_hub_cache,
    put_in_hub_cache,
    save_frozen_components,
    write_commit,
)
from huggingface_hub import ModelCard
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, SamConfig

from samptx_hf import SamPtxForTextSegmentation, SamPtxPeftModel
from samptx_hf.hub import push_adapter_to_hub, save_adapter_repo, upload_adapter_repo
from samptx_hf.inference.segment import segment

REPO_FILES = {
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "config.json",
    "eval_results.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
}
EVAL_RESULTS = {"dataset": "synthetic", "num_samples": 8, "metrics": {"mean_iou": 0.625, "mean_sample_iou": 0.5}}


@pytest.fixture(scope="module", autouse=True)
def offline():
    with hub_offline():  # every route works without the network
        yield


@pytest.fixture
def components(tmp_path) -> tuple[Path, Path]:
    return save_frozen_components(tmp_path / "frozen")


@pytest.fixture
def peft_model(components) -> PeftModel:
    return make_peft_model(*components)


def outputs_of(model):
    return segment(model, make_image(), "circle", points=[(20, 20)])


def test_repo_holds_adapter_config_processor_and_card_but_no_frozen_weights(peft_model, components, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=EVAL_RESULTS, dataset_name="synthetic")
    assert {path.name for path in (tmp_path / "repo").iterdir()} == REPO_FILES
    weights = load_file(tmp_path / "repo" / "adapter_model.safetensors")
    assert weights and all(".parallel_text_" in key or ".mask_decoder." in key for key in weights)
    assert not any("text_encoder" in key or "vision_encoder.layers.0.mlp.lin1" in key for key in weights)
    frozen_size = sum(path.stat().st_size for path in components[0].parent.rglob("*.safetensors"))
    assert (tmp_path / "repo" / "adapter_model.safetensors").stat().st_size < 0.5 * frozen_size
    config = json.loads((tmp_path / "repo" / "config.json").read_text())
    assert config["sam_model_name_or_path"] == str(components[0])
    assert config["architectures"] == ["SamPtxForTextSegmentation"]
    assert json.loads((tmp_path / "repo" / "eval_results.json").read_text()) == EVAL_RESULTS


def test_model_card_has_hub_metadata_results_and_usage(peft_model, tmp_path):
    base_config = peft_model.get_base_model().config
    base_config.sam_model_name_or_path = "facebook/sam-vit-base"  # as in a real run
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=EVAL_RESULTS, repo_id="me/sam-ptx-shapes")
    card = ModelCard.load(tmp_path / "repo" / "README.md")
    assert card.data.library_name == "samptx_hf"
    assert card.data.base_model == "facebook/sam-vit-base"
    assert card.data.pipeline_tag == "image-segmentation"
    assert {"sam", "sam-ptx", "peft", "image-segmentation"} <= set(card.data.tags)
    assert card.data.datasets == ["synthetic"]  # from the results when not given
    metrics = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert metrics == {"mean_iou": 0.625, "mean_sample_iou": 0.5}
    assert card.data.eval_results[0].dataset_name == "synthetic"
    assert 'SamPtxForTextSegmentation.from_pretrained("me/sam-ptx-shapes")' in card.text
    assert "samptx segment --model me/sam-ptx-shapes" in card.text
    assert "| mean_iou | 0.6250 |" in card.text


def test_card_leaves_out_base_model_and_results_it_cannot_name(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")  # SAM from a local folder, no evaluation
    card = ModelCard.load(tmp_path / "repo" / "README.md")
    assert card.data.base_model is None and card.data.eval_results is None
    assert not (tmp_path / "repo" / "eval_results.json").exists()


def test_from_pretrained_on_an_adapter_folder_gives_the_trained_model(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")
    assert isinstance(loaded, PeftModel) and not loaded.training
    assert loaded.active_adapter == "default"
    assert loaded.get_base_model().config.prompt_template == "a {} thing"
    expected, got = outputs_of(peft_model), outputs_of(loaded)
    assert np.array_equal(expected.masks, got.masks) and expected.score == pytest.approx(got.score, rel=1e-5)
    with loaded.disable_adapter():
        assert outputs_of(loaded).score != got.score  # the adapter is what makes the difference


def test_an_adapter_saved_before_the_presence_answer_loads_and_segments_with_points_as_before(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    config_path = tmp_path / "repo" / "config.json"
    config = json.loads(config_path.read_text())
    del config["presence_head"]  # what repositories written before the text-only issue hold
    config_path.write_text(json.dumps(config))
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")
    assert loaded.get_base_model().presence_head is None
    expected, got = outputs_of(peft_model), outputs_of(loaded)
    assert np.array_equal(expected.masks, got.masks) and expected.score == pytest.approx(got.score, rel=1e-5)
    assert got.presence is None


def test_peft_model_from_pretrained_on_a_base_built_by_hand(peft_model, components, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    base = SamPtxForTextSegmentation.from_pretrained_components(*components, prompt_template="a {} thing")
    loaded = PeftModel.from_pretrained(base, tmp_path / "repo")
    assert outputs_of(loaded).score == pytest.approx(outputs_of(peft_model).score, rel=1e-5)


@pytest.mark.parametrize("load", [SamPtxForTextSegmentation.from_pretrained, AutoModel.from_pretrained])
def test_a_full_model_folder_is_transformers_loading(tmp_path, load):
    full = make_model()
    full.save_pretrained(tmp_path / "full")
    loaded = load(tmp_path / "full")
    assert type(loaded) is SamPtxForTextSegmentation
    torch.testing.assert_close(loaded.sam.mask_decoder.iou_token.weight, full.sam.mask_decoder.iou_token.weight)


def test_adapter_weights_are_read_only_from_safetensors(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    weights = tmp_path / "repo" / "adapter_model.safetensors"
    torch.save(load_file(weights), tmp_path / "repo" / "adapter_model.bin")
    weights.unlink()
    with pytest.raises(OSError, match="only from safetensors"):
        SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")


def test_from_pretrained_a_hub_id_from_the_cache_offline(peft_model, components, tmp_path, monkeypatch):
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, tmp_path / "repo", repo_id="me/sam-ptx-shapes")
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub", components)
    put_in_hub_cache(cache, "me/sam-ptx-shapes", tmp_path / "repo", "c" * 40)

    loaded = SamPtxForTextSegmentation.from_pretrained("me/sam-ptx-shapes")
    assert isinstance(loaded, PeftModel)
    assert loaded.get_base_model().config.sam_model_name_or_path == SAM_ID
    assert outputs_of(loaded).score == pytest.approx(outputs_of(peft_model).score, rel=1e-5)


def test_push_uploads_the_adapter_repository_in_one_commit(peft_model, components, monkeypatch):
    hub = FakeHub(monkeypatch)
    name_components_by_hub_id(peft_model)
    commit = push_adapter_to_hub(peft_model, "me/sam-ptx-shapes", eval_results=EVAL_RESULTS, private=True)
    assert commit.oid == "d" * 40
    assert hub.repos == [{"repo_id": "me/sam-ptx-shapes", "private": True, "exist_ok": True}]
    (sent,) = hub.commits
    assert sent["repo_id"] == "me/sam-ptx-shapes" and sent["message"] == "Upload SAM-PTx adapter"
    assert set(sent["files"]) == REPO_FILES
    frozen_size = sum(path.stat().st_size for path in components[0].parent.rglob("*.safetensors"))
    assert len(sent["files"]["adapter_model.safetensors"]) < 0.5 * frozen_size
    card = sent["files"]["README.md"].decode()
    assert "library_name: samptx_hf" in card and "pipeline_tag: image-segmentation" in card
    assert "model-index" in card and "- sam-ptx" in card
    assert 'from_pretrained("me/sam-ptx-shapes")' in card


def test_upload_of_a_training_folder_sends_only_repository_files(peft_model, tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch)
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"full weights")  # e.g. left by a checkpoint
    (tmp_path / "run" / "checkpoint-100").mkdir()
    (tmp_path / "run" / "checkpoint-100" / "optimizer.bin").write_bytes(b"state")
    upload_adapter_repo(tmp_path / "run", "me/sam-ptx-shapes")
    assert set(hub.commits[0]["files"]) == REPO_FILES - {"eval_results.json"}


def test_saving_or_uploading_something_else_is_refused(peft_model, tmp_path, monkeypatch):
    FakeHub(monkeypatch)
    with pytest.raises(ValueError, match="expected a PeftModel around a SamPtxForTextSegmentation"):
        save_adapter_repo(peft_model.get_base_model(), tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="has no adapter_config.json"):
        upload_adapter_repo(tmp_path, "me/sam-ptx-shapes")


def test_an_adapter_on_local_frozen_components_is_not_pushed(peft_model, tmp_path, monkeypatch):
    # The test model's frozen SAM and CLIP are local folders: a pushed copy could not be loaded by anyone else.
    hub = FakeHub(monkeypatch)
    save_adapter_repo(peft_model, tmp_path / "run")
    sam_folder = peft_model.get_base_model().config.sam_model_name_or_path
    for push in (
        lambda: upload_adapter_repo(tmp_path / "run", "me/sam-ptx-shapes"),
        lambda: push_adapter_to_hub(peft_model, "me/sam-ptx-shapes"),
    ):
        with pytest.raises(ValueError, match=f"names its frozen SAM by the local folder '{sam_folder}'.*upload that"):
            push()
    assert hub.repos == [] and hub.commits == []


def test_an_adapter_on_the_builtin_base_is_pushed(peft_model, tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch)
    config = peft_model.get_base_model().config
    config.sam_model_name_or_path, config.text_model_name_or_path = "samptx_hf:tiny-sam", "samptx_hf:tiny-clip"
    save_adapter_repo(peft_model, tmp_path / "run")
    upload_adapter_repo(tmp_path / "run", "me/sam-ptx-shapes")
    assert json.loads(hub.commits[0]["files"]["config.json"])["sam_model_name_or_path"] == "samptx_hf:tiny-sam"


# ----------------------------------------------------------------------------------------------- loaded models


def test_automodel_on_an_adapter_folder_is_from_pretrained(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")
    auto = AutoModel.from_pretrained(tmp_path / "repo")
    assert type(auto) is type(loaded) is SamPtxPeftModel and not auto.training
    expected, got = outputs_of(loaded), outputs_of(auto)
    assert np.array_equal(expected.masks, got.masks) and expected.score == pytest.approx(got.score, rel=1e-5)


def test_automodel_passes_hub_arguments_to_the_adapter_and_the_components(
    peft_model, components, tmp_path, monkeypatch
):
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, tmp_path / "repo")
    offline_hub_cache(monkeypatch, tmp_path / "default_cache", components)
    cache = tmp_path / "cache"  # not the default cache: the adapter is found only through cache_dir
    put_in_hub_cache(cache, SAM_ID, components[0], "a" * 40)
    put_in_hub_cache(cache, CLIP_ID, components[1], "b" * 40)
    put_in_hub_cache(cache, "me/sam-ptx-shapes", tmp_path / "repo", "c" * 40)
    auto = AutoModel.from_pretrained(
        "me/sam-ptx-shapes", cache_dir=cache, local_files_only=True, revision="c" * 40, token=False
    )
    assert outputs_of(auto).score == pytest.approx(outputs_of(peft_model).score, rel=1e-5)


def test_automodel_takes_the_config_it_read_and_a_dtype(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    config = AutoConfig.from_pretrained(tmp_path / "repo", prompt_template="an image of a {}")
    auto = AutoModel.from_pretrained(tmp_path / "repo", config=config, dtype=torch.bfloat16)
    assert auto.get_base_model().config.prompt_template == "an image of a {}"
    assert {parameter.dtype for parameter in auto.parameters()} == {torch.bfloat16}
    assert outputs_of(auto).score >= 0  # runs in bfloat16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device_map": "auto"}, r"\['device_map'\] cannot be used when loading the adapter repository"),
        ({"dtype": "int8"}, "dtype='int8' is not a torch floating-point dtype"),
        ({"config": SamConfig()}, "config must be a SamPtxConfig, got SamConfig"),
    ],
)
def test_adapter_repository_arguments_are_checked(peft_model, tmp_path, kwargs, message):
    save_adapter_repo(peft_model, tmp_path / "repo")
    with pytest.raises((TypeError, ValueError), match=message) as error:
        SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo", **kwargs)
    if "device_map" in kwargs:
        assert "accepted: adapter_name, is_trainable, config, dtype, cache_dir" in str(error.value)


def test_save_pretrained_of_a_loaded_model_writes_the_whole_repository(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=EVAL_RESULTS, dataset_name="synthetic")
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")
    loaded.processor.prompt_template = "a {} thing"  # the repository's processor is the one saved again
    loaded.save_pretrained(tmp_path / "copy")
    assert {path.name for path in (tmp_path / "copy").iterdir()} == REPO_FILES
    assert json.loads((tmp_path / "copy" / "eval_results.json").read_text()) == EVAL_RESULTS
    card = ModelCard.load(tmp_path / "copy" / "README.md")
    assert card.data.pipeline_tag == "image-segmentation" and card.data.datasets == ["synthetic"]
    assert 'pipeline("text-guided-segmentation", model="copy")' in card.text

    reloaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "copy")
    expected, got = outputs_of(peft_model), outputs_of(reloaded)
    assert np.array_equal(expected.masks, got.masks) and expected.score == pytest.approx(got.score, rel=1e-5)


def test_results_of_the_loaded_weights_are_not_written_once_the_weights_changed(peft_model, tmp_path, caplog):
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=EVAL_RESULTS)
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo", is_trainable=True)
    assert loaded.training and any(parameter.requires_grad for parameter in loaded.parameters())
    with torch.no_grad():  # a step of further training
        next(p for n, p in loaded.named_parameters() if "parallel_text" in n and p.requires_grad).add_(0.1)
    loaded.save_pretrained(tmp_path / "further")
    assert not (tmp_path / "further" / "eval_results.json").exists()
    assert ModelCard.load(tmp_path / "further" / "README.md").data.eval_results is None
    assert "no longer describe this model" in caplog.text
    loaded.save_pretrained(tmp_path / "evaluated", eval_results={"mean_iou": 0.7})
    assert json.loads((tmp_path / "evaluated" / "eval_results.json").read_text()) == {"mean_iou": 0.7}


def test_push_of_a_loaded_and_further_trained_model_reloads_offline(peft_model, components, tmp_path, monkeypatch):
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, tmp_path / "repo", eval_results=EVAL_RESULTS, repo_id="me/sam-ptx-shapes")
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub", components)
    put_in_hub_cache(cache, "me/sam-ptx-shapes", tmp_path / "repo", "c" * 40)
    hub = FakeHub(monkeypatch)

    loaded = AutoModel.from_pretrained("me/sam-ptx-shapes", is_trainable=True)
    with torch.no_grad():
        loaded.base_model.model.sam.mask_decoder.modules_to_save["default"].iou_token.weight.add_(0.5)
    loaded.eval()
    commit = loaded.push_to_hub("me/sam-ptx-shapes-v2", private=True, create_pr=True)

    (sent,) = hub.commits
    assert commit.oid == "d" * 40 and sent["repo_id"] == "me/sam-ptx-shapes-v2" and sent["create_pr"] is True
    assert set(sent["files"]) == REPO_FILES - {"eval_results.json"}  # the loaded results describe other weights
    assert json.loads(sent["files"]["adapter_config.json"])["base_model_name_or_path"] == "me/sam-ptx-shapes-v2"
    assert 'from_pretrained("me/sam-ptx-shapes-v2")' in sent["files"]["README.md"].decode()

    put_in_hub_cache(cache, "me/sam-ptx-shapes-v2", write_commit(sent["files"], tmp_path / "pushed"), "e" * 40)
    reloaded = AutoModel.from_pretrained("me/sam-ptx-shapes-v2")
    expected, got = outputs_of(loaded), outputs_of(reloaded)
    assert np.array_equal(expected.masks, got.masks) and expected.score == pytest.approx(got.score, rel=1e-5)
    assert got.score != outputs_of(peft_model).score  # the further-trained weights were pushed


def test_upload_names_the_repository_as_the_base_model(peft_model, tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch)
    name_components_by_hub_id(peft_model)
    save_adapter_repo(peft_model, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    upload_adapter_repo(tmp_path / "run", "me/sam-ptx-shapes")
    adapter_config = json.loads(hub.commits[0]["files"]["adapter_config.json"])
    assert adapter_config["base_model_name_or_path"] == "me/sam-ptx-shapes"
    assert adapter_config["peft_type"] == "PARALLEL_TEXT"


def test_a_model_location_that_does_not_exist_is_named_at_once(components, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model '.*missing': no such folder \(nor a Hub id"):
        SamPtxForTextSegmentation.from_pretrained(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"frozen SAM '.*no/sam': no such folder"):
        SamPtxForTextSegmentation.from_pretrained_components(tmp_path / "no" / "sam", components[1])
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"frozen CLIP '.*weights.bin' is a file, expected a model folder"):
        SamPtxForTextSegmentation.from_pretrained_components(components[0], tmp_path / "weights.bin")
