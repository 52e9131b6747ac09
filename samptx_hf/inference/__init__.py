"""The inference layer: one engine, and the front-ends that run a model on images through it.

- `engine`: `SegmentationEngine`, image → trunk (once per image) → class features (once per (image, class), one
  cache bounded in bytes, least recently used out) → decoder → results. A new front-end (tiled images, one mask per
  object, video) needs only the engine.
- `segment`: one call, one image, a mask per class name (`samptx_hf.segment`).
- `predictor`: `SamPtxPredictor`, the image trunk once per image and a click answered from cached features.
- `pipeline`: `TextGuidedSegmentationPipeline`, transformers' `"text-guided-segmentation"` pipeline.
- `semantic`: `segment_semantic`, a label map over a vocabulary from text-only prompts.
- `results`: the result types every front-end returns (torch-free: the ONNX predictor returns them too).
"""
