"""The inference layer: front-ends that run a model on images.

- `segment`: one call, one image, a mask per class name (`samptx_hf.segment`).
- `predictor`: `SamPtxPredictor`, the image trunk once per image and a click answered from cached features.
- `pipeline`: `TextGuidedSegmentationPipeline`, transformers' `"text-guided-segmentation"` pipeline.
- `semantic`: `segment_semantic`, a label map over a vocabulary from text-only prompts.
- `results`: the result types every front-end returns (torch-free: the ONNX predictor returns them too).
"""
