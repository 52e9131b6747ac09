"""Each distinct class prompt is encoded once per model, however it reaches the model."""

import torch
from factories import make_batch, make_model

from samptx_hf import SamPtxProcessor
from samptx_hf.modeling.text_cache import TextEmbeddingCache


def test_missing_prompts_are_encoded_once_in_one_batch_and_in_order():
    cache, calls = TextEmbeddingCache(), []

    def encode(prompts):
        calls.append(list(prompts))
        return torch.stack([torch.full((3,), float(len(prompt))) for prompt in prompts])

    first = cache.get_or_compute(["ab", "abc", "ab"], encode)
    assert calls == [["ab", "abc"]]  # "ab" once, both in one call
    assert [float(e[0]) for e in first] == [2.0, 3.0, 2.0]
    second = cache.get_or_compute(["abc", "abcd"], encode)
    assert calls[-1] == ["abcd"] and torch.equal(second[0], first[1])
    info = cache.info()
    assert (info.misses, info.hits, info.size) == (3, 2, 3)
    cache.clear()
    assert (cache.info().size, cache.info().hits, cache.info().misses) == (0, 0, 0)


def test_cached_embeddings_carry_no_graph():
    cache = TextEmbeddingCache()
    weight = torch.ones(3, requires_grad=True)
    (embedding,) = cache.get_or_compute(["a"], lambda prompts: weight[None] * 2)
    assert not embedding.requires_grad


def test_the_processor_s_tokens_and_encode_text_share_one_embedding_and_one_cache_entry():
    model = make_model().eval()
    processor = SamPtxProcessor.from_model(model)
    image = (make_batch(1)["pixel_values"][0].permute(1, 2, 0).abs() * 60).to(torch.uint8).numpy()
    inputs = processor(image, ["circle", "striped"], input_points=[[10, 10]])
    with torch.no_grad():
        from_tokens = model(**{k: v for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")})
    assert model.text_cache_info().misses == 2
    from_names = model.encode_text(["striped", "circle"])
    torch.testing.assert_close(from_tokens.text_embeds, from_names.flip(0))
    info = model.text_cache_info()
    assert (info.misses, info.hits, info.size) == (2, 2, 2)  # the names found what the tokens put there


def test_padding_does_not_change_the_prompt():
    model = make_model().eval()
    tokens = model.get_tokenizer()(model.format_prompts(["circle", "a much longer name"]), padding=True)
    short = torch.tensor([tokens["input_ids"][0]]), torch.tensor([tokens["attention_mask"][0]])
    alone = model.get_tokenizer()(model.format_prompts(["circle"]), return_tensors="pt")
    torch.testing.assert_close(
        model._text_embeds_from_tokens(*short), model._text_embeds_from_tokens(alone["input_ids"], None)
    )
    assert model.text_cache_info().size == 1


def test_the_cache_is_bounded_in_bytes_least_recently_used_out():
    cache = TextEmbeddingCache(max_bytes=2 * 3 * 4)  # two float32 embeddings of width 3

    def encode(prompts):
        return torch.ones(len(prompts), 3)

    cache.get_or_compute(["a", "b"], encode)
    cache.get_or_compute(["a", "c"], encode)  # "b" was the least recently used
    assert cache.info().size == 2
    cache.get_or_compute(["a", "c"], encode)
    assert (cache.info().misses, cache.info().hits) == (3, 3)
