"""The benchmark report reads the committed results: `run_benchmarks.py --report` prints the tables of the docs."""

import copy
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = json.loads((BENCHMARKS / "results_cpu_2core.json").read_text())


@pytest.fixture(scope="module")
def run_benchmarks():
    sys.path.insert(0, str(BENCHMARKS))  # as when the script runs: its folder is on the path
    try:
        import run_benchmarks

        yield run_benchmarks
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_report_of_the_committed_results_has_every_section_and_known_rows(run_benchmarks):
    report = run_benchmarks.markdown_report(RESULTS)
    assert report.startswith("Machine: AMD EPYC, 2 cores, torch 2.13.0+cpu (torch.set_num_threads(1))")
    for size in RESULTS["sizes"]:
        assert f"\n## {size}\n" in report
    assert report.count("\n### ") == sum(len(sections) for sections in RESULTS["sizes"].values())
    for row in (
        "| SAM-PTx, Parallel-Text r=32 | 16.06 s | 15.81 s | 0.964, 1.002 | 0.941, 0.927 | 796,032 |",
        "| parallel_text | yes | 59.90 s | 62.93 s | 3,452 MiB |",
        "| once per sample | 35.23 s | 35.2 ms | 196.0 |",
        "| adapters in blocks [10, 11] only, one forward of batch 4 (shared trunk) | 25.45 s | 6,362.1 ms | 24.68 s "
        "| 0.450, 0.438 |",
        "| last 2 (2 blocks) | 14.67 s (1.00×) | 23.24 s (0.40×) | 57.51 s (0.25×) |",
        "| every block | 0.995 | 7 | 0.734–1.044 |",
    ):
        assert f"\n{row}\n" in report


def test_multiclass_reports_the_single_class_ratio_only_where_it_was_measured(run_benchmarks):
    # Results written before the overhead section took over the single-class measurement keep it in multiclass.
    results = {"sizes": {"tiny": copy.deepcopy(RESULTS["sizes"]["tiny"])}}
    older = run_benchmarks.markdown_report(results)
    assert "against `SamModel`: 1.107× (median of 21 interleaved pairs, 1.020–1.162)." in older
    del results["sizes"]["tiny"]["multiclass"]["single_class_ratio_to_sam"]
    newer = run_benchmarks.markdown_report(results)
    assert "(largest logit difference 6.4e-12, score 2.7e-11).\n" in newer
    assert "1.107×" not in newer
