"""The model card of an adapter repository: Hub metadata, what was adapted where, and how to use it."""

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from peft.utils.constants import DUMMY_TARGET_MODULES

from ..modeling.configuration_samptx import SamPtxConfig, TextInjection
from ..modeling.sam_backbones import is_sam2
from .locate import is_hub_id

MODEL_CARD_TAGS = [
    "sam",
    "sam-ptx",
    "segment-anything",
    "peft",
    "parallel-text-adapter",
    "image-segmentation",
    "text-guided-segmentation",
]


def build_model_card(
    config: SamPtxConfig,
    adapter_config: Any,
    eval_results: Mapping[str, Any] | None = None,
    dataset_name: str | None = None,
    repo_id: str = "path/to/this/repository",
    class_names: Sequence[str] | None = None,
) -> ModelCard:
    """The model card of an adapter repository: Hub metadata (YAML) and a body that says how to use the model.

    Metadata: `library_name: samptx_hf`, `base_model` and peft's `base_model:adapter:<id>` tag (when the frozen SAM
    is a Hub id: the Hub then lists the adapter under its base model), `tags`, `datasets`,
    `pipeline_tag: image-segmentation`, and `model-index` with the numeric metrics of `eval_results`. The body says
    where the text enters SAM and which image-encoder blocks hold adapters, lists the classes the model knows, and
    its usage examples prompt with the first of them (with `"batfish"` when none is known).

    Args:
        config: The `SamPtxConfig` of the model.
        adapter_config: The peft config of its active adapter.
        eval_results: Results of `evaluate_model` (or a mapping of metric name to number).
        dataset_name: The dataset for the metadata; by default `eval_results["dataset"]`.
        repo_id: The Hub id the usage examples load from.
        class_names: The class names the model was trained on. By default `eval_results["class_names"]` (a training
            run's vocabulary, when recorded), else the classes of `eval_results["per_class"]`, which the card then
            names as the classes the model was evaluated on.

    Raises:
        ValueError: When a class name is not a non-empty string.
    """
    metrics = _scalar_metrics(eval_results)
    classes = _known_classes(class_names, eval_results)
    dataset_name = dataset_name or (eval_results or {}).get("dataset")
    base_model = config.sam_model_name_or_path if is_hub_id(config.sam_model_name_or_path) else None
    tags = list(MODEL_CARD_TAGS) + (["sam2"] if is_sam2(config.sam_config) else [])
    if base_model is not None:
        tags.append(f"base_model:adapter:{base_model}")
    card_data = ModelCardData(
        library_name="samptx_hf",
        base_model=base_model,
        tags=tags,
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
    click_rounds = (eval_results or {}).get("click_rounds")
    body = _model_card_body(config, adapter_config, metrics, repo_id, click_rounds, classes)
    content = f"---\n{card_data.to_yaml()}\n---\n\n{body}"
    return ModelCard(content)


def image_encoder_block_count(config: SamPtxConfig) -> int:
    """The number of blocks in the frozen SAM's image encoder (ViT layers of SAM, Hiera blocks of SAM 2)."""
    vision_config = config.sam_config.vision_config
    if is_sam2(config.sam_config):
        return sum(vision_config.backbone_config.blocks_per_stage)
    return vision_config.num_hidden_layers


def _has_adapters(adapter_config: Any) -> bool:
    """Whether the adapter config places adapters in the image encoder (the baselines without them target none)."""
    target_modules = getattr(adapter_config, "target_modules", None)
    return bool(target_modules) and target_modules != DUMMY_TARGET_MODULES


def adapter_placement(config: SamPtxConfig, adapter_config: Any) -> str:
    """Where the adapters are, in words: "every one of the 12 blocks", "blocks 10 and 11 of 12", or "none"."""
    if not _has_adapters(adapter_config):
        return "none (the image encoder is SAM's own)"
    num_blocks = image_encoder_block_count(config)
    sides = "MLP and after the attention" if getattr(adapter_config, "attention_adapter", False) else "MLP"
    layers = getattr(adapter_config, "layers_to_transform", None)
    if layers is None:
        return f"beside the {sides} of every one of the {num_blocks} image-encoder blocks"
    # Stored resolved once wrapped (`get_peft_model`); a config not yet applied may count from the end.
    blocks = sorted(block % num_blocks for block in ([layers] if isinstance(layers, int) else layers))
    names = ", ".join(str(block) for block in blocks[:-1]) + (" and " if len(blocks) > 1 else "") + str(blocks[-1])
    plural = "s" if len(blocks) > 1 else ""
    return f"beside the {sides} of image-encoder block{plural} {names} of {num_blocks} (0-based)"


def _text_entry(config: SamPtxConfig, adapter_config: Any) -> str:
    """Where the class name enters SAM, in words."""
    injection = config.text_injection
    if injection == TextInjection.PARALLEL_TEXT.value and getattr(adapter_config, "use_text", True):
        return "through Parallel-Text adapters in SAM's image encoder"
    if injection == TextInjection.PROMPT_ENCODER.value:
        return "as one more sparse prompt token of SAM's prompt encoder"
    if injection == TextInjection.MASK_DECODER.value:
        return "added to the output tokens of SAM's mask decoder"
    return "nowhere: this model is a text-free baseline"


def _known_classes(
    class_names: Sequence[str] | None, eval_results: Mapping[str, Any] | None
) -> tuple[list[str], str] | None:
    """`(names, "trained on" | "evaluated on")` from `class_names`, else `eval_results`; `None` when unknown."""
    eval_results = eval_results or {}
    if class_names is not None:
        names, source, how = class_names, "class_names", "trained on"
    elif eval_results.get("class_names") is not None:
        names, source, how = eval_results["class_names"], 'eval_results["class_names"]', "trained on"
    elif isinstance(eval_results.get("per_class"), Mapping) and eval_results["per_class"]:
        names, source, how = list(eval_results["per_class"]), 'eval_results["per_class"]', "evaluated on"
    else:
        return None
    if isinstance(names, str):
        raise ValueError(f"{source}={names!r} is one string, expected a list of class names such as [{names!r}]")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{source} holds {name!r} ({type(name).__name__}), expected class names as strings")
    names = list(dict.fromkeys(name.strip() for name in names))
    return (names, how) if names else None


def _text_only_usage(config: SamPtxConfig, first: str) -> str:
    """The card's text-only example, for a model that answers presence (`SamPtxConfig.presence_head`)."""
    if not getattr(config, "presence_head", False):
        return ""
    return f"""
With the class name alone (this model was trained to answer whether the class is in the image at all):

```python
result = model.segment("image.jpg", {first})  # every instance of the class, or none
result.presence  # probability that the image holds the class; below 0.5 the mask is empty
model.segment_semantic("image.jpg", [...])  # a label map over a vocabulary, absent classes left out
```
"""


def _classes_section(classes: tuple[list[str], str] | None) -> str:
    if classes is None:
        return ""
    names, how = classes
    listed = ", ".join(f"`{name}`" for name in names)
    count = "one class" if len(names) == 1 else f"{len(names)} classes"
    return (
        f"\n## Classes\n\nThe model was {how} {count}: {listed}. It reads any text, but it is at its best on "
        "these names.\n"
    )


def _details_rows(config: SamPtxConfig, adapter_config: Any, placement: str, click_rounds: int | None) -> list:
    """The "Model details" table: the frozen components, the text side and the adapter's options."""
    rows = [
        ("Frozen SAM", f"`{config.sam_model_name_or_path}`"),
        ("Frozen CLIP text encoder", f"`{config.text_model_name_or_path}`"),
        ("Prompt template", f"`{config.prompt_template}`"),
        ("Text injection", f"`{config.text_injection}`"),
        ("Adapters", placement),
    ]
    if getattr(config, "subtract_empty_prompt", False):
        rows.insert(3, ("Empty-prompt embedding subtracted", "`True` (the authors' text embedding)"))
    width = "bottleneck_ratio" if getattr(adapter_config, "bottleneck_ratio", None) is not None else "r"
    # The reference form's options, shown where they are not the default form's.
    shown_when = {"text_path": "input", "attention_adapter": True, "init_weights": "pytorch"}
    for option in (width, "scaling", "activation", "use_text", *shown_when):
        if hasattr(adapter_config, option) and (
            option not in shown_when or getattr(adapter_config, option) == shown_when[option]
        ):
            rows.append((f"Adapter `{option}`", f"`{getattr(adapter_config, option)}`"))
    rows.append(("Trained in full", f"`{adapter_config.modules_to_save}`"))
    if click_rounds is not None:
        rounds = "one point prompt" if click_rounds == 1 else f"the prompt, then {click_rounds - 1} simulated clicks"
        rows.append(("Prompt rounds per training sample", f"`{click_rounds}` ({rounds})"))
    return rows


_MODULE_NAMES = {
    "mask_decoder": "SAM's mask decoder",
    "prompt_encoder": "SAM's prompt encoder",
    "text_prompt_projection": "the text projection",
    "presence_head": "the presence head",
}


def _trained_parts(adapter_config: Any) -> str:
    """What the repository holds trained, in words: "the adapters, SAM's mask decoder and SAM's prompt encoder"."""
    adapters = ["the adapters"] if _has_adapters(adapter_config) else []
    modules = [_MODULE_NAMES.get(module, f"`{module}`") for module in adapter_config.modules_to_save or []]
    names = adapters + modules
    if len(names) <= 1:
        return names[0] if names else "nothing"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _model_card_body(
    config: SamPtxConfig,
    adapter_config: Any,
    metrics: dict[str, float],
    repo_id: str,
    click_rounds: int | None,
    classes: tuple[list[str], str] | None,
) -> str:
    name = repo_id.split("/")[-1]
    examples = classes[0][:2] if classes else ["batfish", "seahorse"]  # the classes the usage examples prompt with
    first, texts = json.dumps(examples[0]), json.dumps(examples)  # as Python literals
    placement = adapter_placement(config, adapter_config)
    rows = _details_rows(config, adapter_config, placement, click_rounds)
    trained = _trained_parts(adapter_config)
    details = "\n".join(f"| {key} | {value} |" for key, value in rows)
    results = "\n".join(f"| {metric} | {value:.4f} |" for metric, value in metrics.items())
    results_section = f"\n## Evaluation\n\n| metric | value |\n|---|---|\n{results}\n" if metrics else ""
    return f"""# {name}

A [SAM-PTx](https://arxiv.org/abs/2508.00213) model: Segment Anything guided by a class name. The frozen CLIP text
embedding of the class prompt enters SAM {_text_entry(config, adapter_config)}. Adapters: {placement}. Trained:
{trained}; everything else is frozen.

This repository holds only the adapters, the trained modules, the configuration and the processor. The frozen
SAM and CLIP weights are loaded from their own repositories (below) when the model is built.
{_classes_section(classes)}
## How to use

```bash
pip install samptx_hf
```

```python
from samptx_hf import SamPtxForTextSegmentation

model = SamPtxForTextSegmentation.from_pretrained("{repo_id}")  # frozen SAM + CLIP, then this adapter
result = model.segment("image.jpg", {first}, points=[(320, 240)])
result.mask   # bool array (height, width) at the image's size
result.score  # SAM's predicted IoU
```
{_text_only_usage(config, first)}
Interactively (the image encoded once, each class once, then every click in the mask decoder's time):

```python
from samptx_hf import SamPtxPredictor

predictor = SamPtxPredictor(model)
predictor.set_image("image.jpg")
first = predictor.predict({first}, points=[(320, 240)])
better = predictor.predict(
    {first}, points=[(320, 240), (300, 200)], point_labels=[1, 0], mask_input=first.low_res_logits
)
```

With transformers (after `import samptx_hf`, which registers the model and the pipeline):

```python
import samptx_hf
from transformers import AutoModel, pipeline

model = AutoModel.from_pretrained("{repo_id}")  # the same model as above
segmenter = pipeline("text-guided-segmentation", model="{repo_id}")
segmenter("image.jpg", text={texts}, points=[(320, 240)])
# [{{"label": {first}, "score": 0.93, "mask": <PIL.Image>}}, ...]
```

From the command line:

```bash
samptx segment --model {repo_id} --image image.jpg --text {shlex.quote(examples[0])} --point 320,240 --output mask.png
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

- `adapter_config.json`, `adapter_model.safetensors`: {trained} (peft format).
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


__all__ = ["MODEL_CARD_TAGS", "adapter_placement", "build_model_card", "image_encoder_block_count"]
