"""Trained SAM-PTx adapters as folders and Hub repositories: the format, and writing, pushing and reading it.

Loading a repository as a model is [`SamPtxPeftModel.from_adapter_repo`] (reached from
`SamPtxForTextSegmentation.from_pretrained` and `AutoModel.from_pretrained`); this module does not import the model.

An adapter repository holds what training changed and what is needed to rebuild the rest, never the frozen SAM or
CLIP weights:

- `adapter_config.json`, `adapter_model.safetensors`: the Parallel-Text adapters and the trained mask decoder
  (`PeftModel.save_pretrained`);
- `config.json`: the [`SamPtxConfig`], which names the frozen components (`sam_model_name_or_path`,
  `text_model_name_or_path`);
- `processor_config.json` and the tokenizer files: the [`SamPtxProcessor`];
- `README.md`: the model card (`samptx_hf.hub.model_card`); `eval_results.json` when evaluation results are given.
"""

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard, is_offline_mode
from huggingface_hub.errors import HfHubHTTPError, HTTPError
from peft import PeftModel
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedModel
from transformers.utils import CONFIG_NAME, cached_file

from ..modeling.configuration_samptx import SamPtxConfig
from ..pretrained import is_builtin
from ..processing.processing_samptx import SamPtxProcessor
from ..tuners.parallel_text.config import SamPtxPeftType
from .locate import hub_lookup_kwargs, is_hub_id
from .model_card import build_model_card

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
EVAL_RESULTS_NAME = "eval_results.json"
# The files of an adapter repository; anything else in a folder (checkpoints, frozen weights) is never uploaded.
ADAPTER_REPO_FILES = (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    "config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "README.md",
    EVAL_RESULTS_NAME,
)


# ----------------------------------------------------------------------------------------------- reading


def read_repository_metadata(
    pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """`(eval_results, dataset_name)` of an adapter repository: its `eval_results.json` and its card's dataset.

    Either is None when the repository does not have it. `hub_kwargs`: the Hub arguments of `from_pretrained`
    (`samptx_hf.hub.HUB_KWARGS`); others are ignored.
    """
    lookup = hub_lookup_kwargs(hub_kwargs)
    model_id = os.fspath(pretrained_model_name_or_path)
    eval_results, dataset_name = None, None
    results_file = cached_file(model_id, EVAL_RESULTS_NAME, _raise_exceptions_for_missing_entries=False, **lookup)
    if results_file is not None:
        eval_results = json.loads(Path(results_file).read_text())
    card_file = cached_file(model_id, "README.md", _raise_exceptions_for_missing_entries=False, **lookup)
    if card_file is not None:
        datasets = ModelCard.load(card_file).data.datasets
        dataset_name = datasets[0] if datasets else None
    return eval_results, dataset_name


def read_adapter_config(adapter_config_file: str | os.PathLike) -> dict[str, Any]:
    """The contents of an `adapter_config.json`, checked to be a SAM-PTx adapter's.

    Raises:
        OSError: When the file is not valid JSON, or not a JSON object; the message names the file.
        ValueError: When it configures another PEFT method than the Parallel-Text adapter.
    """
    adapter_config = _read_json_object(adapter_config_file, "a PEFT adapter config written by save_pretrained")
    peft_type = adapter_config.get("peft_type")
    if peft_type != SamPtxPeftType.PARALLEL_TEXT.value:
        raise ValueError(
            f"{adapter_config_file} has peft_type {peft_type!r}, expected {SamPtxPeftType.PARALLEL_TEXT.value!r} "
            "(every SAM-PTx method is a ParallelTextConfig)"
        )
    return adapter_config


def read_repository_config(pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> SamPtxConfig:
    """The [`SamPtxConfig`] of an adapter repository, read with a one-line error naming a missing or broken file
    (whether it names the frozen components is [`check_frozen_components_named`]'s to say).

    `hub_kwargs`: the Hub arguments of `from_pretrained` (`samptx_hf.hub.HUB_KWARGS`); others are ignored.

    Raises:
        OSError: When `config.json` is missing, not valid JSON, or not a SAM-PTx config; the message names the file
            and, for a missing one, how to load the adapter onto its base instead.
    """
    lookup = hub_lookup_kwargs(hub_kwargs)
    model_id = os.fspath(pretrained_model_name_or_path)
    config_file = cached_file(model_id, CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **lookup)
    if config_file is None:
        raise OSError(
            f"{model_id!r} has {ADAPTER_CONFIG_NAME} but no {CONFIG_NAME} naming the frozen SAM and CLIP the adapter "
            "was trained on: load it onto that base with PeftModel.from_pretrained(SamPtxForTextSegmentation."
            f"from_pretrained_components(SAM, CLIP), {model_id!r})"
        )
    model_type = _read_json_object(config_file, "the SamPtxConfig of the adapter").get("model_type")
    if model_type != SamPtxConfig.model_type:
        raise OSError(
            f"{config_file} has model_type {model_type!r}, expected {SamPtxConfig.model_type!r}: the config.json of an "
            "adapter repository describes the SAM-PTx model the adapter was trained on"
        )
    return SamPtxConfig.from_pretrained(model_id, **lookup)


def check_frozen_components_named(config: SamPtxConfig, model_id: str) -> None:
    """`ValueError` when the config of the adapter repository `model_id` names no frozen SAM or CLIP to load.

    Such an adapter was trained on a model built from a config, whose weights cannot be loaded again: it loads only
    onto that model, never onto a default base.
    """
    for what, field in (("SAM", "sam_model_name_or_path"), ("CLIP", "text_model_name_or_path")):
        if getattr(config, field) is None:
            raise ValueError(
                f"the config.json of {model_id!r} names no frozen {what} ({field} is null: the adapter was trained on "
                "a model built from a config, whose weights cannot be loaded again): load it onto that model with "
                f"PeftModel.from_pretrained(model, {model_id!r})"
            )


def adapter_weight_shapes(weights_file: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes stored in `adapter_model.safetensors`, read from its header alone.

    Raises:
        OSError: When the file is not a readable safetensors file (truncated, or not safetensors at all).
    """
    try:
        with safe_open(os.fspath(weights_file), framework="pt") as weights:
            return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as error:
        raise OSError(
            f"{weights_file} is not a readable safetensors file ({error}): expected the adapter weights written by "
            "save_pretrained (a truncated download or copy?)"
        ) from None


def _read_json_object(path: str | os.PathLike, expected: str) -> dict[str, Any]:
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OSError(f"{path} is not valid JSON ({error}): expected {expected}") from None
    if not isinstance(content, dict):
        raise OSError(f"{path} holds a JSON {type(content).__name__}, expected an object: {expected}")
    return content


# ----------------------------------------------------------------------------------------------- saving


def save_adapter_repo(
    peft_model: PeftModel,
    save_directory: str | os.PathLike,
    processor: SamPtxProcessor | None = None,
    eval_results: Mapping[str, Any] | None = None,
    dataset_name: str | None = None,
    repo_id: str | None = None,
    selected_adapters: list[str] | None = None,
) -> Path:
    """Write a trained SAM-PTx model as an adapter repository (see the module docstring for the files).

    Args:
        peft_model: A `PeftModel` around a [`SamPtxForTextSegmentation`] (from `get_peft_model` or `from_pretrained`).
        save_directory: The folder to write; created if missing.
        processor: The processor to save; by default [`SamPtxProcessor.from_model`] of the model.
        eval_results: Results of [`evaluate_model`] (or a mapping of metric name to number), written to
            `eval_results.json` and into the model card's `model-index`.
        dataset_name: The training / evaluation dataset, for the card (e.g. `"cod10k"` or a Hub dataset id).
        repo_id: The Hub id the repository is for: the card's usage examples load from it, and `adapter_config.json`
            names it as `base_model_name_or_path`. The card uses the folder name by default.
        selected_adapters: Named adapters to write (peft's layout: the first at the top level); all by default.

    Returns:
        The folder, as a `Path`.

    Raises:
        ValueError: When `peft_model` is not a `PeftModel` around a SAM-PTx model.
    """
    base = _samptx_base_model(peft_model)
    save_directory = Path(save_directory)
    save_directory.mkdir(parents=True, exist_ok=True)

    # peft's own writer, also when `peft_model` is a `SamPtxPeftModel` (whose `save_pretrained` calls this function).
    PeftModel.save_pretrained(peft_model, save_directory, safe_serialization=True, selected_adapters=selected_adapters)
    if repo_id is not None:  # what AutoModel.from_pretrained(repo_id) reads (see `_commit_adapter_folder`)
        adapter_config_file = save_directory / ADAPTER_CONFIG_NAME
        adapter_config_file.write_text(_adapter_config_naming(adapter_config_file, repo_id))
    config = copy.deepcopy(base.config)
    config.architectures = [type(base).__name__]
    config.save_pretrained(save_directory)
    processor = processor if processor is not None else SamPtxProcessor.from_model(base)
    processor.save_pretrained(save_directory)
    if eval_results is not None:
        (save_directory / EVAL_RESULTS_NAME).write_text(json.dumps(eval_results, indent=2) + "\n")
    card = build_model_card(
        config,
        peft_model.peft_config[peft_model.active_adapter],
        eval_results=eval_results,
        dataset_name=dataset_name,
        repo_id=repo_id or save_directory.resolve().name,
    )
    card.save(save_directory / "README.md")  # replaces peft's generic card
    return save_directory


def push_adapter_to_hub(
    peft_model: PeftModel,
    repo_id: str,
    processor: SamPtxProcessor | None = None,
    eval_results: Mapping[str, Any] | None = None,
    dataset_name: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload SAM-PTx adapter",
    revision: str | None = None,
    create_pr: bool = False,
) -> CommitInfo:
    """Save a trained SAM-PTx model as an adapter repository (`save_adapter_repo`) and upload it in one commit.

    Creates the repository if needed. Arguments as for [`save_adapter_repo`] and [`upload_adapter_repo`].

    Returns:
        The `CommitInfo` of the upload.
    """
    _check_components_shareable(_samptx_base_model(peft_model).config)

    def write(repo_id: str, scratch: Path) -> Path:
        return save_adapter_repo(peft_model, scratch, processor, eval_results, dataset_name, repo_id=repo_id)

    return _create_and_commit(
        write, repo_id, f"push to {repo_id!r}", private, token, commit_message, revision, create_pr
    )


def upload_adapter_repo(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload SAM-PTx adapter",
    revision: str | None = None,
    create_pr: bool = False,
) -> CommitInfo:
    """Upload a folder written by [`save_adapter_repo`] (e.g. by the training script) in one commit.

    Only the files of an adapter repository are uploaded (`ADAPTER_REPO_FILES`, and the same files of further named
    adapters in sub-folders); checkpoints or weights of frozen components in the folder are left out. The uploaded
    `adapter_config.json` names the repository itself as `base_model_name_or_path`, which is what lets
    `AutoModel.from_pretrained(repo_id)` find the model.

    Args:
        folder: The folder.
        repo_id: The Hub repository, e.g. `"user/sam-ptx-cod10k"`; created if missing.
        private: Visibility of a newly created repository (the Hub's default if None).
        token: The Hub token; the logged-in user's by default.
        commit_message: The commit's message.
        revision: The branch to commit to; the default branch if None.
        create_pr: Open a pull request with the commit instead of committing to the branch.

    Raises:
        FileNotFoundError: When the folder lacks `adapter_config.json`, `adapter_model.safetensors` or `config.json`.
        ValueError: When `config.json` names a frozen SAM or CLIP by a local folder: nobody else could load it.
        OSError: When offline (`HF_HUB_OFFLINE=1`), when the Hub cannot be reached, or when it refuses the upload.
    """
    folder = Path(folder)
    _check_adapter_folder(folder)
    _check_components_shareable(SamPtxConfig.from_pretrained(folder))
    return _create_and_commit(
        lambda repo_id, scratch: folder,
        repo_id,
        f"push {folder} to {repo_id!r}",
        private,
        token,
        commit_message,
        revision,
        create_pr,
    )


def _create_and_commit(
    write_folder: Callable[[str, Path], Path],
    repo_id: str,
    action: str,
    private: bool | None,
    token: str | bool | None,
    commit_message: str,
    revision: str | None,
    create_pr: bool,
) -> CommitInfo:
    """Create `repo_id` if missing, then commit the adapter folder `write_folder(repo_id, scratch_folder)` returns.

    The one way to the Hub of `push_adapter_to_hub` and `upload_adapter_repo`. `write_folder` gets the repository's
    full id (with the namespace the Hub filled in) and an empty scratch folder, removed afterwards.
    """
    api = HfApi(token=token)
    with _reaching_the_hub(action), tempfile.TemporaryDirectory() as scratch:
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        folder = write_folder(repo_id, Path(scratch))
        return _commit_adapter_folder(api, folder, repo_id, commit_message, revision, create_pr)


@contextlib.contextmanager
def _reaching_the_hub(action: str) -> Iterator[None]:
    """Offline mode and a Hub that cannot be reached as one-line `OSError`s that say what could not be done."""
    if is_offline_mode():
        raise OSError(f"cannot {action}: offline mode is on (HF_HUB_OFFLINE is set)")
    try:
        yield
    except HfHubHTTPError:
        raise  # the Hub answered; its message says why (authentication, permissions, ...)
    except HTTPError as error:  # no answer: DNS, connection, proxy, timeout
        raise OSError(
            f"cannot {action}: the Hugging Face Hub cannot be reached ({type(error).__name__}: {error})"
        ) from error


def _commit_adapter_folder(
    api: HfApi, folder: Path, repo_id: str, commit_message: str, revision: str | None, create_pr: bool
) -> CommitInfo:
    """Commit the repository files of `folder`.

    transformers' `AutoModel.from_pretrained` and `pipeline` read a Hub repository with `adapter_config.json` as an
    adapter on the model named by its `base_model_name_or_path`. The model an adapter repository builds on is the
    [`SamPtxForTextSegmentation`] its own `config.json` describes, so the uploaded adapter config names `repo_id`.
    """
    _check_adapter_folder(folder)
    operations = []
    for path in sorted(folder.rglob("*")):
        relative_path = path.relative_to(folder)
        if not (path.is_file() and _is_adapter_repo_file(relative_path)):
            continue
        content: str | bytes = str(path)
        if relative_path.as_posix() == ADAPTER_CONFIG_NAME:
            content = _adapter_config_naming(path, repo_id).encode()
        operations.append(CommitOperationAdd(path_in_repo=relative_path.as_posix(), path_or_fileobj=content))
    return api.create_commit(
        repo_id=repo_id,
        operations=operations,
        commit_message=commit_message,
        revision=revision,
        create_pr=create_pr,
    )


def _adapter_config_naming(adapter_config_file: Path, repo_id: str) -> str:
    """The text of `adapter_config.json` with `base_model_name_or_path` set to `repo_id`."""
    adapter_config = json.loads(adapter_config_file.read_text())
    adapter_config["base_model_name_or_path"] = repo_id
    return json.dumps(adapter_config, indent=2, sort_keys=True) + "\n"


def _is_adapter_repo_file(relative_path: Path) -> bool:
    """A file of the repository format: top level, or the adapter files of a further named adapter (peft's layout)."""
    if len(relative_path.parts) == 1:
        return relative_path.name in ADAPTER_REPO_FILES
    return len(relative_path.parts) == 2 and relative_path.name in (ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME)


def _check_components_shareable(config: SamPtxConfig) -> None:
    """A pushed repository must load elsewhere: its frozen components must be Hub ids or built-in (`samptx_hf:`)."""
    for what, field in (("SAM", "sam_model_name_or_path"), ("CLIP", "text_model_name_or_path")):
        name = getattr(config, field)
        if name is None:
            raise ValueError(
                f"the adapter's config.json names no frozen {what} ({field} is None: the model was built from a "
                "config, with weights nobody could load again): train on a Hub id or a built-in component"
            )
        if not (is_builtin(name) or is_hub_id(name)):
            raise ValueError(
                f"the adapter's config.json names its frozen {what} by the local folder {name!r}, which nobody else "
                f"can load: train on a Hub id or a built-in component ('samptx_hf:tiny-sam', 'samptx_hf:tiny-clip'), "
                f"or upload that folder to the Hub and set {field} in config.json to its id"
            )


def _check_adapter_folder(folder: Path) -> None:
    for name in (ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, "config.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder} has no {name}: expected a SAM-PTx adapter folder written by save_adapter_repo"
            )


def _samptx_base_model(peft_model: Any) -> PreTrainedModel:
    base = peft_model.get_base_model() if isinstance(peft_model, PeftModel) else None
    if not isinstance(getattr(base, "config", None), SamPtxConfig):
        raise ValueError(
            f"expected a PeftModel around a SamPtxForTextSegmentation (from peft.get_peft_model), got "
            f"{type(peft_model).__name__}"
            + (f" around {type(base).__name__}" if base is not None else "")
            + "; save a full model with model.save_pretrained instead"
        )
    return base


__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_REPO_FILES",
    "ADAPTER_WEIGHTS_NAME",
    "EVAL_RESULTS_NAME",
    "adapter_weight_shapes",
    "check_frozen_components_named",
    "push_adapter_to_hub",
    "read_adapter_config",
    "read_repository_config",
    "read_repository_metadata",
    "save_adapter_repo",
    "upload_adapter_repo",
]
