"""The demo page: a Gradio app that wires [`interactions`]'s functions to an image you click on and a text box."""

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .examples import write_examples
from .interactions import (
    PROMPT_MODES,
    DemoInputError,
    Prompts,
    SessionPredictors,
    draw_prompts,
    prepare_image,
    segment_classes,
)

CACHE_LIFETIME_S = 3600  # how long answers' files are kept on the server
IMAGE_HEIGHT = 420  # px on the page, for the input image and the masks alike

GRADIO_MISSING = "the demo needs gradio, which is not installed: pip install 'samptx_hf[demo]'"

_INSTRUCTIONS = """Upload an image (or pick an example below), type one or several class names separated by commas,
and click on the object: each click adds a point and segments again. Switch "A click adds" to add background
points, or to draw a box with two clicks on opposite corners. Without a click, "Segment" (or Enter) asks a model
with a presence answer which of the classes the image holds, and shows those. The legend gives each class's colour,
SAM's predicted IoU and the presence; the mask files are PNGs at the image's size (0 background, 255 mask)."""


def import_gradio() -> Any:
    """The `gradio` module, with its usage analytics off unless the environment asks for them.

    Raises:
        ImportError: With the install command, when gradio is missing.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise ImportError(GRADIO_MISSING) from error
    return gradio


def build_demo(model: Any, processor: Any = None, model_name: str = "a SAM-PTx model") -> Any:
    """The demo page for `model`, a Gradio `Blocks` app; start it with its `launch()`.

    The page's "Segment" button is also its API endpoint `/segment`, taking the image, the class names (one text,
    comma-separated) and the prompts as JSON (`{"points": [[x, y]], "point_labels": [1], "box": [x1, y1, x2, y2]}`)
    and returning the masks as an annotated image, the mask PNG files and a message. Without a point and a box, a
    model with a presence head answers only the classes it finds present (the files are None when there is none).

    Args:
        model: A [`SamPtxForTextSegmentation`] or a `PeftModel` around one, as `segment` takes.
        processor: The processor saved with the model, if any (default: built from the model).
        model_name: What the title calls the model: its folder or Hub id.

    Returns:
        The app. Its `remove_work_dir()` deletes the temporary folder of its examples and mask files, which is
        otherwise removed when Python exits.

    Raises:
        ImportError: When gradio is not installed.
    """
    gr = import_gradio()
    # The examples and the answers' mask files. Removed when Python exits, or at once by `demo.remove_work_dir()`
    # (`samptx demo` calls it however the server stops: Ctrl-C, SIGTERM, SIGHUP).
    work_dir = tempfile.TemporaryDirectory(prefix="samptx-demo-")
    examples = write_examples(Path(work_dir.name) / "examples")
    # Each browser session encodes its image once and each class once; a further click runs SAM's decoder only.
    predictors = SessionPredictors(model, processor)

    def new_masks_folder() -> Path:
        """A folder for one answer's mask files; older ones go (Gradio copies answers to its cache at once)."""
        masks_dir = Path(work_dir.name) / "masks"
        if masks_dir.is_dir():
            for old in masks_dir.iterdir():
                if time.time() - old.stat().st_mtime > CACHE_LIFETIME_S:
                    shutil.rmtree(old, ignore_errors=True)
        return masks_dir / uuid.uuid4().hex

    def read_source(image_path: str | None) -> np.ndarray | None:
        """The kept image (a PNG file Gradio hands over as it is, or the `/segment` API's upload), read as `segment`
        reads images: a 16-bit PNG scaled to 8 bits, not clipped to white by Gradio's own decoding.

        Raises:
            DemoInputError: When the file cannot be read as an image.
        """
        return None if image_path is None else prepare_image(image_path, max_side=None)[0]

    def show_segmentation(
        image_path: str | None, class_text: str, prompts: Prompts, session: str | None
    ) -> tuple[Any, Any, str]:
        try:
            image = read_source(image_path)
            segmentation = segment_classes(predictors.get(session), image, class_text, prompts)
        except DemoInputError as error:
            return None, None, str(error)
        files = [str(path) for path in segmentation.save_masks(new_masks_folder())]
        annotated = gr.AnnotatedImage(value=segmentation.annotations(), color_map=segmentation.color_map)
        return annotated, files or None, segmentation.message  # no file: no class present

    def on_image(image_path: str | None, name: str | None = None) -> tuple[Any, ...]:
        """A new image (upload or example): keep it, clear prompts and masks."""
        prompts = Prompts().to_json()
        if image_path is None:
            return None, None, prompts, None, None, "Upload an image or pick one of the examples."
        try:
            image, message = prepare_image(image_path, name)
        except DemoInputError as error:
            return None, None, prompts, None, None, str(error)
        hint = "Type class names, then click on the object (or press Segment to find the classes without a click)."
        return image, image, prompts, None, None, f"{message} {hint}"

    def on_upload(payload: dict[str, Any] | None) -> tuple[Any, ...]:
        return on_image(payload.get("path"), payload.get("orig_name")) if payload else on_image(None)

    def on_click(
        image_path: str | None,
        prompts_json: dict,
        mode: str,
        class_text: str,
        event: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """A click on the image: add the prompt, draw it, and segment again when class names are typed."""
        try:
            image = read_source(image_path)
            if image is None:
                raise DemoInputError("Upload an image or pick one of the examples first.")
            prompts = Prompts.from_json(prompts_json).add_click(*event.index[:2], mode)
        except DemoInputError as error:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), str(error)
        drawn = draw_prompts(image, prompts)
        if prompts.box_corner is not None:
            return drawn, prompts.to_json(), gr.skip(), gr.skip(), "Box started: click the opposite corner."
        if not (class_text or "").strip():
            return drawn, prompts.to_json(), gr.skip(), gr.skip(), f"Prompts: {prompts.describe()}. Type a class name."
        return drawn, prompts.to_json(), *show_segmentation(image_path, class_text, prompts, request.session_hash)

    def on_segment(
        image_path: str | None, class_text: str, prompts_json: dict | None, request: gr.Request
    ) -> tuple[Any, Any, str]:
        """Segment every class name at the current prompts (the page's button and its `/segment` API)."""
        try:
            prompts = Prompts.from_json(prompts_json)
        except DemoInputError as error:
            return None, None, str(error)
        return show_segmentation(image_path, class_text, prompts, request.session_hash)

    def on_close(request: gr.Request) -> None:
        """A tab closed: its predictor and what it holds go."""
        predictors.drop(request.session_hash)

    def on_clear_prompts(image_path: str | None) -> tuple[Any, ...]:
        try:
            image = read_source(image_path)
        except DemoInputError as error:
            return None, Prompts().to_json(), None, None, str(error)
        return (draw_prompts(image, Prompts()) if image is not None else None), Prompts().to_json(), None, None, ""

    title = f"SAM-PTx · {model_name}"
    cache_lifetime = (CACHE_LIFETIME_S, CACHE_LIFETIME_S)  # Gradio's own copies: checked and deleted hourly
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=cache_lifetime) as demo:
        gr.Markdown(f"# {title}\nSegment Anything guided by a class name. {_INSTRUCTIONS}")
        # The image without the prompts drawn, handed over as its file (type="filepath", image_mode=None: Gradio's own
        # decoding would clip a 16-bit PNG to white) and read by read_source as segment() reads images.
        source_image = gr.Image(label="image", type="filepath", image_mode=None, format="png", visible=False)
        prompts_json = gr.JSON(label="prompts", value=Prompts().to_json(), visible=False)
        with gr.Row():
            with gr.Column():
                image_input = gr.Image(
                    label="Image: click to add prompts",
                    type="filepath",
                    image_mode=None,  # keep the file as uploaded: prepare_image reads it
                    sources=["upload", "clipboard"],
                    format="png",
                    height=IMAGE_HEIGHT,
                    elem_id="samptx-image",
                )
                class_text = gr.Textbox(label="Class names", placeholder="circle, striped", elem_id="samptx-classes")
                mode = gr.Radio(list(PROMPT_MODES), value=PROMPT_MODES[0], label="A click adds")
                with gr.Row():
                    segment_button = gr.Button("Segment", variant="primary", elem_id="samptx-segment")
                    clear_button = gr.Button("Clear prompts")
            with gr.Column():
                masks = gr.AnnotatedImage(label="masks", format="png", height=IMAGE_HEIGHT, elem_id="samptx-masks")
                status = gr.Markdown(label="message", elem_id="samptx-status")
                mask_files = gr.File(label="mask files", file_count="multiple")

        on_image_outputs = [source_image, image_input, prompts_json, masks, mask_files, status]
        # Unprocessed, so that prepare_image reads the file and answers an unreadable one with a message.
        image_input.upload(on_upload, image_input, on_image_outputs, api_visibility="private", preprocess=False)
        image_input.clear(on_image, image_input, on_image_outputs, api_visibility="private")
        image_input.select(
            on_click,
            [source_image, prompts_json, mode, class_text],
            [image_input, prompts_json, masks, mask_files, status],
            api_visibility="private",
        )
        segment_inputs = [source_image, class_text, prompts_json]
        segment_button.click(on_segment, segment_inputs, [masks, mask_files, status], api_name="segment")
        class_text.submit(on_segment, segment_inputs, [masks, mask_files, status], api_visibility="private")
        clear_button.click(
            on_clear_prompts,
            source_image,
            [image_input, prompts_json, masks, mask_files, status],
            api_visibility="private",
        )
        gr.Examples(
            examples=[[str(example.image_path), example.class_text] for example in examples],
            inputs=[image_input, class_text],
            outputs=on_image_outputs,
            fn=lambda image_path, _class_text: on_image(image_path),
            run_on_click=True,
            cache_examples=False,
            label="Examples (the built-in task: a body colour names the whole object, a part colour its part)",
        )
        demo.unload(on_close)
    demo.remove_work_dir = work_dir.cleanup
    return demo
