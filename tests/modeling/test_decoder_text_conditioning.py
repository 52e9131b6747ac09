"""The `mask_decoder` ablation: the text is added to the decoder's output tokens, only while its context is open."""

import torch
from factories import make_model

from samptx_hf.modeling.decoder_text_conditioning import decoder_text_conditioning, install_output_token_conditioning


def _decoder_inputs(sam, batch_size=2):
    generator = torch.Generator().manual_seed(0)
    config = sam.config
    channels = config.mask_decoder_config.hidden_size
    size = config.vision_config.image_size // config.vision_config.patch_size
    sparse = torch.randn(batch_size, 1, 2, channels, generator=generator)
    return {
        "image_embeddings": torch.randn(batch_size, channels, size, size, generator=generator),
        "image_positional_embeddings": sam.get_image_wide_positional_embeddings().repeat(batch_size, 1, 1, 1),
        "sparse_prompt_embeddings": sparse,
        "dense_prompt_embeddings": torch.randn(batch_size, channels, size, size, generator=generator),
        "multimask_output": False,
    }


def _seen_point_embeddings(decoder, inputs):
    seen = []
    handle = decoder.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["point_embeddings"].clone()), with_kwargs=True
    )
    try:
        with torch.no_grad():
            masks, _ = decoder(**inputs)[:2]
    finally:
        handle.remove()
    return seen[0], masks


def test_text_is_added_to_the_output_tokens_only_inside_the_context():
    sam = make_model().sam.eval()
    decoder, inputs = sam.mask_decoder, _decoder_inputs(sam)
    plain_tokens, plain_masks = _seen_point_embeddings(decoder, inputs)
    handle = install_output_token_conditioning(decoder)  # registered first, so it runs before the recording hook
    num_output_tokens = 1 + decoder.num_mask_tokens
    text = torch.randn(2, plain_tokens.shape[-1])
    with decoder_text_conditioning(text):
        tokens, masks = _seen_point_embeddings(decoder, inputs)
    expected = plain_tokens.clone()
    expected[:, :, :num_output_tokens] += text[:, None, None, :]
    torch.testing.assert_close(tokens, expected)  # output tokens shifted, prompt tokens untouched
    assert not torch.allclose(masks, plain_masks)
    # Outside the context, and with None, the decoder is SAM's own again.
    for context_text in (None, "outside"):
        if context_text is None:
            with decoder_text_conditioning(None):
                tokens, masks = _seen_point_embeddings(decoder, inputs)
        else:
            tokens, masks = _seen_point_embeddings(decoder, inputs)
        torch.testing.assert_close(tokens, plain_tokens)
        torch.testing.assert_close(masks, plain_masks)
    handle.remove()


def test_the_context_is_reset_after_an_exception():
    sam = make_model().sam.eval()
    install_output_token_conditioning(sam.mask_decoder)
    inputs = _decoder_inputs(sam)
    plain_tokens, _ = _seen_point_embeddings(sam.mask_decoder, inputs)
    try:
        with decoder_text_conditioning(torch.ones(2, plain_tokens.shape[-1])):
            raise RuntimeError("a failed forward")
    except RuntimeError:
        pass
    tokens, _ = _seen_point_embeddings(sam.mask_decoder, inputs)
    torch.testing.assert_close(tokens, plain_tokens)
