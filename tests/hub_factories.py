"""Tiny frozen SAM and CLIP checkpoints on disk, trained-looking SAM-PTx adapters built on them, and a fake Hub."""

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import CommitInfo, HfApi, RepoUrl
from peft import PeftModel, get_peft_model
from PIL import Image
from transformers import CLIPTextModelWithProjection, Sam2Model, SamModel

import samptx_hf.hub.repository
from samptx_hf import ParallelTextConfig, SamPtxForTextSegmentation
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_sam2_config, tiny_sam_config, tiny_text_config

IMAGE_SIZE = 64


def save_frozen_components(directory: Path, seed: int = 0, sam_version: int = 1) -> tuple[Path, Path]:
    """A tiny SamModel (or Sam2Model) and a tiny CLIP text encoder + tokenizer saved as `directory/sam` and
    `directory/clip`."""
    torch.manual_seed(seed)
    if sam_version == 1:
        SamModel(tiny_sam_config(image_size=IMAGE_SIZE)).save_pretrained(directory / "sam")
    else:
        Sam2Model(tiny_sam2_config(image_size=IMAGE_SIZE)).save_pretrained(directory / "sam")
    CLIPTextModelWithProjection(tiny_text_config()).save_pretrained(directory / "clip")
    tiny_clip_tokenizer().save_pretrained(directory / "clip")
    return directory / "sam", directory / "clip"


def make_peft_model(sam_dir: Path, clip_dir: Path, seed: int = 0, presence_head: bool = False) -> PeftModel:
    """SAM-PTx on the saved components with random (as if trained) adapters and mask decoder, in eval mode; with
    `presence_head`, a text-only model: SAM's presence head too, random as if trained."""
    base = SamPtxForTextSegmentation.from_pretrained_components(
        sam_dir, clip_dir, prompt_template="a {} thing", presence_head=presence_head
    )
    torch.manual_seed(seed)
    peft_model = get_peft_model(base, ParallelTextConfig(r=4, init_weights=False))
    with torch.no_grad():  # "training" moved the decoder away from SAM's
        for parameter in peft_model.base_model.model.sam.mask_decoder.modules_to_save["default"].parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        if presence_head:  # and the presence head, which answers present (about 0.8) on the tiny images
            head = peft_model.base_model.model.presence_head.modules_to_save["default"]
            for parameter in head.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
            head.presence_mlp.proj_out.bias.add_(2.0)
    return peft_model.eval()


def make_image(width: int = 80, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def put_in_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str) -> None:
    """Lay `folder` out as huggingface_hub does for a downloaded snapshot of `repo_id`."""
    repo_cache = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo_cache / "snapshots" / revision)
    (repo_cache / "refs").mkdir(parents=True)
    (repo_cache / "refs" / "main").write_text(revision)


class FakeHub:
    """Records what would be sent to the Hub."""

    def __init__(self, monkeypatch):
        self.repos, self.commits = [], []
        # Tests run offline; pushes are faked.
        monkeypatch.setattr(samptx_hf.hub.repository, "is_offline_mode", lambda: False)
        monkeypatch.setattr(HfApi, "create_repo", self.create_repo)
        monkeypatch.setattr(HfApi, "create_commit", self.create_commit)

    def create_repo(self, repo_id, private=None, exist_ok=False, **kwargs):
        self.repos.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        files = {}
        for operation in operations:
            with operation.as_file() as file:
                files[operation.path_in_repo] = file.read()
        self.commits.append({"repo_id": repo_id, "files": files, "message": commit_message, **kwargs})
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{'d' * 40}",
            commit_message=commit_message,
            commit_description="",
            oid="d" * 40,
        )


SAM_ID, CLIP_ID = "tiny-org/sam", "tiny-org/clip"


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for huggingface_hub and transformers (which read the constant at import time)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield


def name_components_by_hub_id(peft_model: PeftModel) -> None:
    """Make the model's config name its frozen components by Hub id, as after training from the Hub."""
    config = peft_model.get_base_model().config
    config.sam_model_name_or_path, config.text_model_name_or_path = SAM_ID, CLIP_ID


def offline_hub_cache(monkeypatch, cache: Path, components: tuple[Path, Path]) -> Path:
    """An HF cache holding the frozen components as SAM_ID and CLIP_ID, used with HF_HUB_OFFLINE=1."""
    put_in_hub_cache(cache, SAM_ID, components[0], "a" * 40)
    put_in_hub_cache(cache, CLIP_ID, components[1], "b" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read at import time
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def write_commit(files: dict[str, bytes], folder: Path) -> Path:
    """The files of a commit captured by FakeHub, written to `folder` (as a snapshot of the repository)."""
    for path_in_repo, content in files.items():
        (folder / path_in_repo).parent.mkdir(parents=True, exist_ok=True)
        (folder / path_in_repo).write_bytes(content)
    return folder
