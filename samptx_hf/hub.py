"""Trained SAM-PTx adapters as directories and Hub repositories: the format, save, push, and their model card.

Loading is `SamPtxForTextSegmentation.from_pretrained` (or `AutoModel.from_pretrained`), which builds a
[`SamPtxPeftModel`] on this module; this module does not import the model.

An adapter repository holds what training changed and what is needed to rebuild the rest, never the frozen SAM or
CLIP weights:

- `adapter_config.json`, `adapter_model.safetensors`: the Parallel-Text adapters and the trained mask decoder
  (`PeftModel.save_pretrained`);
- `config.json`: the [`SamPtxConfig`], which names the frozen components (`sam_model_name_or_path`,
  `text_model_name_or_path`);
- `processor_config.json` and the tokenizer files: the [`SamPtxProcessor`];
- `README.md`: the model card; `eval_results.json` when evaluation results are given.
"""

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    is_offline_mode,
    try_to_load_from_cache,
)
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, HTTPError
from huggingface_hub.utils import validate_repo_id
from peft import PeftModel
from transformers import PreTrainedModel
from transformers.utils import cached_file
from transformers.utils.peft_utils import find_adapter_config_file

from .configuration_samptx import SamPtxConfig
from .pretrained import is_builtin
from .processing_samptx import SamPtxProcessor

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
MODEL_CARD_TAGS = [
    "sam",
    "sam-ptx",
    "segment-anything",
    "peft",
    "parallel-text-adapter",
    "image-segmentation",
    "text-guided-segmentation",
]
HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


# ----------------------------------------------------------------------------------------------- loading


def locate_pretrained(
    name_or_path: str | os.PathLike, hub_kwargs: Mapping[str, Any] | None = None, what: str = "model"
) -> dict[str, Any]:
    """Check at once that `name_or_path` is a local folder or a Hub repository, before anything is loaded.

    Without this, a missing folder is reported by the Hub client ("Repo id must be in the form ...") and a name
    that is not on the Hub is retried for over a minute when the Hub cannot be reached. Here a Hub id is looked up
    in the local cache when offline (`HF_HUB_OFFLINE=1` or `local_files_only=True`), else with one request.

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
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"{what} {name!r}: no such folder (nor a Hub id such as 'user/model')") from None
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
    try:
        exists = HfApi(token=hub_kwargs.get("token")).repo_exists(name)
    except (HTTPError, OSError) as error:  # no connection, proxy or DNS failure: the cache is all there is
        if not is_cached:
            raise FileNotFoundError(
                f"{what} {name!r}: no such folder, not in the local Hub cache, and the Hub cannot be reached "
                f"({type(error).__name__}: {error})"
            ) from None
        return {**hub_kwargs, "local_files_only": True}
    if not exists:
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
    lookup = {key: hub_kwargs[key] for key in HUB_KWARGS if hub_kwargs.get(key) is not None}
    return find_adapter_config_file(os.fspath(pretrained_model_name_or_path), **lookup)


def read_repository_metadata(
    pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """`(eval_results, dataset_name)` of an adapter repository: its `eval_results.json` and its card's dataset.

    Either is None when the repository does not have it. `hub_kwargs` as for [`find_adapter_config`].
    """
    lookup = {key: hub_kwargs[key] for key in HUB_KWARGS if hub_kwargs.get(key) is not None}
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
    api = HfApi(token=token)
    with _reaching_the_hub(f"push to {repo_id!r}"):
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as folder:
            save_adapter_repo(peft_model, folder, processor, eval_results, dataset_name, repo_id=repo_id)
            return _commit_adapter_folder(api, Path(folder), repo_id, commit_message, revision, create_pr)


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
    api = HfApi(token=token)
    with _reaching_the_hub(f"push {folder} to {repo_id!r}"):
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
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
        name = os.fspath(getattr(config, field))
        if not (is_builtin(name) or _is_hub_id(name)):
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


# ----------------------------------------------------------------------------------------------- model card


def build_model_card(
    config: SamPtxConfig,
    adapter_config: Any,
    eval_results: Mapping[str, Any] | None = None,
    dataset_name: str | None = None,
    repo_id: str = "path/to/this/repository",
) -> ModelCard:
    """The model card of an adapter repository: Hub metadata (YAML) and a body that says how to use the model.

    Metadata: `library_name: samptx_hf`, `base_model` (the SAM id, when it is a Hub id), `tags`, `datasets`,
    `pipeline_tag: image-segmentation`, and `model-index` with the numeric metrics of `eval_results`.
    """
    metrics = _scalar_metrics(eval_results)
    dataset_name = dataset_name or (eval_results or {}).get("dataset")
    card_data = ModelCardData(
        library_name="samptx_hf",
        base_model=config.sam_model_name_or_path if _is_hub_id(config.sam_model_name_or_path) else None,
        tags=list(MODEL_CARD_TAGS) + (["sam2"] if type(config.sam_config).model_type == "sam2" else []),
        datasets=[dataset_name] if dataset_name else None,
        pipeline_tag="image-segmentation",
        model_name=repo_id.split("/")[-1],
        eval_results=[
            EvalResult(
                task_type="image-segmentation",
                task_name="Text-prompted segmentation",
                dataset_type=dataset_name or "custom",
                dataset_name=dataset_name or "custom",
                metric_type=name,
                metric_name=name,
                metric_value=value,
            )
            for name, value in metrics.items()
        ]
        or None,
    )
    content = f"---\n{card_data.to_yaml()}\n---\n\n{_model_card_body(config, adapter_config, metrics, repo_id)}"
    return ModelCard(content)


def _model_card_body(config: SamPtxConfig, adapter_config: Any, metrics: dict[str, float], repo_id: str) -> str:
    name = repo_id.split("/")[-1]
    rows = [
        ("Frozen SAM", f"`{config.sam_model_name_or_path}`"),
        ("Frozen CLIP text encoder", f"`{config.text_model_name_or_path}`"),
        ("Prompt template", f"`{config.prompt_template}`"),
        ("Text injection", f"`{config.text_injection}`"),
    ]
    for option in ("r", "scaling", "activation", "use_text"):
        if hasattr(adapter_config, option):
            rows.append((f"Adapter `{option}`", f"`{getattr(adapter_config, option)}`"))
    rows.append(("Trained in full", f"`{adapter_config.modules_to_save}`"))
    details = "\n".join(f"| {key} | {value} |" for key, value in rows)
    results = "\n".join(f"| {metric} | {value:.4f} |" for metric, value in metrics.items())
    results_section = f"\n## Evaluation\n\n| metric | value |\n|---|---|\n{results}\n" if metrics else ""
    return f"""# {name}

A [SAM-PTx](https://arxiv.org/abs/2508.00213) model: Segment Anything guided by a class name. Frozen CLIP text
embeddings of the class prompt condition SAM's image encoder through Parallel-Text adapters beside every MLP; the
adapters and SAM's mask decoder were trained, everything else is frozen.

This repository holds only the adapters, the trained mask decoder, the configuration and the processor. The frozen
SAM and CLIP weights are loaded from their own repositories (below) when the model is built.

## How to use

```bash
pip install samptx_hf
```

```python
from samptx_hf import SamPtxForTextSegmentation

model = SamPtxForTextSegmentation.from_pretrained("{repo_id}")  # frozen SAM + CLIP, then this adapter
result = model.segment("image.jpg", "batfish", points=[(320, 240)])
result.mask   # bool array (height, width) at the image's size
result.score  # SAM's predicted IoU
```

With transformers (after `import samptx_hf`, which registers the model and the pipeline):

```python
import samptx_hf
from transformers import AutoModel, pipeline

model = AutoModel.from_pretrained("{repo_id}")  # the same model as above
segmenter = pipeline("text-guided-segmentation", model="{repo_id}")
segmenter("image.jpg", text=["batfish", "seahorse"], points=[(320, 240)])
# [{{"label": "batfish", "score": 0.93, "mask": <PIL.Image>}}, {{"label": "seahorse", ...}}]
```

From the command line:

```bash
samptx segment --model {repo_id} --image image.jpg --text batfish --point 320,240 --output mask.png
```

With peft directly, on a base model you built:

```python
from peft import PeftModel
from samptx_hf import SamPtxForTextSegmentation

base = SamPtxForTextSegmentation.from_pretrained_components(
    "{config.sam_model_name_or_path}", "{config.text_model_name_or_path}"
)
model = PeftModel.from_pretrained(base, "{repo_id}")
```

## Model details

| | |
|---|---|
{details}
{results_section}
## Files

- `adapter_config.json`, `adapter_model.safetensors`: Parallel-Text adapters and mask decoder (peft format).
- `config.json`: the `SamPtxConfig`, naming the frozen components.
- `processor_config.json` and tokenizer files: the `SamPtxProcessor`.
- `eval_results.json`: evaluation results, when present.
"""


def _scalar_metrics(eval_results: Mapping[str, Any] | None) -> dict[str, float]:
    """Numbers of `eval_results["metrics"]` (the format of `evaluate_model`) or of a flat mapping."""
    if not eval_results:
        return {}
    metrics = eval_results.get("metrics", eval_results)
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and name != "num_samples"
    }


def _is_hub_id(name: str) -> bool:
    if os.path.exists(name):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


__all__ = [
    "ADAPTER_REPO_FILES",
    "build_model_card",
    "HUB_KWARGS",
    "find_adapter_config",
    "locate_pretrained",
    "push_adapter_to_hub",
    "read_repository_metadata",
    "save_adapter_repo",
    "upload_adapter_repo",
]
