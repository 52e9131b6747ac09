"""A SAM-PTx adapter on a frozen SAM 2, from its repository to the pipeline, the CLI and the demo."""

import numpy as np
import pytest
from hub_factories import hub_offline, make_image, make_peft_model, save_frozen_components
from huggingface_hub import ModelCard
from PIL import Image
from transformers import AutoModel, Sam2Model, pipeline

from samptx_hf import SamPtxForTextSegmentation, SamPtxPeftModel
from samptx_hf.cli.main import main
from samptx_hf.demo import Prompts, segment_classes
from samptx_hf.hub import save_adapter_repo
from samptx_hf.processing.image_processing_sam2 import Sam2TorchImageProcessor

CLASSES = ["circle", "square"]


@pytest.fixture(scope="module", autouse=True)
def offline():
    with hub_offline():
        yield


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sam2")
    peft_model = make_peft_model(*save_frozen_components(directory, sam_version=2))
    save_adapter_repo(peft_model, directory / "repo")
    return directory / "repo"


@pytest.fixture(scope="module")
def model(repo):
    return SamPtxForTextSegmentation.from_pretrained(repo)


def test_the_repository_loads_as_a_sam2_model_with_its_processor_and_card(repo, model):
    assert isinstance(model, SamPtxPeftModel) and isinstance(model.get_base_model().sam, Sam2Model)
    assert isinstance(model.processor.image_processor, Sam2TorchImageProcessor)
    assert isinstance(AutoModel.from_pretrained(repo).get_base_model().sam, Sam2Model)
    assert "sam2" in ModelCard.load(repo / "README.md").data.tags


def test_segment_gives_masks_at_the_image_size_and_depends_on_the_class(model):
    image = make_image(width=80, height=48)
    results = model.segment(image, CLASSES, points=[(20, 20)], box=(5, 5, 60, 40))
    assert [result.mask.shape for result in results] == [(48, 80)] * 2
    assert results[0].score != results[1].score  # the adapters read the class name


def test_pipeline_gives_the_masks_of_segment(repo, model):
    segmenter = pipeline("text-guided-segmentation", model=str(repo), device="cpu")
    image = make_image(width=80, height=48)
    results = segmenter(image, text=CLASSES, points=[(20, 20)])
    expected = model.segment(image, CLASSES, points=[(20, 20)])
    for result, reference in zip(results, expected, strict=True):
        assert result["mask"].size == (80, 48)
        assert np.array_equal(np.asarray(result["mask"]) == 255, reference.mask)


def test_cli_segment_and_eval(repo, tmp_path):
    make_image(width=80, height=48).save(tmp_path / "image.png")
    output = tmp_path / "mask.png"
    args = ["segment", "--model", str(repo), "--image", str(tmp_path / "image.png"), "--text", "circle",
            "--output", str(output), "--point", "20,20"]  # fmt: skip
    assert main(args) == 0
    assert Image.open(output).size == (80, 48)
    args = ["eval", "--model", str(repo), "--dataset", "synthetic", "--num-samples", "3", "--batch-size", "2",
            "--output-dir", str(tmp_path / "eval")]  # fmt: skip
    assert main(args) == 0


def test_demo_segments_with_and_without_prompts(model):
    image = np.asarray(make_image(width=80, height=48))
    with_point = segment_classes(model, image, "circle, square", Prompts().add_click(20, 20, "foreground point"))
    name_only = segment_classes(model, image, "circle", Prompts())
    assert [result.mask.shape for result in with_point.results + name_only.results] == [(48, 80)] * 3


def test_a_processor_for_the_other_sam_is_refused_with_a_clear_line(model):
    from factories import make_model

    from samptx_hf import SamPtxProcessor, TextGuidedSegmentationPipeline

    sam_processor = SamPtxProcessor.from_model(make_model())  # SAM's: longest side resized, padded
    image = make_image(width=80, height=48)
    message = "the image processor is a SamImageProcessor.*but the model's frozen SAM is SAM 2 .*from_model"
    with pytest.raises(ValueError, match=message):
        model.segment(image, "circle", points=[(20, 20)], processor=sam_processor)
    with pytest.raises(ValueError, match=message):
        TextGuidedSegmentationPipeline(model=model, processor=sam_processor)
    with pytest.raises(ValueError, match="prepares images for SAM 2, but the model's frozen SAM is SAM \\(SamModel\\)"):
        make_model().segment(image, "circle", processor=model.processor)
