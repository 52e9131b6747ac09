import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from samptx_hf.data import SyntheticShapesConfig, interior_point, make_synthetic_dataset
from samptx_hf.evaluation import evaluate_model
from samptx_hf.inference import segment

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
