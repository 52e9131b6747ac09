"""The `samptx` command line.

- `main`: the parser and the `segment`, `eval`, `demo`, `push`, `convert` commands (`samptx` runs `main`).
- `model_arguments`: the model options every command shares, and loading the model they name.

The `label` and `export` commands live with their packages (`samptx_hf.labelling.command`, `samptx_hf.onnx.command`).
"""
