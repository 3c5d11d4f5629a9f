"""Rendering: numbers in the tables equal those in the metrics files; partial results never crash."""

import json

import pytest

from pipeline.catalog import load_source
from pipeline.tables import Cell, render_all
from tests.test_catalog import GOOD


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD)
    return load_source(path)


def write_eval(runs, config, seed, error):
    d = runs / f"{config}-s{seed}"
    d.mkdir(parents=True)
    (d / "eval.json").write_text(json.dumps({"top1_error": error}))
    (d / "train.json").write_text(json.dumps({"device_name": "Test GPU"}))


def test_rendered_numbers_equal_the_metrics(source, tmp_path):
    runs = tmp_path / "runs"
    for seed, err in enumerate([5.0, 5.2, 5.4]):
        write_eval(runs, "demo-a", seed, err)
    out = tmp_path / "tables"
    render_all({"demo": source}, runs, out, {"demo-a": [0, 1, 2]}, {"profile": "full", "commit": "abc"})
    md = (out / "demo-t1.md").read_text()
    assert "5 / 5.20 ± 0.20 (Δ +0.20, n=3)" in md
    assert "Test GPU" in md and "abc" in md and "SMOKE" not in md
    row = (out / "demo-t1.csv").read_text().splitlines()[1].split(",")
    assert row[:6] == ["t1", "A", "C", "5.0", "5.2", "0.2"]
    assert "reproduced" in (out / "README.md").read_text()


def test_missing_results_render_as_not_run(source, tmp_path):
    out = tmp_path / "tables"
    render_all({"demo": source}, tmp_path / "runs", out, {"demo-a": [0]}, {"profile": "full", "commit": "abc"})
    assert "5 / not run" in (out / "demo-t1.md").read_text()


def test_smoke_tables_say_they_are_not_a_reproduction(source, tmp_path):
    write_eval(tmp_path / "runs", "demo-a", 0, 90.0)
    out = tmp_path / "tables"
    render_all({"demo": source}, tmp_path / "runs", out, {"demo-a": [0]}, {"profile": "smoke", "commit": "abc"})
    md = (out / "demo-t1.md").read_text()
    assert md.startswith("# SMOKE TEST, NOT A REPRODUCTION")
    assert "smoke only" in md


def test_verdicts():
    assert Cell(5.0, [], "m", "full").verdict == "not run"
    assert Cell(5.0, [5.1, 5.3, 4.9], "m", "full").verdict == "reproduced"
    assert Cell(5.0, [7.0, 7.1, 6.9], "m", "full").verdict == "not reproduced"
    assert Cell(5.0, [5.3], "m", "full").verdict == "reproduced"  # within the 0.5-point tolerance
    assert Cell(5.0, [5.3], "m", "smoke").verdict == "smoke only"
