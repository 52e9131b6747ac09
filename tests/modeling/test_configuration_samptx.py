import pytest
from transformers import AutoConfig, CLIPTextConfig, SamConfig

from samptx_hf import SamPtxConfig, TextInjection
from samptx_hf.modeling.tiny import tiny_sam_config, tiny_text_config


def test_defaults_describe_vit_b_sam_and_clip_b32_but_name_no_weights():
    config = SamPtxConfig()
    assert isinstance(config.sam_config, SamConfig)
    assert isinstance(config.text_config, CLIPTextConfig)
    # A config alone says nothing about where weights come from: no default base to fall back to.
    assert config.sam_model_name_or_path is None and config.text_model_name_or_path is None
    assert config.text_injection == "parallel_text"
    assert config.text_dim == 512


def test_sub_configs_accept_objects_or_dicts_alike():
    from_objects = SamPtxConfig(sam_config=tiny_sam_config(), text_config=tiny_text_config())
    from_dicts = SamPtxConfig(sam_config=tiny_sam_config().to_dict(), text_config=tiny_text_config().to_dict())
    assert from_objects.to_dict() == from_dicts.to_dict()
    assert from_dicts.vision_hidden_size == 32
    assert from_dicts.text_dim == 12


def test_round_trips_through_dict_and_save_pretrained(tmp_path):
    config = SamPtxConfig(
        sam_config=tiny_sam_config(),
        text_config=tiny_text_config(),
        prompt_template="a camouflaged {}",
        text_injection=TextInjection.MASK_DECODER,
    )
    assert SamPtxConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()

    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, SamPtxConfig)
    without_path = lambda c: {k: v for k, v in c.to_dict().items() if k != "_name_or_path"}  # noqa: E731
    assert without_path(reloaded) == without_path(config)
    assert reloaded.text_injection == "mask_decoder"
    assert reloaded.sam_config.vision_config.hidden_size == 32


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text_injection": "encoder"}, "text_injection"),
        ({"prompt_template": "a photo"}, "prompt_template"),
        ({"prompt_template": "{} and {}"}, "prompt_template"),
        ({"text_config": {"projection_dim": 0}}, "projection_dim"),
        ({"text_config": {"projection_dim": -3}}, "projection_dim"),
        ({"initializer_range": 0.0}, "initializer_range"),
        ({"loss_type": "focal"}, "loss_type"),
        ({"sam_model_name_or_path": ""}, "sam_model_name_or_path"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamPtxConfig(**kwargs)


def test_a_blank_component_location_is_refused():
    with pytest.raises(ValueError, match="sam_model_name_or_path must be a non-empty Hub id"):
        SamPtxConfig(sam_model_name_or_path="  ")
