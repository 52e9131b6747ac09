"""The demo page served in-process, driven through its API with `gradio_client` (no browser)."""

import re

import numpy as np
import pytest
from gradio_client import Client, handle_file
from hub_factories import make_image
from network import free_port
from PIL import Image

from samptx_hf.demo import build_demo
from samptx_hf.inference.segment import load_image, segment


@pytest.fixture(scope="module")
def demo(demo_model):
    demo = build_demo(demo_model, model_name="tiny/run")
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(demo):
    return Client(demo.local_url, verbose=False)


@pytest.fixture
def image_path(tmp_path):
    make_image(width=80, height=48).save(tmp_path / "image.png")
    return tmp_path / "image.png"


def test_the_title_names_sam_ptx_and_the_model(demo):
    assert demo.title == "SAM-PTx · tiny/run"
    assert not demo.analytics_enabled


def test_segment_is_the_one_public_api_endpoint(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/segment"]
    assert [parameter["label"] for parameter in endpoints["/segment"]["parameters"]] == [
        "image",
        "Class names",
        "prompts",
    ]


def test_the_api_answers_a_segmentation_request_with_the_masks_of_segment(client, demo_model, image_path):
    prompts = {"points": [[20, 20], [70, 40]], "point_labels": [1, 0]}
    annotated, files, message = client.predict(
        handle_file(str(image_path)), "circle, striped", prompts, api_name="/segment"
    )
    expected = segment(demo_model, Image.open(image_path), ["circle", "striped"], points=prompts["points"],
                       point_labels=prompts["point_labels"])  # fmt: skip
    labels = [f"{result.class_name} (IoU {result.score:.2f})" for result in expected]
    assert [annotation["label"] for annotation in annotated["value"]["annotations"]] == labels
    assert list(annotated["color_map"]) == labels
    assert Image.open(annotated["value"]["image"]).size == (80, 48)
    assert [path.rsplit("/", 1)[-1] for path in files] == ["mask_1_circle.png", "mask_2_striped.png"]
    for path, result in zip(files, expected, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)) == 255, result.mask)
    assert message.startswith("circle: ")


def test_a_16_bit_png_is_read_as_segment_reads_it_not_clipped_to_white(client, demo_model, tmp_path):
    gradient = np.tile(np.linspace(0, 65535, 80).astype(np.uint16), (48, 1))  # dark left, bright right
    Image.fromarray(gradient).save(tmp_path / "deep.png")  # mode I;16
    prompts = {"points": [[20, 20]], "point_labels": [1]}
    annotated, files, _ = client.predict(
        handle_file(str(tmp_path / "deep.png")), "circle", prompts, api_name="/segment"
    )
    shown = np.asarray(Image.open(annotated["value"]["image"]).convert("RGB"))
    assert np.array_equal(shown, np.asarray(load_image(tmp_path / "deep.png")))  # scaled: dark on the left
    assert shown[:, 0].max() < 10
    expected = segment(demo_model, tmp_path / "deep.png", "circle", points=prompts["points"])
    assert np.array_equal(np.asarray(Image.open(files[0])) == 255, expected.mask)


@pytest.mark.parametrize(
    ("class_text", "prompts", "message"),
    [
        ("  ", {"points": [[20, 20]]}, "Type a class name"),
        ("circle", {"points": [[500, 20]]}, r"Cannot segment: point \(500, 20\) of image 0 lies outside"),
        ("circle", {"points": [[20]]}, r"\[20\] is not a point"),
    ],
)
def test_bad_input_is_answered_with_a_message_and_the_page_keeps_working(
    client, image_path, class_text, prompts, message
):
    annotated, files, answer = client.predict(handle_file(str(image_path)), class_text, prompts, api_name="/segment")
    assert annotated is None and files is None
    assert re.search(message, answer)
    _, files, _ = client.predict(handle_file(str(image_path)), "circle", {"points": [[1, 1]]}, api_name="/segment")
    assert len(files) == 1


def test_with_no_click_the_api_answers_which_classes_are_present_and_only_their_masks(model_answering, image_path):
    demo = build_demo(model_answering([-10.0, 10.0]), model_name="tiny/presence")
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        annotated, files, message = client.predict(handle_file(str(image_path)), "red, blue", {}, api_name="/segment")
        assert message.startswith("present: blue (1.00); absent: red (0.00).")
        assert [annotation["label"].split(" ")[0] for annotation in annotated["value"]["annotations"]] == ["blue"]
        assert [path.rsplit("/", 1)[-1] for path in files] == ["mask_2_blue.png"]
        annotated, files, message = client.predict(handle_file(str(image_path)), "red", {}, api_name="/segment")
        assert message.startswith("present: none; absent: red (0.00).")
        assert annotated["value"]["annotations"] == [] and files is None
    finally:
        demo.close()
        demo.remove_work_dir()
