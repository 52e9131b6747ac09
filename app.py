"""The SAM-PTx demo page as a Hugging Face Space (Gradio SDK): `python app.py`.

Serves the model named by the environment variable SAMPTX_MODEL (a Hub id or a folder; default: the output folder
of `python examples/train.py`), exactly as `samptx demo --model MODEL` does; extra arguments go to that command
(`python app.py --port 7861`). On a Space, set SAMPTX_MODEL in the Space's variables; Spaces set the host and port
through GRADIO_SERVER_NAME and GRADIO_SERVER_PORT.
"""

import os
import sys

from samptx_hf.cli.main import main

MODEL = os.environ.get("SAMPTX_MODEL", "outputs/sam-ptx-synthetic")

if __name__ == "__main__":
    sys.exit(main(["demo", "--model", MODEL, *sys.argv[1:]]))
