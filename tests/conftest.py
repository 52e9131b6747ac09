import pytest
import torch
from factories import make_batch, make_model

from samptx_hf import SamPtxForTextSegmentation


@pytest.fixture
def model() -> SamPtxForTextSegmentation:
    return make_model()


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    return make_batch()
