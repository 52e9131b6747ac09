"""The engine every front-end runs on: the trunk once per image, class features once per (image, class)."""

import torch
from factories import make_trained_looking_model
from PIL import Image

from samptx_hf import SamPtxProcessor
from samptx_hf.inference.engine import SegmentationEngine


def test_class_features_are_computed_once_per_image_and_class_and_equal_the_model_s():
    model = make_trained_looking_model()
    processor = SamPtxProcessor.from_model(model)
    engine = SegmentationEngine(model, processor)
    trunk, (original_size,), (reshaped_size,) = engine.encode_images([Image.new("RGB", (64, 48), (90, 60, 30))])
    names = ["dog", "cat", "dog"]
    prompts = processor.encode_prompts(original_size, reshaped_size, names)
    keys = [("image", name) for name in names]
    with torch.no_grad():
        features = engine.trunk_features(trunk, keys, prompts["input_ids"], prompts["attention_mask"])
        again = engine.trunk_features(trunk, keys[:2], prompts["input_ids"][:2], prompts["attention_mask"][:2])
        direct = model.get_image_embeddings(
            image_trunk=trunk, input_ids=prompts["input_ids"], attention_mask=prompts["attention_mask"]
        )
    cache = engine.class_features
    assert (cache.misses, cache.hits, len(cache)) == (2, 3, 2)
    torch.testing.assert_close(features.image_embeddings, direct.image_embeddings)
    torch.testing.assert_close(again.image_embeddings, direct.image_embeddings[:2])
