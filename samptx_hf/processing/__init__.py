"""The processing layer: images, prompts and class names to model inputs, and model outputs to masks.

- `processing_samptx`: `SamPtxProcessor` (a CLIP tokenizer and the SAM or SAM 2 image processor).
- `image_processing_sam2`: `Sam2TorchImageProcessor`, SAM 2's image processor on torch.
- `class_prompts`: class names and prompt templates.
- `input_checks`: checks of user input shared by every front-end (torch-free: the ONNX predictor uses them too).
"""
