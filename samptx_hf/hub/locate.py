"""Where a model is: a local folder, a built-in name or a Hub id, checked once before anything is loaded."""

import os
from collections.abc import Mapping
from typing import Any

from huggingface_hub import HfApi, is_offline_mode, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError, HTTPError
from huggingface_hub.utils import validate_repo_id
from transformers.utils.peft_utils import find_adapter_config_file

# The Hub arguments of `from_pretrained` that reach the files of a repository.
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")
# Repositories the Hub said exist, by (id, token): a model is checked where its name is given (a CLI flag, a training
# argument) and again where it is loaded; the Hub is asked once per process.
_FOUND_ON_HUB: set[tuple[str, str | bool | None]] = set()


def hub_lookup_kwargs(hub_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The Hub arguments of `hub_kwargs` that are set (`HUB_KWARGS`, not None); other keys are left out."""
    return {key: hub_kwargs[key] for key in HUB_KWARGS if hub_kwargs.get(key) is not None}


def is_hub_id(name: str | os.PathLike | None) -> bool:
    """True when `name` is not an existing path and has the form of a Hub repository id (`"user/model"`)."""
    if name is None:
        return False
    name = os.fspath(name)
    if os.path.exists(name):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def locate_pretrained(
    name_or_path: str | os.PathLike, hub_kwargs: Mapping[str, Any] | None = None, what: str = "model"
) -> dict[str, Any]:
    """Check at once that `name_or_path` is a local folder or a Hub repository, before anything is loaded.

    Without this, a missing folder is reported by the Hub client ("Repo id must be in the form ...") and a name
    that is not on the Hub is retried for over a minute when the Hub cannot be reached. Here a Hub id is looked up
    in the local cache when offline (`HF_HUB_OFFLINE=1` or `local_files_only=True`), else with one request, made
    once per process for a repository that exists.

    Args:
        name_or_path: A local folder or a Hub id, e.g. `"user/sam-ptx-cod10k"`.
        hub_kwargs: The Hub arguments the caller will load with (`token`, `cache_dir`, `revision`,
            `local_files_only`, ...); other keys are passed through.
        what: How to call the value in error messages, e.g. `"--model"` or `"frozen SAM"`.

    Returns:
        A copy of `hub_kwargs`, with `local_files_only=True` added when the Hub cannot be reached but the repository
        is in the cache (so loading does not retry the Hub).

    Raises:
        FileNotFoundError: When `name_or_path` is neither a folder nor a Hub repository that can be reached or is
            cached; the message says which.
    """
    hub_kwargs = dict(hub_kwargs or {})
    name = os.fspath(name_or_path)
    if os.path.isdir(name):
        return hub_kwargs
    if os.path.exists(name):
        raise FileNotFoundError(f"{what} {name!r} is a file, expected a model folder or a Hub id")
    if not is_hub_id(name):
        raise FileNotFoundError(f"{what} {name!r}: no such folder (nor a Hub id such as 'user/model')")
    config_file = "/".join(filter(None, [hub_kwargs.get("subfolder"), "config.json"]))
    cached = try_to_load_from_cache(
        name, config_file, cache_dir=hub_kwargs.get("cache_dir"), revision=hub_kwargs.get("revision")
    )
    is_cached = isinstance(cached, str)
    if is_offline_mode() or hub_kwargs.get("local_files_only"):
        if not is_cached:
            raise FileNotFoundError(
                f"{what} {name!r}: no such folder, and not in the local Hub cache (offline: HF_HUB_OFFLINE or "
                "local_files_only is set)"
            )
        return hub_kwargs
    if (name, hub_kwargs.get("token")) in _FOUND_ON_HUB:
        return hub_kwargs
    try:
        exists = HfApi(token=hub_kwargs.get("token")).repo_exists(name)
    except (HTTPError, OSError) as error:  # no connection, proxy or DNS failure: the cache is all there is
        if not is_cached:
            raise FileNotFoundError(
                f"{what} {name!r}: no such folder, not in the local Hub cache, and the Hub cannot be reached "
                f"({type(error).__name__}: {error})"
            ) from None
        return {**hub_kwargs, "local_files_only": True}
    if exists:
        _FOUND_ON_HUB.add((name, hub_kwargs.get("token")))
    else:
        raise FileNotFoundError(
            f"{what} {name!r}: no such folder, and not found on the Hub (a private or gated repository needs a "
            "token: `hf auth login`)"
        )
    return hub_kwargs


def find_adapter_config(pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> str | None:
    """Local path of `adapter_config.json` when `pretrained_model_name_or_path` is an adapter repository, else None.

    Looks in a local directory, in the HF cache (enough with `HF_HUB_OFFLINE=1`) or on the Hub; `hub_kwargs` are
    `cache_dir`, `token`, `revision`, `local_files_only`, ... as for `from_pretrained` (others are ignored).
    """
    return find_adapter_config_file(os.fspath(pretrained_model_name_or_path), **hub_lookup_kwargs(hub_kwargs))


__all__ = ["HUB_KWARGS", "find_adapter_config", "hub_lookup_kwargs", "is_hub_id", "locate_pretrained"]
