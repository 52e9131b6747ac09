"""samptx_hf: SAM-PTx, text-guided parameter-efficient fine-tuning of Segment Anything, for Hugging Face.

Importing the package registers `SamPtxConfig`/`SamPtxForTextSegmentation` (and the SAM 2 image processor that
SAM-PTx saves with its processor) with transformers' Auto classes, the `"text-guided-segmentation"` pipeline with
transformers' `pipeline`, and the Parallel-Text adapter with peft. Where torch or transformers is not installed it
imports none of that: `from samptx_hf.onnx import OnnxPredictor` then runs exports on onnxruntime alone.
"""

from importlib.util import find_spec

# Without torch and transformers (a deployment with onnxruntime only) the package holds `samptx_hf.onnx` alone;
# with both, everything below is imported and registered as always.
_WITH_TORCH = find_spec("torch") is not None and find_spec("transformers") is not None

if _WITH_TORCH:
    from transformers import AutoConfig, AutoImageProcessor, AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY

    from .hub import push_adapter_to_hub, save_adapter_repo
    from .inference.pipeline import TextGuidedSegmentationPipeline
    from .inference.predictor import SamPtxPredictor
    from .inference.segment import SegmentationResult, segment
    from .inference.semantic import SemanticSegmentationResult, segment_semantic
    from .modeling.configuration_samptx import SamPtxConfig, TextInjection
    from .modeling.image_encoding import ImageTrunk
    from .modeling.losses import sam_segmentation_loss
    from .modeling.methods import AdapterForm, Method, parse_adapter_layers, peft_config_for, text_injection_for
    from .modeling.modeling_samptx import SamPtxForTextSegmentation, SamPtxPreTrainedModel, SamPtxSegmentationOutput
    from .modeling.peft_model import SamPtxPeftModel
    from .modeling.sam_backbones import ImageFeatures
    from .processing.image_processing_sam2 import Sam2TorchImageProcessor
    from .processing.processing_samptx import SamPtxProcessor
    from .tuners.parallel_text import (
        ParallelTextConfig,
        ParallelTextLayer,
        ParallelTextModel,
        SamPtxPeftType,
        text_conditioning,
    )

    AutoConfig.register(SamPtxConfig.model_type, SamPtxConfig, exist_ok=True)
    AutoModel.register(SamPtxConfig, SamPtxForTextSegmentation, exist_ok=True)
    # Found by its name (`image_processor_type`) when a saved SamPtxProcessor is loaded; SAM 2's own image processor is
    # left as it is.
    AutoImageProcessor.register(SamPtxConfig, image_processor_classes={"pil": Sam2TorchImageProcessor}, exist_ok=True)
    PIPELINE_REGISTRY.register_pipeline(
        "text-guided-segmentation", pipeline_class=TextGuidedSegmentationPipeline, pt_model=AutoModel, type="multimodal"
    )

__version__ = "0.1.0"

__all__ = [
    "AdapterForm",
    "ImageFeatures",
    "ImageTrunk",
    "Method",
    "ParallelTextConfig",
    "ParallelTextLayer",
    "ParallelTextModel",
    "SamPtxConfig",
    "SamPtxForTextSegmentation",
    "SamPtxPeftModel",
    "SamPtxPeftType",
    "SamPtxPreTrainedModel",
    "SamPtxPredictor",
    "SamPtxProcessor",
    "SamPtxSegmentationOutput",
    "Sam2TorchImageProcessor",
    "SegmentationResult",
    "SemanticSegmentationResult",
    "TextGuidedSegmentationPipeline",
    "TextInjection",
    "parse_adapter_layers",
    "peft_config_for",
    "push_adapter_to_hub",
    "sam_segmentation_loss",
    "save_adapter_repo",
    "segment",
    "segment_semantic",
    "text_conditioning",
    "text_injection_for",
]
if not _WITH_TORCH:
    __all__ = []  # without torch, only the samptx_hf.onnx subpackage is usable
