"""`SamPtxPeftModel`: a `PeftModel` around SAM-PTx that reads and writes whole adapter repositories.

As peft keeps its `PeftModel` subclasses apart from the models they wrap, this module holds the adapter-repository
side of SAM-PTx loading; `SamPtxForTextSegmentation.from_pretrained` hands adapter repositories to it.
"""

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import torch
from huggingface_hub import CommitInfo
from peft import PeftModel, get_peft_model_state_dict
from transformers.utils import PROCESSOR_NAME as PROCESSOR_CONFIG_NAME
from transformers.utils import cached_file, logging

from ..hub import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_WEIGHTS_NAME,
    HUB_KWARGS,
    adapter_weight_shapes,
    check_frozen_components_named,
    find_adapter_config,
    push_adapter_to_hub,
    read_adapter_config,
    read_repository_config,
    read_repository_metadata,
    save_adapter_repo,
)
from ..processing.processing_samptx import SamPtxProcessor
from .configuration_samptx import SamPtxConfig
from .modeling_samptx import SamPtxForTextSegmentation

logger = logging.get_logger(__name__)


# Arguments transformers' AutoModel and pipeline add on their way to `from_pretrained`.
_AUTO_CLASS_INTERNALS = ("adapter_kwargs", "trust_remote_code", "code_revision", "_from_auto", "_from_pipeline")
_ADAPTER_REPO_KWARGS = ("adapter_name", "is_trainable", "config", "dtype", *HUB_KWARGS)


class SamPtxPeftModel(PeftModel):
    """A `PeftModel` around [`SamPtxForTextSegmentation`] that reads and writes whole adapter repositories.

    What `SamPtxForTextSegmentation.from_pretrained` and `AutoModel.from_pretrained` return for an adapter
    repository. It is a `PeftModel` in every respect (adapters, `disable_adapter`, `unload`, training with
    `is_trainable=True`; `merge_and_unload` raises `TypeError`: the adapter branch is non-linear and reads the
    class's text, so it has no weights to fold into the frozen MLP's); in addition `save_pretrained` and
    `push_to_hub` write the complete repository (adapter weights and config, `config.json`, processor, model card)
    instead of peft's adapter files alone, so that what was loaded, or further trained, can be shared and loaded
    again.

    Attributes:
        processor ([`SamPtxProcessor`]): The processor loaded with the repository; saved with the model.
        eval_results (`dict`, *optional*): The repository's `eval_results.json`. Saved with the model while the
            adapter weights are the ones loaded; dropped, with a warning, once they have changed (the results would
            no longer describe the model). Set it, or pass `eval_results=` when saving, after a new evaluation.
        dataset_name (`str`, *optional*): The dataset the repository's card names.
    """

    processor: SamPtxProcessor | None = None
    eval_results: dict[str, Any] | None = None
    dataset_name: str | None = None
    _loaded_from: str | None = None
    _loaded_weights_digest: str | None = None

    @staticmethod
    def adapter_repository(
        pretrained_model_name_or_path: str | os.PathLike, kwargs: Mapping[str, Any]
    ) -> str | os.PathLike | None:
        """The adapter repository `from_pretrained(pretrained_model_name_or_path, **kwargs)` is asked to load, if any.

        transformers' `AutoModel` and `pipeline` find `adapter_config.json` themselves and say where, in
        `adapter_kwargs`; a direct call is looked up here (folder, Hub cache or Hub).
        """
        found_by_transformers = (kwargs.get("adapter_kwargs") or {}).get("_adapter_model_path")
        if found_by_transformers is not None:
            return found_by_transformers
        if find_adapter_config(pretrained_model_name_or_path, **kwargs) is not None:
            return pretrained_model_name_or_path
        return None

    @classmethod
    def from_auto_class_arguments(
        cls, adapter_repo: str | os.PathLike, *model_args: Any, **kwargs: Any
    ) -> "SamPtxPeftModel":
        """[`from_adapter_repo`] with the arguments of a `from_pretrained` call (direct, `AutoModel` or `pipeline`).

        Raises:
            TypeError: On positional arguments, or keywords `from_adapter_repo` does not take.
        """
        if model_args:
            raise TypeError(
                f"{len(model_args)} positional argument(s) after the path cannot be used when loading the adapter "
                f"repository {os.fspath(adapter_repo)!r}; accepted keywords: {', '.join(_ADAPTER_REPO_KWARGS)}"
            )
        adapter_kwargs = dict(kwargs.get("adapter_kwargs") or {})
        adapter_kwargs.pop("_adapter_model_path", None)
        kwargs = {key: value for key, value in kwargs.items() if key not in _AUTO_CLASS_INTERNALS}
        kwargs.update(adapter_kwargs)  # the adapter repository's revision when AutoModel resolved it
        return cls.from_adapter_repo(adapter_repo, **kwargs)

    @classmethod
    def from_adapter_repo(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        adapter_name: str = "default",
        is_trainable: bool = False,
        config: SamPtxConfig | None = None,
        dtype: str | torch.dtype | None = None,
        **hub_kwargs: Any,
    ) -> "SamPtxPeftModel":
        """Rebuild a trained SAM-PTx model from an adapter repository: frozen components, then the adapters.

        1. Read `config.json` ([`SamPtxConfig`]) from the repository, unless `config` is given.
        2. Load the frozen SAM and CLIP from the ids (or directories) it names, with
           [`SamPtxForTextSegmentation.from_pretrained_components`]; the modules SAM-PTx adds to them (presence head,
           text projection) hold weights that change nothing ([`SamPtxForTextSegmentation.reset_added_modules`]), so
           two loads have equal `state_dict()`s and `disable_adapter()` answers as the frozen base does.
        3. Load the adapters and the trained mask decoder with peft (`PeftModel.from_pretrained`), adapter active;
           then the processor, evaluation results and dataset name saved with them.

        Args:
            pretrained_model_name_or_path: A local directory or a Hub id, e.g. `"user/sam-ptx-cod10k"`.
            adapter_name: Name given to the loaded adapter.
            is_trainable: Load the adapter trainable (to continue training) instead of in inference mode.
            config: The [`SamPtxConfig`] to build the model from, instead of the repository's `config.json`.
            dtype: Cast the loaded model to this dtype (`torch.bfloat16` or `"bfloat16"`); `None` or `"auto"` keeps
                the stored float32.
            hub_kwargs: `cache_dir`, `token`, `revision`, `local_files_only`, `force_download`, `proxies`,
                `subfolder` for the adapter repository (the frozen components get the same access options).

        Returns:
            The model, in eval mode unless `is_trainable`.

        Raises:
            OSError: When the repository lacks `config.json` or `adapter_model.safetensors` (only safetensors weights
                are loaded), when one of its files is not valid JSON or safetensors (the message names the file), or
                a frozen component cannot be found.
            TypeError: On a keyword that is not a Hub argument, or a `config` that is not a `SamPtxConfig`.
            ValueError: On a `dtype` that is not a torch floating-point dtype, an adapter config of another PEFT
                method, a `config.json` that names no frozen SAM or CLIP, or adapter weights that do not fit the
                model `config.json` describes.
        """
        unknown = sorted(set(hub_kwargs) - set(HUB_KWARGS))
        if unknown:
            raise TypeError(
                f"{unknown} cannot be used when loading the adapter repository "
                f"{os.fspath(pretrained_model_name_or_path)!r}; accepted: {', '.join(_ADAPTER_REPO_KWARGS)}"
            )
        if config is not None and not isinstance(config, SamPtxConfig):
            raise TypeError(f"config must be a SamPtxConfig, got {type(config).__name__}")
        dtype = _torch_dtype(dtype)
        lookup = {key: value for key, value in hub_kwargs.items() if value is not None}
        model_id = os.fspath(pretrained_model_name_or_path)
        # 1. The repository's files, each checked before anything is built: a broken one is named here.
        read_adapter_config(find_adapter_config(model_id, **lookup))
        weights = cached_file(model_id, ADAPTER_WEIGHTS_NAME, _raise_exceptions_for_missing_entries=False, **lookup)
        if weights is None:
            raise OSError(
                f"{model_id!r} has {ADAPTER_CONFIG_NAME} but no {ADAPTER_WEIGHTS_NAME}: SAM-PTx loads adapter weights "
                "only from safetensors (re-save the adapter with save_pretrained(..., safe_serialization=True))"
            )
        stored_shapes = adapter_weight_shapes(weights)
        # The configuration (the repository's, or the caller's) must name the frozen components.
        config = config if config is not None else read_repository_config(model_id, **lookup)
        check_frozen_components_named(config, model_id)
        # 2. Frozen SAM and CLIP, with this repository's SAM-PTx options (template, text injection, ...). The
        #    revision names this repository's commit; the access options carry over to the components.
        options = {name: getattr(config, name) for name in _samptx_options()}
        access = ("token", "cache_dir", "local_files_only", "proxies")
        component_kwargs = {key: value for key, value in lookup.items() if key in access}
        base = SamPtxForTextSegmentation.from_pretrained_components(
            config.sam_model_name_or_path, config.text_model_name_or_path, hub_kwargs=component_kwargs, **options
        ).reset_added_modules()  # the same base in every load: no random presence head under the trained one
        # 3. Adapters and trained decoder, through peft (`cls` makes peft build this class); the weights must fit.
        peft_kwargs = {key: value for key, value in lookup.items() if key != "proxies"}
        try:
            model = cls.from_pretrained(
                base, model_id, adapter_name=adapter_name, is_trainable=is_trainable, **peft_kwargs
            )
        except (KeyError, RuntimeError) as error:  # peft's own report of a key or a shape that does not fit
            raise ValueError(
                f"{weights} does not fit the {type(base.sam).__name__} that {model_id!r}'s config.json describes "
                f"({type(error).__name__}: {error})"
            ) from None
        _check_weights_fit(model, adapter_name, stored_shapes, weights)
        has_processor = cached_file(
            model_id, PROCESSOR_CONFIG_NAME, _raise_exceptions_for_missing_entries=False, **lookup
        )
        model.processor = SamPtxProcessor.from_pretrained(model_id, **lookup) if has_processor else None
        model.eval_results, model.dataset_name = read_repository_metadata(model_id, **lookup)
        if dtype is not None:
            model = model.to(dtype)
        model._loaded_from = model_id
        model._loaded_weights_digest = model._adapter_weights_digest()
        return model if is_trainable else model.eval()

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        selected_adapters: list[str] | None = None,
        is_main_process: bool = True,
        processor: SamPtxProcessor | None = None,
        eval_results: Mapping[str, Any] | None = None,
        dataset_name: str | None = None,
        repo_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Write the complete adapter repository (see `samptx_hf.hub`), loadable again with `from_pretrained`.

        Args:
            save_directory: The folder to write; created if missing.
            safe_serialization: Must be True: adapter repositories hold safetensors weights only.
            selected_adapters: Named adapters to write; all by default.
            is_main_process: Write only when True (the main process of a distributed run).
            processor: The processor to save; by default the one loaded with the model (`self.processor`), else
                [`SamPtxProcessor.from_model`].
            eval_results: Evaluation results to write; by default `self.eval_results` while the adapter weights are
                the ones loaded.
            dataset_name: The dataset for the card; by default `self.dataset_name`.
            repo_id: The Hub id the card's usage examples load from; defaults to the folder name.

        Raises:
            ValueError: When `safe_serialization` is False.
            TypeError: On other keyword arguments.
        """
        if not safe_serialization:
            raise ValueError("safe_serialization=False: SAM-PTx adapter repositories hold safetensors weights only")
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} to SamPtxPeftModel.save_pretrained")
        if not is_main_process:
            return
        save_adapter_repo(
            self,
            save_directory,
            processor=processor if processor is not None else self.processor,
            selected_adapters=selected_adapters,
            repo_id=repo_id,
            **self._repository_metadata(eval_results, dataset_name),
        )

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload SAM-PTx adapter",
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        processor: SamPtxProcessor | None = None,
        eval_results: Mapping[str, Any] | None = None,
        dataset_name: str | None = None,
    ) -> CommitInfo:
        """Upload the complete adapter repository (as [`save_pretrained`] writes it) to `repo_id` in one commit.

        Creates the repository if needed (`private=`); `revision` is the branch, `create_pr` opens a pull request.
        `processor`, `eval_results`, `dataset_name` as for [`save_pretrained`].

        Returns:
            The `CommitInfo` of the upload.
        """
        return push_adapter_to_hub(
            self,
            repo_id,
            processor=processor if processor is not None else self.processor,
            private=private,
            token=token,
            commit_message=commit_message,
            revision=revision,
            create_pr=create_pr,
            **self._repository_metadata(eval_results, dataset_name),
        )

    def _repository_metadata(self, eval_results: Mapping[str, Any] | None, dataset_name: str | None) -> dict[str, Any]:
        """The results and dataset to write: the given ones, else those loaded while the weights are unchanged."""
        if eval_results is None and self.eval_results is not None:
            if self._adapter_weights_digest() == self._loaded_weights_digest:
                eval_results = self.eval_results
            else:
                logger.warning(
                    f"The adapter weights changed since they were loaded from {self._loaded_from!r}: its evaluation "
                    "results no longer describe this model and are not written (pass eval_results= to write new ones)"
                )
        return {"eval_results": eval_results, "dataset_name": dataset_name or self.dataset_name}

    def _adapter_weights_digest(self) -> str:
        """SHA-256 of the active adapter's weights as peft saves them (adapters and trained decoder)."""
        digest = hashlib.sha256()
        state_dict = get_peft_model_state_dict(self, adapter_name=self.active_adapter)
        for name in sorted(state_dict):
            digest.update(name.encode())
            digest.update(state_dict[name].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()


def _check_weights_fit(
    model: PeftModel, adapter_name: str, stored_shapes: Mapping[str, tuple[int, ...]], weights_file: str
) -> None:
    """`ValueError` naming `weights_file` when its tensors are not exactly those the loaded adapter has.

    peft loads what matches and only warns about the rest: a file saved for another base (SAM weights in a SAM 2
    repository, another depth or width) would otherwise give a model that is partly untrained.
    """
    expected = {
        name: tuple(tensor.shape)
        for name, tensor in get_peft_model_state_dict(model, adapter_name=adapter_name).items()
    }
    missing = sorted(set(expected) - set(stored_shapes))
    unexpected = sorted(set(stored_shapes) - set(expected))
    reshaped = sorted(name for name in set(expected) & set(stored_shapes) if expected[name] != stored_shapes[name])
    problems = [
        f"{len(names)} {what}, e.g. {names[0]!r}"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("of another shape", reshaped))
        if names
    ]
    if problems:
        raise ValueError(
            f"{weights_file} does not fit the {type(model.get_base_model().sam).__name__} its config.json describes: "
            f"tensors {'; '.join(problems)}"
        )


def _samptx_options() -> list[str]:
    """The fields of `SamPtxConfig` other than the frozen components' architectures and locations."""
    components = {"sam_config", "text_config", "sam_model_name_or_path", "text_model_name_or_path"}
    return [name for name in SamPtxConfig.__annotations__ if name not in components]


def _torch_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or dtype == "auto":
        return None
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is not a torch floating-point dtype, expected e.g. torch.bfloat16 or 'auto'")
    return resolved


# `SamPtxForTextSegmentation.from_pretrained` (and so `AutoModel` and `pipeline`) hands adapter repositories to this
# class; the model module does not import this one.
SamPtxForTextSegmentation.adapter_model_class = SamPtxPeftModel

__all__ = ["SamPtxPeftModel"]
