"""The demo page: a Gradio app that wires [`interactions`]'s functions to an image you click on and a text box."""

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .examples import DemoExample, write_examples
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


class _PageHandlers:
    """What the page's events do, as plain methods of values (a Gradio event's session and click position are handed
    over by the thin adapters of [`build_demo`]).

    Args:
        gr: The `gradio` module.
        predictors: One predictor per browser session.
        work_dir: The folder of the answers' mask files.
    """

    def __init__(self, gr: Any, predictors: SessionPredictors, work_dir: Path) -> None:
        self.gr = gr
        self.predictors = predictors
        self.masks_dir = work_dir / "masks"

    def new_masks_folder(self) -> Path:
        """A folder for one answer's mask files; older ones go (Gradio copies answers to its cache at once)."""
        if self.masks_dir.is_dir():
            for old in self.masks_dir.iterdir():
                if time.time() - old.stat().st_mtime > CACHE_LIFETIME_S:
                    shutil.rmtree(old, ignore_errors=True)
        return self.masks_dir / uuid.uuid4().hex

    @staticmethod
    def read_source(image_path: str | None) -> np.ndarray | None:
        """The kept image (a PNG file Gradio hands over as it is, or the `/segment` API's upload), read as `segment`
        reads images: a 16-bit PNG scaled to 8 bits, not clipped to white by Gradio's own decoding.

        Raises:
            DemoInputError: When the file cannot be read as an image.
        """
        return None if image_path is None else prepare_image(image_path, max_side=None)[0]

    def show_segmentation(
        self, image_path: str | None, class_text: str, prompts: Prompts, session: str | None
    ) -> tuple[Any, Any, str]:
        """The annotated image, the mask files (None when no class is present) and the message."""
        try:
            image = self.read_source(image_path)
            segmentation = segment_classes(self.predictors.get(session), image, class_text, prompts)
        except DemoInputError as error:
            return None, None, str(error)
        files = [str(path) for path in segmentation.save_masks(self.new_masks_folder())]
        annotated = self.gr.AnnotatedImage(value=segmentation.annotations(), color_map=segmentation.color_map)
        return annotated, files or None, segmentation.message

    def on_image(self, image_path: str | None, name: str | None = None) -> tuple[Any, ...]:
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

    def on_upload(self, payload: dict[str, Any] | None) -> tuple[Any, ...]:
        """An upload, handed over unprocessed so that an unreadable file is answered with a message."""
        return self.on_image(payload.get("path"), payload.get("orig_name")) if payload else self.on_image(None)

    def on_click(
        self,
        image_path: str | None,
        prompts_json: dict,
        mode: str,
        class_text: str,
        position: tuple[int, int],
        session: str | None,
    ) -> tuple[Any, ...]:
        """A click on the image at `position` (x, y): add the prompt, draw it, and segment again when class names
        are typed."""
        skip = self.gr.skip
        try:
            image = self.read_source(image_path)
            if image is None:
                raise DemoInputError("Upload an image or pick one of the examples first.")
            prompts = Prompts.from_json(prompts_json).add_click(*position, mode)
        except DemoInputError as error:
            return skip(), skip(), skip(), skip(), str(error)
        drawn = draw_prompts(image, prompts)
        if prompts.box_corner is not None:
            return drawn, prompts.to_json(), skip(), skip(), "Box started: click the opposite corner."
        if not (class_text or "").strip():
            return drawn, prompts.to_json(), skip(), skip(), f"Prompts: {prompts.describe()}. Type a class name."
        return drawn, prompts.to_json(), *self.show_segmentation(image_path, class_text, prompts, session)

    def on_segment(
        self, image_path: str | None, class_text: str, prompts_json: dict | None, session: str | None
    ) -> tuple[Any, Any, str]:
        """Segment every class name at the current prompts (the page's button and its `/segment` API)."""
        try:
            prompts = Prompts.from_json(prompts_json)
        except DemoInputError as error:
            return None, None, str(error)
        return self.show_segmentation(image_path, class_text, prompts, session)

    def on_clear_prompts(self, image_path: str | None) -> tuple[Any, ...]:
        """The image without prompts, and no masks."""
        try:
            image = self.read_source(image_path)
        except DemoInputError as error:
            return None, Prompts().to_json(), None, None, str(error)
        return (draw_prompts(image, Prompts()) if image is not None else None), Prompts().to_json(), None, None, ""

    def on_close(self, session: str | None) -> None:
        """A tab closed: its predictor and what it holds go."""
        self.predictors.drop(session)


@dataclass
class _Page:
    """The page's components."""

    source_image: Any
    prompts_json: Any
    image_input: Any
    class_text: Any
    mode: Any
    segment_button: Any
    clear_button: Any
    masks: Any
    status: Any
    mask_files: Any


def _lay_out_page(gr: Any) -> _Page:
    """The page's components, placed inside the current `Blocks`."""
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
    return _Page(
        source_image, prompts_json, image_input, class_text, mode, segment_button, clear_button, masks, status,
        mask_files,
    )  # fmt: skip


def _wire_events(gr: Any, demo: Any, page: _Page, handlers: _PageHandlers, examples: list[DemoExample]) -> None:
    """Connect the page's events to `handlers`; the "Segment" button is the one public API endpoint."""

    # Gradio hands a click's position and the browser session to parameters annotated with its event types.
    def on_click(
        image_path: str | None,
        prompts_json: dict,
        mode: str,
        class_text: str,
        event: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        return handlers.on_click(image_path, prompts_json, mode, class_text, event.index[:2], request.session_hash)

    def on_segment(
        image_path: str | None, class_text: str, prompts_json: dict | None, request: gr.Request
    ) -> tuple[Any, Any, str]:
        return handlers.on_segment(image_path, class_text, prompts_json, request.session_hash)

    def on_close(request: gr.Request) -> None:
        handlers.on_close(request.session_hash)

    image_outputs = [page.source_image, page.image_input, page.prompts_json, page.masks, page.mask_files, page.status]
    prompt_outputs = [page.image_input, page.prompts_json, page.masks, page.mask_files, page.status]
    answer_outputs = [page.masks, page.mask_files, page.status]
    # Unprocessed, so that prepare_image reads the file and answers an unreadable one with a message.
    page.image_input.upload(
        handlers.on_upload, page.image_input, image_outputs, api_visibility="private", preprocess=False
    )
    page.image_input.clear(handlers.on_image, page.image_input, image_outputs, api_visibility="private")
    page.image_input.select(
        on_click,
        [page.source_image, page.prompts_json, page.mode, page.class_text],
        prompt_outputs,
        api_visibility="private",
    )
    segment_inputs = [page.source_image, page.class_text, page.prompts_json]
    page.segment_button.click(on_segment, segment_inputs, answer_outputs, api_name="segment")
    page.class_text.submit(on_segment, segment_inputs, answer_outputs, api_visibility="private")
    page.clear_button.click(handlers.on_clear_prompts, page.source_image, prompt_outputs, api_visibility="private")
    gr.Examples(
        examples=[[str(example.image_path), example.class_text] for example in examples],
        inputs=[page.image_input, page.class_text],
        outputs=image_outputs,
        fn=lambda image_path, _class_text: handlers.on_image(image_path),
        run_on_click=True,
        cache_examples=False,
        label="Examples (the built-in task: a body colour names the whole object, a part colour its part)",
    )
    demo.unload(on_close)


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
    handlers = _PageHandlers(gr, SessionPredictors(model, processor), Path(work_dir.name))
    title = f"SAM-PTx · {model_name}"
    cache_lifetime = (CACHE_LIFETIME_S, CACHE_LIFETIME_S)  # Gradio's own copies: checked and deleted hourly
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=cache_lifetime) as demo:
        gr.Markdown(f"# {title}\nSegment Anything guided by a class name. {_INSTRUCTIONS}")
        page = _lay_out_page(gr)
        _wire_events(gr, demo, page, handlers, examples)
    demo.remove_work_dir = work_dir.cleanup
    return demo
