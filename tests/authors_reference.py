"""The authors' Parallel_Text SAM, written for the tests from its published formulas (not from their code), and the
inverse of `samptx_hf.hub.reference_checkpoint`'s key mapping, to build checkpoints in segment-anything's layout.

Per block, with `s = 0.5`, windows partitioned *before* the first norm (so window padding enters attention as
`norm1(0)`):

    a  = attn(norm1(window_partition(x)))
    a  = a + s * (a + fc2_a(GELU(fc1_a(a))))
    x  = x + window_unpartition(a)
    xn = norm2(x)
    x  = x + mlp(xn) + s * fc2(GELU(fc1(xn + GELU(W_t t + b))))
"""

import re

import torch
import torch.nn.functional as F
from transformers import SamModel

SCALE = 0.5


def window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    batch, height, width, channels = x.shape
    pad_h, pad_w = (size - height % size) % size, (size - width % size) % size
    x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w
    x = x.view(batch, padded_h // size, size, padded_w // size, size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, size, size, channels), (padded_h, padded_w)


def window_unpartition(windows: torch.Tensor, size: int, padded: tuple[int, int], shape: tuple[int, int]):
    padded_h, padded_w = padded
    batch = windows.shape[0] // (padded_h * padded_w // size // size)
    x = windows.view(batch, padded_h // size, padded_w // size, size, size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_h, padded_w, -1)
    return x[:, : shape[0], : shape[1], :]


def linear(x: torch.Tensor, weights: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.linear(x, weights[f"{name}.weight"], weights[f"{name}.bias"])


def authors_block(layer, x: torch.Tensor, text: torch.Tensor, adapters: dict[str, torch.Tensor], block: int):
    """One authors' block: the frozen parts from a transformers `SamVisionLayer`, adapters from a checkpoint dict."""
    prefix = f"image_encoder.blocks.{block}."
    shortcut = x
    height, width = x.shape[1], x.shape[2]
    if layer.window_size > 0:
        x, padded = window_partition(x, layer.window_size)
    a = layer.attn(layer.layer_norm1(x))[0]
    space = linear(
        F.gelu(linear(a, adapters, prefix + "Space_Adapter.D_fc1")), adapters, prefix + "Space_Adapter.D_fc2"
    )
    a = a + SCALE * (a + space)
    if layer.window_size > 0:
        a = window_unpartition(a, layer.window_size, padded, (height, width))
    x = shortcut + a
    xn = layer.layer_norm2(x)
    projected = F.gelu(linear(text, adapters, prefix + "MLP_Adapter.text_projection"))[:, None, None, :]
    hidden = F.gelu(linear(xn + projected, adapters, prefix + "MLP_Adapter.D_fc1"))
    return x + layer.mlp(xn) + SCALE * linear(hidden, adapters, prefix + "MLP_Adapter.D_fc2")


@torch.no_grad()
def authors_image_embeddings(sam: SamModel, pixel_values, text, adapters: dict[str, torch.Tensor]) -> torch.Tensor:
    """(batch, channels, h, w) image embeddings of the authors' image encoder around `sam`'s frozen ViT."""
    encoder = sam.vision_encoder
    x = encoder.patch_embed(pixel_values) + encoder.pos_embed
    for index, layer in enumerate(encoder.layers):
        x = authors_block(layer, x, text, adapters, index)
    return encoder.neck(x)


# transformers → segment-anything, the test's own inverse of the conversion.
_TO_SEGMENT_ANYTHING = (
    (r"^vision_encoder\.", "image_encoder."),
    (r"\.layers\.(\d+)\.layer_norm(\d)\.", r".layers.\1.norm\2."),
    (r"^image_encoder\.layers\.", "image_encoder.blocks."),
    (r"\.patch_embed\.projection\.", ".patch_embed.proj."),
    (r"\.neck\.conv1\.", ".neck.0."),
    (r"\.neck\.layer_norm1\.", ".neck.1."),
    (r"\.neck\.conv2\.", ".neck.2."),
    (r"\.neck\.layer_norm2\.", ".neck.3."),
    (r"\.shared_embedding\.positional_embedding$", ".pe_layer.positional_encoding_gaussian_matrix"),
    (r"\.point_embed\.", ".point_embeddings."),
    (r"\.mask_embed\.conv1\.", ".mask_downscaling.0."),
    (r"\.mask_embed\.layer_norm1\.", ".mask_downscaling.1."),
    (r"\.mask_embed\.conv2\.", ".mask_downscaling.3."),
    (r"\.mask_embed\.layer_norm2\.", ".mask_downscaling.4."),
    (r"\.mask_embed\.conv3\.", ".mask_downscaling.6."),
    (r"\.upscale_conv1\.", ".output_upscaling.0."),
    (r"\.upscale_layer_norm\.", ".output_upscaling.1."),
    (r"\.upscale_conv2\.", ".output_upscaling.3."),
    (r"\.layers\.0\.(weight|bias)$", r".layers.1.\1"),
    (r"\.proj_in\.", ".layers.0."),
    (r"\.proj_out\.", ".layers.2."),
    (r"\.layer_norm(\d|_final_attn)\.", r".norm\1."),
)


def to_segment_anything(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers `SamModel` state dict in segment-anything's layout (one copy of the Fourier features)."""
    converted = {}
    for key, value in hf_state.items():
        if key == "shared_image_embedding.positional_embedding":
            continue
        new_key = key
        for pattern, replacement in _TO_SEGMENT_ANYTHING:
            if pattern.startswith(r"\.layers\.0\.") and not re.search(r"(iou_prediction_head|hypernetworks_mlps)", key):
                continue
            new_key = re.sub(pattern, replacement, new_key)
        converted[new_key] = value.clone()
    return converted


def random_adapters(sam: SamModel, text_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Non-zero adapters of the authors' form for every block of `sam`, in their checkpoint's names."""
    generator = torch.Generator().manual_seed(seed)
    width = sam.config.vision_config.hidden_size
    bottleneck = int(width * 0.25)
    shapes = {
        "MLP_Adapter.D_fc1": (bottleneck, width),
        "MLP_Adapter.D_fc2": (width, bottleneck),
        "MLP_Adapter.text_projection": (width, text_dim),
        "Space_Adapter.D_fc1": (bottleneck, width),
        "Space_Adapter.D_fc2": (width, bottleneck),
    }
    adapters = {}
    for block in range(sam.config.vision_config.num_hidden_layers):
        for name, (rows, columns) in shapes.items():
            key = f"image_encoder.blocks.{block}.{name}"
            adapters[f"{key}.weight"] = torch.randn(rows, columns, generator=generator) * 0.3
            adapters[f"{key}.bias"] = torch.randn(rows, generator=generator) * 0.1
    return adapters
