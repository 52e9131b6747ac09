"""The demo page in a real browser: `samptx demo` serves it, headless Chromium (Debian's) uses it like a person.

One page load and one segmentation: upload an image, type a class name, click on the object, see the masks.
Skipped, with the reason, where Playwright or the `chromium` browser is missing (`.ci/run` installs both).

Two environment variables serve the documentation: `SAMPTX_DEMO_TEST_MODEL` serves that model instead of the
tiny random one (e.g. the output of `python examples/train.py`), and `SAMPTX_DEMO_SCREENSHOT` is where to copy the
screenshot of the page (docs/images/demo.png was taken this way).
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from network import free_port
from PIL import Image

from samptx_hf.demo import write_examples

pytestmark = pytest.mark.slow  # a real server and a real browser
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start, and its connections are refused on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 180  # s: importing torch, transformers and gradio on a busy 2-core machine


def chromium_path() -> str | None:
    return os.environ.get("SAMPTX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def playwright_api():
    return pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


@pytest.fixture(scope="module")
def browser(playwright_api):
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium browser found (Debian: apt-get install chromium; .ci/run installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served_model(demo_model_dir: Path) -> str:
    return os.environ.get("SAMPTX_DEMO_TEST_MODEL") or str(demo_model_dir)


@pytest.fixture(scope="module")
def demo_url(served_model: str, tmp_path_factory: pytest.TempPathFactory):
    """`samptx demo --model MODEL --port PORT` running in a subprocess; its URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("demo_server") / "server.log"
    environment = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "samptx_hf.cli", "demo", "--model", served_model, "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            assert server.poll() is None, f"samptx demo exited with {server.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"samptx demo did not serve {url}:\n{log_path.read_text()}"
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_page_segments_what_is_typed_at_the_clicked_point(
    playwright_api, browser, demo_url, served_model, tmp_path
):
    example = write_examples(tmp_path / "examples", count=1)[0]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    outside_requests = []
    page.on("request", lambda request: None if request.url.startswith(demo_url) else outside_requests.append(request))

    page.goto(demo_url)
    playwright_api.expect(page).to_have_title(f"SAM-PTx · {served_model}")
    playwright_api.expect(page.locator("h1")).to_have_text(f"SAM-PTx · {served_model}")
    page.locator("#samptx-image input[type=file]").set_input_files(str(example.image_path))
    status = page.locator("#samptx-status")
    playwright_api.expect(status).to_contain_text("Image of ")  # the server has the image
    page.locator("#samptx-classes textarea").fill(example.class_text)
    image = page.locator("#samptx-image img").first
    page.wait_for_function("document.querySelector('#samptx-image img').naturalWidth > 0")
    # The image is shown scaled down to fit its box, and centred: click where the example's point is drawn.
    natural_width, natural_height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    box = image.bounding_box()
    scale = min(box["width"] / natural_width, box["height"] / natural_height, 1)  # CSS object-fit: scale-down
    x = (box["width"] - natural_width * scale) / 2 + example.point[0] * scale
    y = (box["height"] - natural_height * scale) / 2 + example.point[1] * scale
    image.click(position={"x": x, "y": y})

    overlay = page.locator("#samptx-masks img")
    playwright_api.expect(status).to_contain_text("predicted IoU", timeout=60_000)
    legend = page.locator("#samptx-masks").inner_text()
    for class_name in example.class_names:
        assert re.search(rf"{re.escape(class_name)} \(IoU -?\d\.\d\d\)", legend), legend
    assert overlay.count() >= 2  # the image and the classes' masks over it
    assert page.get_by_text(re.compile(r"mask_1_.*\.png")).count() == 1  # the download
    assert status.inner_text().startswith(f"{example.class_names[0]}: ")

    page.screenshot(path=tmp_path / "demo.png", full_page=True)
    if os.environ.get("SAMPTX_DEMO_SCREENSHOT"):
        shutil.copyfile(tmp_path / "demo.png", os.environ["SAMPTX_DEMO_SCREENSHOT"])
    assert not outside_requests, f"the page reached outside the demo server: {[r.url for r in outside_requests]}"
    page.close()


def test_the_served_api_answers_a_segmentation_request(demo_url, tmp_path):
    example = write_examples(tmp_path, count=1)[0]
    client = Client(demo_url, verbose=False)
    prompts = {"points": [list(example.point)], "point_labels": [1]}
    annotated, files, message = client.predict(
        handle_file(str(example.image_path)), example.class_text, prompts, api_name="/segment"
    )
    mask = np.asarray(Image.open(files[0]))
    assert mask.shape == Image.open(example.image_path).size[::-1] and set(np.unique(mask)) <= {0, 255}
    assert annotated["value"]["annotations"][0]["label"].startswith(f"{example.class_names[0]} (IoU ")
    assert message.startswith(f"{example.class_names[0]}: ")
