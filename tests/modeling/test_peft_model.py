"""A plain PEFT save (`get_peft_model(...).save_pretrained(folder)`) loads again with SAM-PTx's and transformers'
loaders, onto the frozen components it was trained on and nothing else."""

import json
import shutil

import numpy as np
import pytest
import torch
from hub_factories import make_image, save_frozen_components
from peft import PeftModel, get_peft_model
from transformers import AutoModel

from samptx_hf import SamPtxForTextSegmentation, SamPtxPeftModel, peft_config_for, text_injection_for
from samptx_hf.modeling.tiny import tiny_clip_tokenizer, tiny_samptx_config

LOADERS = [SamPtxForTextSegmentation.from_pretrained, AutoModel.from_pretrained]


@pytest.fixture(scope="module", autouse=True)
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


def trained_looking(model: SamPtxForTextSegmentation, method: str = "parallel_text") -> PeftModel:
    torch.manual_seed(0)
    peft_model = get_peft_model(model, peft_config_for(method, r=4))
    with torch.no_grad():  # "training" moved every trainable weight
        for parameter in peft_model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    return peft_model.eval()


def keys_named(name: str, config: dict) -> list[str]:
    """The paths of the keys called `name` anywhere in a nested config dict."""
    found = []
    for key, value in config.items():
        if key == name:
            found.append(key)
        if isinstance(value, dict):
            found += [f"{key}.{path}" for path in keys_named(name, value)]
    return found


@pytest.fixture(scope="module", params=[1, 2], ids=["sam", "sam2"])
def plain_save(request, tmp_path_factory):
    """A PEFT model on tiny frozen components saved as peft saves it, and the masks it gives before saving."""
    directory = tmp_path_factory.mktemp("plain")
    sam_dir, clip_dir = save_frozen_components(directory, sam_version=request.param)
    peft_model = trained_looking(SamPtxForTextSegmentation.from_pretrained_components(sam_dir, clip_dir))
    peft_model.save_pretrained(directory / "adapter")  # peft's own save, not save_adapter_repo
    image = make_image()
    expected = peft_model.segment(image, "red", points=[(20, 20)])
    return directory / "adapter", image, expected


@pytest.mark.parametrize("load", LOADERS, ids=["from_pretrained", "AutoModel"])
def test_a_plain_peft_save_reloads_to_the_same_masks(plain_save, load):
    folder, image, expected = plain_save
    model = load(folder)
    assert isinstance(model, SamPtxPeftModel)
    result = model.segment(image, "red", points=[(20, 20)])
    # Another model instance: the same masks, the score to float32 rounding (docs/method.md, what is bit-exact).
    np.testing.assert_array_equal(result.mask, expected.mask)
    assert result.score == pytest.approx(expected.score, rel=1e-5)


def test_a_plain_peft_save_records_the_frozen_components_without_machine_paths(plain_save):
    folder = plain_save[0]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "sam_ptx"
    assert config["architectures"] == ["SamPtxForTextSegmentation"]
    assert config["sam_model_name_or_path"] == str(folder.parent / "sam")
    assert config["text_model_name_or_path"] == str(folder.parent / "clip")
    assert not keys_named("_name_or_path", config)


def test_a_relative_component_folder_is_recorded_absolute(tmp_path, monkeypatch):
    save_frozen_components(tmp_path)
    monkeypatch.chdir(tmp_path)
    model = SamPtxForTextSegmentation.from_pretrained_components("sam", "clip")
    assert model.config.sam_model_name_or_path == str(tmp_path / "sam")
    assert model.config.text_model_name_or_path == str(tmp_path / "clip")


def test_a_builtin_base_is_recorded_by_name(tmp_path):
    model = SamPtxForTextSegmentation.from_pretrained_components("samptx_hf:tiny-sam", "samptx_hf:tiny-clip")
    trained_looking(model, "decoder_only").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["sam_model_name_or_path"], config["text_model_name_or_path"]) == (
        "samptx_hf:tiny-sam",
        "samptx_hf:tiny-clip",
    )
    assert not keys_named("_name_or_path", config)  # the built-in folders' paths stay on this machine
    assert isinstance(AutoModel.from_pretrained(tmp_path), SamPtxPeftModel)


@pytest.mark.parametrize("load", LOADERS, ids=["from_pretrained", "AutoModel"])
def test_an_adapter_on_a_model_built_from_a_config_is_refused_not_put_on_a_default_base(tmp_path, load):
    model = SamPtxForTextSegmentation(tiny_samptx_config())
    assert model.config.sam_model_name_or_path is None  # its weights come from nowhere that could be loaded again
    trained_looking(model).save_pretrained(tmp_path)
    with pytest.raises(
        ValueError, match=r"config\.json of .* names no frozen SAM .*PeftModel\.from_pretrained\(model, "
    ):
        load(tmp_path)
    # ... and the way that works: onto the model it was trained on
    reloaded = PeftModel.from_pretrained(model, tmp_path)
    assert reloaded.peft_config["default"].r == 4


def test_a_model_built_from_a_config_asks_for_its_tokenizer():
    model = SamPtxForTextSegmentation(tiny_samptx_config())
    with pytest.raises(ValueError, match="set model.tokenizer"):
        model.encode_text("red")
    model.tokenizer = tiny_clip_tokenizer()
    assert model.encode_text("red").shape == (1, model.config.text_dim)


def test_an_adapter_saved_before_the_presence_answer_loads_and_segments_as_before(adapter_repo, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(adapter_repo, old)
    config = json.loads((old / "config.json").read_text())
    del config["presence_head"]  # what config.json held before the option existed
    (old / "config.json").write_text(json.dumps(config))
    image = make_image()
    expected = SamPtxForTextSegmentation.from_pretrained(adapter_repo).segment(image, "red", points=[(20, 20)])
    model = SamPtxForTextSegmentation.from_pretrained(old)
    assert model.config.presence_head is False and model.get_base_model().presence_head is None
    result = model.segment(image, "red", points=[(20, 20)])
    np.testing.assert_array_equal(result.mask, expected.mask)
    assert result.presence is None and result.score == pytest.approx(expected.score, rel=1e-5)


@pytest.mark.parametrize(
    "method, options", [("parallel_text", {"presence_head": True}), ("text_prompt_encoder", {})], ids=["presence", "pe"]
)
def test_two_loads_of_a_saved_model_have_equal_state_dicts(tmp_path, method, options):
    sam_dir, clip_dir = save_frozen_components(tmp_path)
    model = SamPtxForTextSegmentation.from_pretrained_components(
        sam_dir, clip_dir, text_injection=text_injection_for(method).value, **options
    )
    trained_looking(model, method).save_pretrained(tmp_path / "adapter")
    first, second = (SamPtxForTextSegmentation.from_pretrained(tmp_path / "adapter").state_dict() for _ in range(2))
    assert first.keys() == second.keys()
    assert [name for name in first if not torch.equal(first[name], second[name])] == []


def test_with_the_adapter_disabled_the_presence_head_empties_no_mask(tmp_path):
    sam_dir, clip_dir = save_frozen_components(tmp_path)
    model = SamPtxForTextSegmentation.from_pretrained_components(sam_dir, clip_dir, presence_head=True)
    trained_looking(model).save_pretrained(tmp_path / "adapter")
    loaded = SamPtxForTextSegmentation.from_pretrained(tmp_path / "adapter")
    image = make_image()
    with loaded.disable_adapter():  # the frozen base: no presence answer was trained into it
        results = loaded.segment(image, ["red", "blue"])
    assert [result.presence for result in results] == [1.0, 1.0]
    trained = loaded.segment(image, ["red", "blue"])  # the adapter's own answer
    assert all(result.presence < 1.0 for result in trained)
    trained_head = {
        k: v.clone() for k, v in loaded.base_model.model.presence_head.modules_to_save["default"].state_dict().items()
    }
    unloaded = loaded.unload()  # keeps the trained copy, not the base's
    assert all(torch.equal(unloaded.presence_head.state_dict()[name], value) for name, value in trained_head.items())


def test_an_adapter_loaded_onto_the_other_sam_is_refused_naming_both(tmp_path):
    names = {1: "SAM (SamModel)", 2: "SAM 2 (Sam2Model)"}
    components = {version: save_frozen_components(tmp_path / f"sam{version}", sam_version=version) for version in names}
    for version, (sam_dir, clip_dir) in components.items():
        model = SamPtxForTextSegmentation.from_pretrained_components(sam_dir, clip_dir)
        trained_looking(model).save_pretrained(tmp_path / f"adapter{version}")
    for adapter_version, model_version in ((1, 2), (2, 1)):
        other_base = SamPtxForTextSegmentation.from_pretrained_components(*components[model_version])
        with pytest.raises(ValueError) as error:
            PeftModel.from_pretrained(other_base, tmp_path / f"adapter{adapter_version}")
        assert str(error.value).startswith(
            f"the adapter was trained on the {names[adapter_version]} {str(components[adapter_version][0])!r} (its "
            f"config.json), this model holds a {names[model_version]}: load the adapter onto the SAM it was trained "
            f"on, e.g. with SamPtxForTextSegmentation.from_pretrained({str(tmp_path / f'adapter{adapter_version}')!r})"
        )
    own_base = SamPtxForTextSegmentation.from_pretrained_components(*components[2])
    assert isinstance(PeftModel.from_pretrained(own_base, tmp_path / "adapter2"), PeftModel)  # its own SAM: loads
