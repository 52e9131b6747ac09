"""The demo page: click on an image, type class names, see the masks (a Gradio app, `pip install 'samptx_hf[demo]'`).

`interactions` holds what the page does as plain Python, `examples` its example images; `ui` builds the page.
Start it with `samptx demo --model DIR_OR_HUB_ID`, with the repository's `app.py` (a Hugging Face Space), or
from Python:

    demo = build_demo(model, model_name="your-name/sam-ptx-cod10k")
    demo.launch()
"""

from .examples import DemoExample, write_examples
from .interactions import (
    MAX_CLASS_NAMES,
    MAX_IMAGE_SIDE,
    PROMPT_MODES,
    DemoInputError,
    DemoSegmentation,
    Prompts,
    SessionPredictors,
    draw_prompts,
    parse_class_names,
    prepare_image,
    segment_classes,
)
from .ui import GRADIO_MISSING, build_demo, import_gradio

__all__ = [
    "GRADIO_MISSING",
    "MAX_CLASS_NAMES",
    "MAX_IMAGE_SIDE",
    "PROMPT_MODES",
    "DemoExample",
    "DemoInputError",
    "DemoSegmentation",
    "Prompts",
    "SessionPredictors",
    "build_demo",
    "draw_prompts",
    "import_gradio",
    "parse_class_names",
    "prepare_image",
    "segment_classes",
    "write_examples",
]
