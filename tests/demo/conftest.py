"""A saved tiny SAM-PTx adapter repository (as training writes it) and that model loaded, for the demo tests; tiny
models whose presence answer the test chooses."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from factories import make_model


@pytest.fixture(scope="session")
def demo_model_dir(adapter_repo: Path) -> Path:
    return adapter_repo


@pytest.fixture(scope="session")
def demo_model(demo_model_dir: Path):
    from samptx_hf import SamPtxForTextSegmentation

    return SamPtxForTextSegmentation.from_pretrained(demo_model_dir)


@pytest.fixture
def model_answering() -> Callable[[list[float] | None], torch.nn.Module]:
    """Makes a tiny SAM-PTx whose presence head answers `presence_logits` (+10 present, -10 absent) to the class
    names of a call, in order (a call with fewer names gets the first ones); with None, one without a presence head."""

    def make(presence_logits: list[float] | None) -> torch.nn.Module:
        model = make_model(presence_head=presence_logits is not None).eval()
        if presence_logits is not None:
            answer = torch.tensor(presence_logits)

            def answer_presence(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
                return answer[: len(output)].view(-1, 1, 1).to(output)  # (class names, 1, 1)

            model.presence_head.register_forward_hook(answer_presence)
        return model

    return make
