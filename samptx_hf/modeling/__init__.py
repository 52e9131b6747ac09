"""The model layer: configuration, the model and its PEFT wrapper, the SAM/SAM 2 backbones, text conditioning, the
presence head, losses and the method presets. Imports nothing from inference, evaluation, data, training or the CLI.

- `configuration_samptx`, `modeling_samptx`: `SamPtxConfig`, `SamPtxForTextSegmentation`.
- `peft_model`: `SamPtxPeftModel`, an adapter repository loaded as a model.
- `sam_backbones`, `image_encoding`: SAM and SAM 2 behind one interface; the image trunk computed once per image.
- `decoder_text_conditioning`, `presence_head`, `text_cache`: the text paths into the decoder, the presence answer,
  the text-embedding cache.
- `lru_cache`: the one kind of cache of the package, bounded in bytes (torch-free: the ONNX predictor uses it).
- `losses`, `methods`, `tiny`: the training losses, the method presets (adapter form, text injection), tiny configs.
"""
