"""`ParallelTextModel`: the PEFT tuner that places Parallel-Text adapters beside SAM's image-encoder MLPs."""

from typing import Any

import torch
from peft.config import PeftConfig
from peft.tuners.tuners_utils import BaseTuner
from torch import nn

from .config import SAM_VISION_MLP_PATTERN, ParallelTextConfig
from .layer import ParallelTextLayer


class ParallelTextModel(BaseTuner):
    """Adds Parallel-Text adapters (SAM-PTx) to a model; used through `peft.get_peft_model`.

    Args:
        model (`torch.nn.Module`): The model to adapt: a `SamPtxForTextSegmentation` or a transformers `SamModel`.
        config (`ParallelTextConfig`): The adapter configuration.
        adapter_name (`str`): Name of the adapter, `"default"` unless given.

    Example:

    ```py
    >>> import samptx_hf  # registers the method with peft  # doctest: +SKIP
    >>> from peft import get_peft_model
    >>> peft_model = get_peft_model(model, samptx_hf.ParallelTextConfig(r=16))  # doctest: +SKIP
    >>> peft_model.print_trainable_parameters()  # doctest: +SKIP
    ```
    """

    prefix: str = "parallel_text_"
    tuner_layer_cls = ParallelTextLayer
    target_module_mapping = {"sam_ptx": SAM_VISION_MLP_PATTERN, "sam": SAM_VISION_MLP_PATTERN}

    def _prepare_adapter_config(self, peft_config: PeftConfig, model_config: dict) -> PeftConfig:
        peft_config = super()._prepare_adapter_config(peft_config, model_config)
        model_text_dim = (model_config.get("text_config") or {}).get("projection_dim")
        if peft_config.text_dim is None:
            peft_config.text_dim = model_text_dim
        elif model_text_dim is not None and peft_config.text_dim != model_text_dim:
            raise ValueError(
                f"ParallelTextConfig.text_dim={peft_config.text_dim} does not match the model's text embedding width "
                f"text_config.projection_dim={model_text_dim}"
            )
        return peft_config

    def _create_and_replace(
        self,
        peft_config: ParallelTextConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        **kwargs: Any,
    ) -> None:
        if isinstance(target, ParallelTextLayer):
            target.update_layer(adapter_name, peft_config)
            return
        new_module = ParallelTextLayer(target, adapter_name, peft_config)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def _replace_module(self, parent: nn.Module, child_name: str, new_module: nn.Module, child: nn.Module) -> None:
        # peft's version copies `child.weight`, which SamMLPBlock does not have; we only need the device move.
        setattr(parent, child_name, new_module)
        base_layer = child.get_base_layer() if isinstance(child, ParallelTextLayer) else child
        device = next(base_layer.parameters()).device
        for name, module in new_module.named_modules():
            if self.prefix in name and not any(p.device == torch.device("meta") for p in module.parameters()):
                module.to(device)

    def _check_merge_allowed(self) -> None:
        raise TypeError(
            "ParallelText adapters cannot be merged into the base weights: the adapter branch is non-linear and "
            "depends on the text of each sample. Use unload() to remove the adapters instead."
        )
