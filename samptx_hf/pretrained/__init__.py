"""Frozen components shipped inside the package: a pretrained tiny SAM, a pretrained tiny SAM 2 and a tiny CLIP
text encoder.

They stand in for `facebook/sam-vit-base`, `facebook/sam2.1-hiera-tiny` and `openai/clip-vit-base-patch32` in the
default run, the ablation and the docs, offline and in seconds on a CPU. A configuration names them
`samptx_hf:tiny-sam`, `samptx_hf:tiny-sam2` and `samptx_hf:tiny-clip`: these names resolve wherever the package is
installed, so an adapter trained on them can be moved, pushed and loaded by someone else.
`examples/pretrain_tiny_base.py` made them (`--sam_version 2` the SAM 2).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PRETRAINED_DIR = Path(__file__).parent
BUILTIN_PREFIX = "samptx_hf:"
TINY_SAM = f"{BUILTIN_PREFIX}tiny-sam"
TINY_SAM2 = f"{BUILTIN_PREFIX}tiny-sam2"
TINY_CLIP = f"{BUILTIN_PREFIX}tiny-clip"
# Checksums of the shipped weights, as printed by examples/pretrain_tiny_base.py.
SHA256 = {
    TINY_SAM: "d0f403ccb1420190017a9243be49c6cebb301135b3973fd7435913b4cd7f8c6a",
    TINY_SAM2: "f8c5689c138aa60b36041009dc0ebea3c1bf03f4600c306b410286a7aee29086",
    TINY_CLIP: "c330ac6893b28526c928af065d281fcfea4dc4460b1fad5834ffae775a903db3",
}


def is_builtin(name_or_path: str | os.PathLike) -> bool:
    """Whether `name_or_path` names a component shipped with the package (`samptx_hf:<name>`)."""
    return isinstance(name_or_path, str) and name_or_path.startswith(BUILTIN_PREFIX)


def resolve_component(name_or_path: str | os.PathLike) -> str | os.PathLike:
    """The local folder of a built-in component name; any other Hub id or path is returned as it is.

    Raises:
        ValueError: On a `samptx_hf:` name that the package does not ship.
    """
    if not is_builtin(name_or_path):
        return name_or_path
    if name_or_path not in SHA256:
        raise ValueError(f"{name_or_path!r} is not a built-in component; the package ships {sorted(SHA256)}")
    return str(PRETRAINED_DIR / name_or_path.removeprefix(BUILTIN_PREFIX))


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file, as `SHA256` records them."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_checksums() -> dict[str, str]:
    """SHA-256 of each shipped weights file; raises `OSError` when one differs from `SHA256` (a corrupt install)."""
    digests = {}
    for name, expected in SHA256.items():
        path = Path(resolve_component(name)) / "model.safetensors"
        digests[name] = file_sha256(path)
        if digests[name] != expected:
            raise OSError(f"{path} has SHA-256 {digests[name]}, expected {expected}: reinstall samptx_hf")
    return digests


__all__ = [
    "PRETRAINED_DIR",
    "TINY_CLIP",
    "TINY_SAM",
    "TINY_SAM2",
    "file_sha256",
    "is_builtin",
    "resolve_component",
    "verify_checksums",
]
