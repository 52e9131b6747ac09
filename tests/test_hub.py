import json
import shutil
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from factories import make_model
from hub_factories import make_image, make_peft_model, save_frozen_components
from huggingface_hub import CommitInfo, HfApi, ModelCard, RepoUrl
from peft import PeftModel
from safetensors.torch import load_file

import samptx_hf.hub
from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.hub import push_adapter_to_hub, save_adapter_repo, upload_adapter_repo
from samptx_hf.inference import segment

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
    assert np.array_equal(expected.masks, got.masks) and expected.score == got.score
    with loaded.disable_adapter():
        assert outputs_of(loaded).score != got.score  # the adapter is what makes the difference


def test_peft_model_from_pretrained_on_a_base_built_by_hand(peft_model, components, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    base = SamPtxForTextSegmentation.from_pretrained_components(*components, prompt_template="a {} thing")
    loaded = PeftModel.from_pretrained(base, tmp_path / "repo")
    assert outputs_of(loaded).score == outputs_of(peft_model).score


def test_from_pretrained_on_a_full_model_folder_is_transformers_loading(tmp_path):
    full = make_model()
    full.save_pretrained(tmp_path / "full")
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "full")
    assert type(loaded) is SamPtxForTextSegmentation
    torch.testing.assert_close(loaded.sam.mask_decoder.iou_token.weight, full.sam.mask_decoder.iou_token.weight)


def test_adapter_weights_are_read_only_from_safetensors(peft_model, tmp_path):
    save_adapter_repo(peft_model, tmp_path / "repo")
    weights = tmp_path / "repo" / "adapter_model.safetensors"
    torch.save(load_file(weights), tmp_path / "repo" / "adapter_model.bin")
    weights.unlink()
    with pytest.raises(OSError, match="only from safetensors"):
        SamPtxForTextSegmentation.from_pretrained(tmp_path / "repo")


def _put_in_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str) -> None:
    """Lay `folder` out as huggingface_hub does for a downloaded snapshot of `repo_id`."""
    repo_cache = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo_cache / "snapshots" / revision)
    (repo_cache / "refs").mkdir(parents=True)
    (repo_cache / "refs" / "main").write_text(revision)


def test_from_pretrained_a_hub_id_from_the_cache_offline(peft_model, components, tmp_path, monkeypatch):
    config = peft_model.get_base_model().config
    config.sam_model_name_or_path, config.text_model_name_or_path = "tiny-org/sam", "tiny-org/clip"
    save_adapter_repo(peft_model, tmp_path / "repo", repo_id="me/sam-ptx-shapes")
    cache = tmp_path / "hf_home" / "hub"
    for repo_id, folder, revision in [
        ("tiny-org/sam", components[0], "a" * 40),
        ("tiny-org/clip", components[1], "b" * 40),
        ("me/sam-ptx-shapes", tmp_path / "repo", "c" * 40),
    ]:
        _put_in_hub_cache(cache, repo_id, folder, revision)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read at import time
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    loaded = SamPtxForTextSegmentation.from_pretrained("me/sam-ptx-shapes")
    assert isinstance(loaded, PeftModel)
    assert loaded.get_base_model().config.sam_model_name_or_path == "tiny-org/sam"
    assert outputs_of(loaded).score == outputs_of(peft_model).score


class FakeHub:
    """Records what would be sent to the Hub."""

    def __init__(self, monkeypatch):
        self.repos, self.commits = [], []
        monkeypatch.setattr(samptx_hf.hub, "is_offline_mode", lambda: False)
        monkeypatch.setattr(HfApi, "create_repo", self.create_repo)
        monkeypatch.setattr(HfApi, "create_commit", self.create_commit)

    def create_repo(self, repo_id, private=None, exist_ok=False, **kwargs):
        self.repos.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        files = {}
        for operation in operations:
            content = Path(operation.path_or_fileobj).read_bytes()
            files[operation.path_in_repo] = content
        self.commits.append({"repo_id": repo_id, "files": files, "message": commit_message})
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{'d' * 40}",
            commit_message=commit_message,
            commit_description="",
            oid="d" * 40,
        )


def test_push_uploads_the_adapter_repository_in_one_commit(peft_model, components, monkeypatch):
    hub = FakeHub(monkeypatch)
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


def test_a_model_location_that_does_not_exist_is_named_at_once(components, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model '.*missing': no such folder \(nor a Hub id"):
        SamPtxForTextSegmentation.from_pretrained(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"frozen SAM '.*no/sam': no such folder"):
        SamPtxForTextSegmentation.from_pretrained_components(tmp_path / "no" / "sam", components[1])
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"frozen CLIP '.*weights.bin' is a file, expected a model folder"):
        SamPtxForTextSegmentation.from_pretrained_components(components[0], tmp_path / "weights.bin")
