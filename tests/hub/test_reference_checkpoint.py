"""`samptx convert`: a checkpoint of the authors' code becomes an adapter repository that computes what their model
computes (checked against `authors_reference`, written from the formulas), and a bad checkpoint is refused."""

import copy
import re

import pytest
import torch
from authors_reference import authors_image_embeddings, random_adapters, to_segment_anything
from transformers import AutoModel, SamModel

from samptx_hf import SamPtxForTextSegmentation
from samptx_hf.cli.main import main
from samptx_hf.hub.reference_checkpoint import convert_reference_checkpoint, sam_key_to_transformers
from samptx_hf.modeling.tiny import tiny_sam_config

TEXT_MODEL = "samptx_hf:tiny-clip"
TEXT_DIM = 12  # the tiny CLIP's projection


def tiny_base() -> SamModel:
    """A tiny SAM whose 8 × 8 token grid is padded to 9 × 9 by its 3 × 3 windows (as ViT-B's 64 × 64 by 14 × 14)."""
    config = tiny_sam_config(image_size=64, hidden_size=32, num_hidden_layers=2)
    config.vision_config.window_size = 3
    torch.manual_seed(0)
    sam = SamModel(config).eval()
    with torch.no_grad():  # non-trivial norms, so that norm1(0) = its bias is not zero
        for layer in sam.vision_encoder.layers:
            layer.layer_norm1.bias.normal_(std=0.5)
            layer.layer_norm1.weight.normal_(1.0, 0.2)
    return sam


def relative_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|."""
    return ((actual - expected).abs().max() / expected.abs().max()).item()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(base SAM, trained SAM: the base with another decoder and prompt encoder, adapters, checkpoint path,
    repository) for one conversion."""
    root = tmp_path_factory.mktemp("reference")
    base = tiny_base()
    base.save_pretrained(root / "base")
    trained = copy.deepcopy(base)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in trained.named_parameters():
            if name.startswith(("mask_decoder.", "prompt_encoder.")) and "shared_embedding" not in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    adapters = random_adapters(base, TEXT_DIM)
    checkpoint = root / "sam_ptx.pth"
    torch.save({"epoch": 3, "model_state_dict": {**to_segment_anything(trained.state_dict()), **adapters}}, checkpoint)
    repo = convert_reference_checkpoint(checkpoint, root / "base", TEXT_MODEL, root / "repo")
    return base, trained, adapters, checkpoint, repo


def test_key_mapping_covers_every_weight_of_sam():
    base = tiny_base()
    mapped = {sam_key_to_transformers(key) for key in to_segment_anything(base.state_dict())}
    assert mapped == set(base.state_dict()) - {"shared_image_embedding.positional_embedding"}


def test_converted_model_computes_the_authors_image_embeddings_and_masks(converted):
    base, trained, adapters, _, repo = converted
    model = SamPtxForTextSegmentation.from_pretrained(repo)
    assert model.config.prompt_template == "{}" and model.config.subtract_empty_prompt
    torch.manual_seed(2)
    pixel_values = torch.randn(2, 3, 64, 64)
    input_points = torch.tensor([[[[10.0, 20.0]]], [[[40.0, 33.0]]]])
    input_labels = torch.ones(2, 1, 1, dtype=torch.long)
    text_embeds = model.encode_text(["circle", "striped"])  # (2, 12), normalised
    with torch.no_grad():
        embeddings = model.get_image_embeddings(pixel_values, text_embeds=text_embeds)
        masks = model(
            pixel_values=pixel_values,
            input_points=input_points,
            input_labels=input_labels,
            text_embeds=text_embeds,
        ).pred_masks
        expected_embeddings = authors_image_embeddings(base, pixel_values, text_embeds, adapters)
        expected_masks = trained(
            image_embeddings=expected_embeddings,
            input_points=input_points,
            input_labels=input_labels,
            multimask_output=False,
        ).pred_masks
    image_embeddings = getattr(embeddings, "image_embeddings", embeddings)
    assert relative_difference(image_embeddings, expected_embeddings) <= 1e-4
    assert relative_difference(masks, expected_masks) <= 1e-4
    # The adapters and the trained decoder matter: without them the masks are far from these.
    plain = base(
        pixel_values=pixel_values, input_points=input_points, input_labels=input_labels, multimask_output=False
    )
    assert relative_difference(plain.pred_masks, expected_masks) > 0.1


def test_auto_model_loads_the_converted_repository(converted):
    *_, repo = converted
    model = AutoModel.from_pretrained(repo)
    assert model.peft_config["default"].attention_adapter
    card = (repo / "README.md").read_text()
    assert "beside the MLP and after the attention of every one of the 2 image-encoder blocks" in card
    assert "| Empty-prompt embedding subtracted | `True`" in card


def test_cli_converts_a_bare_state_dict(converted, tmp_path, capsys):
    base, trained, adapters, _, _ = converted
    checkpoint = tmp_path / "bare.pth"
    torch.save({**to_segment_anything(trained.state_dict()), **adapters}, checkpoint)
    base_dir = tmp_path / "base"
    base.save_pretrained(base_dir)
    capsys.readouterr()
    status = main(
        ["convert", "--checkpoint", str(checkpoint), "--sam-model", str(base_dir), "--text-model", TEXT_MODEL,
         "--output", str(tmp_path / "out")]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def _refusal(tmp_path, state, base_dir, capsys) -> str:
    checkpoint = tmp_path / "bad.pth"
    if isinstance(state, bytes):
        checkpoint.write_bytes(state)
    else:
        torch.save(state, checkpoint)
    capsys.readouterr()  # the progress bars of saving the base
    status = main(
        ["convert", "--checkpoint", str(checkpoint), "--sam-model", str(base_dir), "--text-model", TEXT_MODEL,
         "--output", str(tmp_path / "out")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        ("not torch", "is not a PyTorch checkpoint"),
        ("list", "holds list, expected a SAM state_dict"),
        ("unknown", "unknown key 'text_encoder.weight'"),
        ("missing", "lacks 1 of SAM's weights, first 'mask_decoder.iou_token.weight'"),
        ("frozen", "frozen weight 'vision_encoder.layers.1.mlp.lin1.weight' differs from .* by up to 0.5"),
        ("fourier", "frozen weight 'prompt_encoder.shared_embedding.positional_embedding' differs"),
        ("other form", "adapters of another form \\('image_encoder.blocks.0.MLP_Adapter.vis_projection.weight'"),
        ("no adapters", "holds no adapters"),
        ("vit size", "ViT of width 32 with 1 blocks, but --sam-model .* has width 32 with 2 blocks"),
        ("bottleneck", "bottleneck of 4 on blocks of width 32, the reference form 8"),
    ],
)
def test_bad_checkpoints_are_refused_in_one_line(converted, tmp_path, capsys, corrupt, message):
    base, trained, adapters, _, _ = converted
    base_dir = tmp_path / "base"
    base.save_pretrained(base_dir)
    state = {**to_segment_anything(trained.state_dict()), **adapters}
    if corrupt == "not torch":
        state = b"not a checkpoint"
    elif corrupt == "list":
        state = [torch.zeros(1)]
    elif corrupt == "unknown":
        state["text_encoder.weight"] = torch.zeros(1)
    elif corrupt == "missing":
        del state["mask_decoder.iou_token.weight"]
    elif corrupt == "frozen":
        state["image_encoder.blocks.1.mlp.lin1.weight"] = state["image_encoder.blocks.1.mlp.lin1.weight"] + 0.5
    elif corrupt == "fourier":
        state["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] += 1.0
    elif corrupt == "other form":
        state["image_encoder.blocks.0.MLP_Adapter.vis_projection.weight"] = torch.zeros(32, 12)
    elif corrupt == "no adapters":
        state = {k: v for k, v in state.items() if "Adapter" not in k}
    elif corrupt == "vit size":
        state = {k: v for k, v in state.items() if not k.startswith("image_encoder.blocks.1.")}
    elif corrupt == "bottleneck":
        for key in [k for k in state if "D_fc1" in k or "D_fc2" in k]:
            state[key] = (
                state[key][:4] if "D_fc1" in key else state[key][..., :4] if key.endswith("weight") else state[key]
            )
    assert re.search(message, _refusal(tmp_path, state, base_dir, capsys))
    assert not (tmp_path / "out").exists()


def test_help_names_the_command_and_its_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "convert  convert a checkpoint of the authors' SAM-PTx code" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--checkpoint", "--sam-model", "--text-model", "--output", "weights_only"))


def test_a_non_empty_output_is_refused_before_loading(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("mine")
    args = [
        "convert",
        "--checkpoint",
        str(tmp_path / "none.pth"),
        "--sam-model",
        "x",
        "--output",
        str(tmp_path / "out"),
    ]
    assert main(args) == 1
    assert re.search(r"--output .*out is not empty", capsys.readouterr().err)
    assert (tmp_path / "out" / "mine.txt").read_text() == "mine"
