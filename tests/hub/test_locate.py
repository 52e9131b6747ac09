"""A model's location is checked once: the Hub is asked once per process about a repository that exists."""

import pytest
from huggingface_hub import HfApi

import samptx_hf.hub.locate
from samptx_hf.hub import is_hub_id, locate_pretrained


def test_a_repository_found_on_the_hub_is_not_asked_about_again(monkeypatch):
    asked = []

    def repo_exists(self, repo_id, **kwargs):
        asked.append(repo_id)
        return True

    monkeypatch.setattr(samptx_hf.hub.locate, "is_offline_mode", lambda: False)
    monkeypatch.setattr(samptx_hf.hub.locate, "try_to_load_from_cache", lambda *args, **kwargs: None)
    monkeypatch.setattr(samptx_hf.hub.locate, "_FOUND_ON_HUB", set())
    monkeypatch.setattr(HfApi, "repo_exists", repo_exists)
    assert locate_pretrained("me/sam-ptx-shapes", {"revision": "v1"}, what="--model") == {"revision": "v1"}
    assert locate_pretrained("me/sam-ptx-shapes") == {}  # e.g. from_pretrained after the CLI checked its flag
    assert asked == ["me/sam-ptx-shapes"]


def test_a_missing_repository_is_asked_about_every_time(monkeypatch):
    asked = []

    def repo_exists(self, repo_id, **kwargs):
        asked.append(repo_id)
        return False

    monkeypatch.setattr(samptx_hf.hub.locate, "is_offline_mode", lambda: False)
    monkeypatch.setattr(samptx_hf.hub.locate, "try_to_load_from_cache", lambda *args, **kwargs: None)
    monkeypatch.setattr(HfApi, "repo_exists", repo_exists)
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="--model 'me/not-yet': no such folder, and not found on the Hub"):
            locate_pretrained("me/not-yet", what="--model")
    assert asked == ["me/not-yet", "me/not-yet"]


def test_hub_ids_are_told_from_paths(tmp_path):
    assert is_hub_id("facebook/sam-vit-base")
    assert not is_hub_id(str(tmp_path))  # an existing folder
    assert not is_hub_id("a/b/c") and not is_hub_id("")
