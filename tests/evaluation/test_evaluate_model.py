import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from samptx_hf.data import SyntheticShapesConfig, interior_point, make_synthetic_dataset
from samptx_hf.evaluation.evaluate_model import evaluate_model
from samptx_hf.inference.segment import segment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic_dataset(6, seed=3, config=SyntheticShapesConfig(image_size=48, num_objects=2))


def test_results_agree_with_segmenting_each_sample_at_its_interior_point(peft_model, dataset):
    results = evaluate_model(peft_model, dataset, batch_size=4, dataset_name="synthetic")
    intersections, unions = {}, {}
    for row in dataset:
        reference = np.asarray(row["mask"]) > 0
        x, y = interior_point(reference).tolist()
        mask = segment(peft_model, row["image"], row["class_name"], points=[(x, y)]).mask
        name = row["class_name"]
        intersections[name] = intersections.get(name, 0) + (mask & reference).sum()
        unions[name] = unions.get(name, 0) + (mask | reference).sum()
    expected = {name: intersections[name] / unions[name] for name in sorted(unions)}
    assert results["dataset"] == "synthetic" and results["num_samples"] == 6
    assert {name: values["iou"] for name, values in results["per_class"].items()} == pytest.approx(expected, abs=1e-3)
    assert results["metrics"]["mean_iou"] == pytest.approx(np.mean(list(expected.values())), abs=1e-3)
    counts = {name: dataset["class_name"].count(name) for name in expected}
    assert {name: values["num_samples"] for name, values in results["per_class"].items()} == counts


def test_each_class_is_encoded_once(peft_model, dataset, monkeypatch):
    base = peft_model.get_base_model()
    calls = []
    encode_text = base.encode_text
    monkeypatch.setattr(base, "encode_text", lambda names: calls.append(list(names)) or encode_text(names))
    evaluate_model(peft_model, dataset, batch_size=2)
    assert calls == [sorted(set(dataset["class_name"]))]


def test_writes_json_and_markdown_tables_and_adds_cod_metrics(peft_model, dataset, tmp_path):
    results = evaluate_model(peft_model, dataset, metrics=["mean_iou", "cod"], output_dir=tmp_path / "eval")
    assert json.loads((tmp_path / "eval" / "eval_results.json").read_text()) == results
    assert {"s_measure", "e_measure_mean", "weighted_f_measure", "mae", "mean_iou"} <= set(results["metrics"])
    table = (tmp_path / "eval" / "eval_results.md").read_text()
    assert f"| mean_iou | {results['metrics']['mean_iou']:.4f} |" in table
    for name, values in results["per_class"].items():
        assert f"| {name} | {values['iou']:.4f} | {values['num_samples']} |" in table


def test_rejects_datasets_it_cannot_evaluate(peft_model, dataset):
    with pytest.raises(ValueError, match=r"lacks the columns \['class_name'\]"):
        evaluate_model(peft_model, dataset.remove_columns("class_name"))
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluate_model(peft_model, dataset.select([]))
    with pytest.raises(ValueError, match="unknown metric 'dice'"):
        evaluate_model(peft_model, dataset, metrics=["dice"])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (lambda notes: {"output_dir": notes}, ValueError, r"output_dir '.*notes.txt' is a file, expected a folder"),
        (lambda notes: {"output_dir": notes / "eval"}, ValueError, r"'.*eval' lies under the file '.*notes.txt'"),
        (lambda notes: {"threshold": float("nan")}, ValueError, "threshold is NaN"),
        (lambda notes: {"threshold": "0"}, TypeError, "threshold='0' is a str, expected a real number"),
    ],
)
def test_bad_options_are_refused_before_any_sample_is_segmented(
    peft_model, dataset, tmp_path, monkeypatch, options, error, message
):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    base = peft_model.get_base_model()
    monkeypatch.setattr(base, "encode_text", lambda names: pytest.fail("encoded text before refusing the options"))
    with pytest.raises(error, match=message):
        evaluate_model(peft_model, dataset, **options(notes))
    assert notes.read_text() == "mine"


def test_example_script_evaluates_an_adapter_folder(peft_model, tmp_path):
    from samptx_hf.hub import save_adapter_repo

    save_adapter_repo(peft_model, tmp_path / "adapter")
    spec = importlib.util.spec_from_file_location("evaluate_example", EXAMPLES / "evaluate_model.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main([str(tmp_path / "adapter"), "--num_samples", "2", "--output_dir", str(tmp_path / "eval")])
    assert results["num_samples"] == 2 and (tmp_path / "eval" / "eval_results.json").exists()


# ------------------------------------------------------------------ issue 23: text-only prompts and presence answers

VOCABULARY_SEED = 0


def presence_model(bias: float | None = None, present_names=()):
    """A tiny SAM-PTx with a presence head whose answer is fixed: `bias` (+10 present, -10 absent) for every prompt, or
    without `bias` present exactly for the class names in `present_names` (read back from the output's text
    embedding, so that `segment` and `evaluate_model` get the same answers)."""
    import torch
    from factories import make_model

    model = make_model(presence_head=True).eval()
    if bias is not None:
        with torch.no_grad():
            model.presence_head.presence_mlp.proj_out.weight.zero_()
            model.presence_head.presence_mlp.proj_out.bias.fill_(bias)
        return model
    names = sorted(present_names)
    with torch.no_grad():
        directions = torch.nn.functional.normalize(model.encode_text(names), dim=-1)  # (names, text_dim)

    def answer_by_name(module, args, kwargs, output):
        similarity = torch.nn.functional.normalize(output.text_embeds, dim=-1) @ directions.T  # (batch, names)
        named = similarity.max(dim=-1).values > 1 - 1e-4
        output.presence_logits = torch.where(named, 10.0, -10.0)[:, None, None].expand(
            -1, output.pred_masks.shape[1], 1
        )
        return output

    model.register_forward_hook(answer_by_name, with_kwargs=True)
    return model


def collated_pairs(model, dataset, **collator_kwargs):
    """(class name prompted, present) of every row, as the evaluation's collator chooses them."""
    from samptx_hf.data import SamPtxDataCollator, image_processor_for_sam_config

    collator = SamPtxDataCollator(
        image_processor_for_sam_config(model.config.sam_config), train=False, seed=0, **collator_kwargs
    )
    batch = collator([dataset[index] for index in range(len(dataset))])
    return list(zip(batch["class_names"], (batch["presence_labels"] > 0.5).tolist(), strict=True))


def vocabulary(dataset):
    return sorted(set(dataset["class_name"]) | {name for names in dataset["present_classes"] for name in names})


def test_point_prompts_without_a_presence_head_keep_todays_results(peft_model, dataset):
    results = evaluate_model(peft_model, dataset, batch_size=4)
    assert results["prompt_mode"] == "point"
    assert (results["num_present_pairs"], results["num_absent_pairs"]) == (len(dataset), 0)
    assert set(results["metrics"]) == {"mean_iou", "mean_sample_iou"}  # no presence answer, no semantic pass


def test_always_present_answers_score_the_present_share_as_precision_and_mcc_zero(dataset):
    model = presence_model(bias=10.0)
    options = {"prompt_mode": "text", "absent_class_fraction": 0.5, "class_names": vocabulary(dataset)}
    pairs = collated_pairs(model, dataset, **options)
    present = sum(is_present for _, is_present in pairs)
    absent = len(pairs) - present
    assert present and absent  # the seed gives both kinds
    results = evaluate_model(model, dataset, batch_size=4, semantic=False, **options)
    assert (results["num_present_pairs"], results["num_absent_pairs"]) == (present, absent)
    assert results["presence_counts"] == {"tp": present, "fp": absent, "fn": 0, "tn": 0}
    metrics = results["metrics"]
    assert metrics["presence_precision"] == pytest.approx(present / (present + absent))
    assert metrics["presence_recall"] == 1.0
    assert metrics["presence_f1"] == pytest.approx(2 * present / (2 * present + absent))
    assert metrics["presence_mcc"] == 0.0  # no absent answer: MCC's denominator is 0
    assert sum(values["num_samples"] for values in results["per_class"].values()) == present


def test_absent_answers_empty_every_mask(dataset):
    model = presence_model(bias=-10.0)
    results = evaluate_model(model, dataset, batch_size=4, prompt_mode="text", absent_class_fraction=0.5)
    metrics = results["metrics"]
    assert metrics["mean_iou"] == 0.0  # every present target is non-empty, every answer empty
    assert metrics["semantic_mean_iou"] == 0.0
    assert metrics["presence_precision"] == metrics["presence_recall"] == metrics["presence_mcc"] == 0.0


def test_presence_metrics_and_present_pair_miou_agree_with_text_only_segment(dataset, tmp_path):
    from samptx_hf.data import SYNTHETIC_SHAPES

    model = presence_model(present_names=SYNTHETIC_SHAPES)  # says "present" for shapes, "absent" for textures
    options = {"prompt_mode": "text", "absent_class_fraction": 0.5, "class_names": vocabulary(dataset)}
    results = evaluate_model(model, dataset, batch_size=4, semantic=False, output_dir=tmp_path, **options)

    tp = fp = fn = tn = 0
    intersections, unions = {}, {}
    for row, (name, present) in zip(dataset, collated_pairs(model, dataset, **options), strict=True):
        answer = name in SYNTHETIC_SHAPES
        tp, fp, fn, tn = (
            tp + (answer and present),
            fp + (answer and not present),
            fn + (not answer and present),
            tn + (not answer and not present),
        )
        if present:  # a present row keeps its own class; text-only, its target is its mask
            reference = np.asarray(row["mask"]) > 0
            mask = segment(model, row["image"], name).mask  # no point: the class name alone
            intersections[name] = intersections.get(name, 0) + (mask & reference).sum()
            unions[name] = unions.get(name, 0) + (mask | reference).sum()
    assert results["presence_counts"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert fp + tn > 0 and tp + fn > 0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    mcc = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    expected = {name: intersections[name] / unions[name] if unions[name] else 1.0 for name in unions}
    metrics = results["metrics"]
    assert metrics["presence_precision"] == pytest.approx(precision)
    assert metrics["presence_recall"] == pytest.approx(recall)
    assert metrics["presence_f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert metrics["presence_mcc"] == pytest.approx(mcc)
    assert metrics["mean_iou"] == pytest.approx(np.mean(list(expected.values())), abs=1e-3)

    assert json.loads((tmp_path / "eval_results.json").read_text()) == results
    table = (tmp_path / "eval_results.md").read_text()
    assert "Prompts: class name alone (text-only)" in table
    assert f"{results['num_present_pairs']} present and {results['num_absent_pairs']} absent" in table
    for name in ("mean_iou", "presence_precision", "presence_recall", "presence_f1", "presence_mcc"):
        assert f"| {name} | {metrics[name]:.4f} |" in table


def test_semantic_miou_agrees_with_segmenting_every_class_of_the_vocabulary_in_every_image(dataset):
    from samptx_hf.data import SYNTHETIC_SHAPES
    from samptx_hf.evaluation.evaluate_model import semantic_evaluation

    model = presence_model(present_names=SYNTHETIC_SHAPES)  # paints shapes wherever asked: false positives
    names = vocabulary(dataset)
    intersections, unions, skipped, pairs = dict.fromkeys(names, 0), dict.fromkeys(names, 0), 0, 0
    for row in dataset:  # one row per image: its class's union is known, its other present classes are not
        for name in names:
            if name in row["present_classes"] and name != row["class_name"]:
                skipped += 1
                continue
            reference = np.asarray(row["mask"]) > 0 if name == row["class_name"] else np.zeros_like(row["mask"], bool)
            mask = segment(model, row["image"], name).mask
            intersections[name] += (mask & reference).sum()
            unions[name] += (mask | reference).sum()
            pairs += 1
    expected = {name: intersections[name] / unions[name] for name in names if unions[name] > 0}

    results = semantic_evaluation(model, dataset, names, batch_size=5)
    assert (results["num_pairs"], results["num_skipped_pairs"]) == (pairs, skipped)
    assert results["per_class_iou"] == pytest.approx(expected, abs=1e-3)
    assert results["semantic_mean_iou"] == pytest.approx(np.mean(list(expected.values())), abs=1e-3)
    evaluated = evaluate_model(model, dataset, batch_size=5, prompt_mode="text")
    assert evaluated["metrics"]["semantic_mean_iou"] == pytest.approx(results["semantic_mean_iou"])
    assert evaluated["semantic_per_class"] == pytest.approx(results["per_class_iou"])


def test_semantic_references_are_the_union_of_an_images_rows():
    import datasets
    from PIL import Image

    from samptx_hf.evaluation.evaluate_model import semantic_evaluation

    image = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    left, right = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    left[:, :4], right[:, 4:] = 255, 255
    left, right = Image.fromarray(left), Image.fromarray(right)
    rows = datasets.Dataset.from_dict(
        {
            "image": [image, image],
            "mask": [left, right],
            "class_name": ["cat", "cat"],
            "image_id": ["a", "a"],
            "present_classes": [["cat", "dog"], ["cat", "dog"]],
        }  # fmt: skip
    )
    model = presence_model(bias=10.0)
    calls = []
    hook = model.register_forward_hook(lambda module, args, output: calls.append(output.pred_masks.shape[0]))
    results = semantic_evaluation(model, rows, ["cat", "dog", "bird"])
    hook.remove()
    # One image: cat (union of both rows), bird (absent, empty); dog is present but no row gives its union.
    assert (results["num_pairs"], results["num_skipped_pairs"]) == (2, 1) and sum(calls) == 2
    cat = segment(model, image, "cat").mask
    assert results["per_class_iou"]["cat"] == pytest.approx(cat.sum() / 64, abs=1e-3)  # the reference is everything


def test_the_built_in_task_gives_every_present_class_its_reference():
    from samptx_hf.data import PARTS_CLASS_NAMES, generate_parts_sample, make_parts_dataset
    from samptx_hf.evaluation.evaluate_model import semantic_evaluation

    parts = make_parts_dataset(2, seed=5)
    model = presence_model(bias=10.0)
    results = semantic_evaluation(model, parts, PARTS_CLASS_NAMES, batch_size=6)
    assert (results["num_pairs"], results["num_skipped_pairs"]) == (2 * len(PARTS_CLASS_NAMES), 0)
    intersections, unions = dict.fromkeys(PARTS_CLASS_NAMES, 0), dict.fromkeys(PARTS_CLASS_NAMES, 0)
    for index, row in enumerate(parts):
        sample = generate_parts_sample(index, seed=5)
        for name in PARTS_CLASS_NAMES:
            reference = sample.class_mask(name)  # empty for an absent colour
            mask = segment(model, row["image"], name).mask
            intersections[name] += (mask & reference).sum()
            unions[name] += (mask | reference).sum()
    expected = {name: intersections[name] / unions[name] for name in PARTS_CLASS_NAMES if unions[name] > 0}
    assert results["per_class_iou"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt_mode": "box"}, r"prompt_mode='box', expected one of \('point', 'text', 'mixed'\)"),
        ({"prompt_mode": "paired"}, r"prompt_mode='paired', expected one of \('point', 'text', 'mixed'\)"),
        ({"absent_class_fraction": 1.0}, r"absent_class_fraction=1.0, expected a fraction in \[0, 1\)"),
        ({"absent_class_fraction": -0.1}, r"absent_class_fraction=-0.1, expected a fraction in \[0, 1\)"),
        ({"absent_class_fraction": float("nan")}, r"absent_class_fraction=nan, expected a fraction in \[0, 1\)"),
        ({"absent_class_fraction": True}, r"absent_class_fraction=True, expected a fraction"),
        ({"class_names": "circle"}, r"class_names='circle', expected a non-empty sequence of class names"),
        ({"class_names": ["circle", ""]}, r"class_names=\('circle', ''\)|class_names=\['circle', ''\], expected"),
    ],
)
def test_prompt_options_are_refused_before_any_sample_is_segmented(peft_model, dataset, monkeypatch, options, message):
    base = peft_model.get_base_model()
    monkeypatch.setattr(base, "encode_text", lambda names: pytest.fail("encoded text before refusing the options"))
    with pytest.raises(ValueError, match=message):
        evaluate_model(peft_model, dataset, **options)


def test_absent_classes_need_the_classes_of_each_image(peft_model, dataset):
    with pytest.raises(ValueError, match="absent_class_fraction=0.3 needs a present_classes column"):
        evaluate_model(peft_model, dataset.remove_columns("present_classes"), absent_class_fraction=0.3)
