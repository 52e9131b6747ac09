"""A model's location is checked once: the Hub is asked once per process about a repository that exists."""

import pytest
from huggingface_hub import HfApi

import samptx_hf.hub.locate
from samptx_hf.hub import is_hub_id, locate_pretrained


@pytest.fixture
def hub(monkeypatch):
    """An online Hub with an empty cache, whose answers to `repo_exists` the test sets; records the questions."""

    class Hub:
        repositories: set[str] = set()
        asked: list[str] = []

    def repo_exists(self, repo_id, **kwargs):
        Hub.asked.append(repo_id)
        return repo_id in Hub.repositories

    monkeypatch.setattr(samptx_hf.hub.locate, "is_offline_mode", lambda: False)
    monkeypatch.setattr(samptx_hf.hub.locate, "try_to_load_from_cache", lambda *args, **kwargs: None)
    monkeypatch.setattr(samptx_hf.hub.locate, "_FOUND_ON_HUB", set())
    monkeypatch.setattr(HfApi, "repo_exists", repo_exists)
    return Hub


def test_a_repository_found_on_the_hub_is_not_asked_about_again(hub):
    hub.repositories = {"me/sam-ptx-shapes"}
    assert locate_pretrained("me/sam-ptx-shapes", {"revision": "v1"}, what="--model") == {"revision": "v1"}
    assert locate_pretrained("me/sam-ptx-shapes") == {}  # e.g. from_pretrained after the CLI checked its flag
    assert hub.asked == ["me/sam-ptx-shapes"]


def test_a_missing_repository_is_asked_about_every_time(hub):
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="--model 'me/not-yet': no such folder, and not found on the Hub"):
            locate_pretrained("me/not-yet", what="--model")
    assert hub.asked == ["me/not-yet", "me/not-yet"]


def test_hub_ids_are_told_from_paths(tmp_path):
    assert is_hub_id("facebook/sam-vit-base")
    assert not is_hub_id(str(tmp_path))  # an existing folder
    assert not is_hub_id("a/b/c") and not is_hub_id("")
