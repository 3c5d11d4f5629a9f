"""Rendering: numbers in the tables equal those in the metrics files; partial results never crash."""

import json

import pytest

from pipeline.catalog import Claim
from pipeline.report.claim_kinds import ClaimResult
from pipeline.report.results import Results
from pipeline.report.tables import render_all
from tests._catalog import load_demo
from tests.test_catalog import GOOD


@pytest.fixture
def source(tmp_path):
    return load_demo(tmp_path, GOOD)


def write_eval(runs, config, seed, error):
    d = runs / f"{config}-s{seed}"
    d.mkdir(parents=True)
    (d / "eval.json").write_text(json.dumps({"top1_error": error, "top1_acc": 100 - error}))
    (d / "train.json").write_text(json.dumps({"device_name": "Test GPU", "device": "cuda", "train_seconds": 1800}))


def test_rendered_numbers_equal_the_metrics(source, tmp_path):
    runs = tmp_path / "runs"
    for seed, err in enumerate([5.0, 5.2, 5.4]):
        write_eval(runs, "demo-a", seed, err)
    out = tmp_path / "tables"
    render_all({"demo": source}, Results(runs, {"demo-a": [0, 1, 2]}), out, {"profile": "full", "commit": "abc"})
    md = (out / "demo-t1.md").read_text()
    assert "5.0 / 5.20 ± 0.20 (Δ +0.20, n=3): " in md  # the reported value as the catalog wrote it
    assert "Test GPU" in md and "abc" in md and "SMOKE" not in md
    row = (out / "demo-t1.csv").read_text().splitlines()[1].split(",")
    assert row[:10] == ["t1", "A", "C", "compared", "5.0", "5.0", "%", "5.2", "0.2", "3"]
    readme = (out / "README.md").read_text()
    assert "inconclusive" in readme and "1.50 GPU-hours" in readme


def test_missing_results_render_as_not_run(source, tmp_path):
    out = tmp_path / "tables"
    render_all({"demo": source}, Results(tmp_path / "runs", {"demo-a": [0]}), out, {"profile": "full", "commit": "abc"})
    assert "5.0 / not run" in (out / "demo-t1.md").read_text()


def test_smoke_tables_say_they_are_not_a_reproduction(source, tmp_path):
    write_eval(tmp_path / "runs", "demo-a", 0, 90.0)
    out = tmp_path / "tables"
    render_all(
        {"demo": source}, Results(tmp_path / "runs", {"demo-a": [0]}), out, {"profile": "smoke", "commit": "abc"}
    )
    md = (out / "demo-t1.md").read_text()
    assert md.startswith("# SMOKE TEST, NOT A REPRODUCTION")
    assert "smoke only" in md


def test_cited_cells_show_the_printed_value(tmp_path):
    source = load_demo(
        tmp_path,
        GOOD.replace(
            "t1: {caption: T, rows: [A], columns: [C]}",
            "t1: {caption: T, rows: [A, W], columns: [C], cited: {W: {C: 4.81}}}",
        ),
    )
    out = tmp_path / "tables"
    render_all({"demo": source}, Results(tmp_path / "runs", {}), out, {"profile": "full", "commit": "abc"})
    assert "| W | 4.81 (cited, not reproduced here) |" in (out / "demo-t1.md").read_text()


def claim(better=(5.0,), worse=(5.0,), profile="full", higher=False, effect=None):
    c = Claim(text="A beats B", better="a", worse="b", metric="top1_error", higher_is_better=higher)
    return ClaimResult(c, list(better), list(worse), profile, effect)


def test_claim_verdicts_on_clear_cases():
    assert claim([5.0, 5.1, 4.9], [5.0, 5.1, 4.9]).verdict == "inconclusive"
    assert claim([5.0, 5.1, 4.9], [7.0, 7.1, 6.9]).verdict == "supported"  # lower error wins
    assert claim([7.0, 7.1, 6.9], [5.0, 5.1, 4.9]).verdict == "contradicted"
    assert claim([5.0], [7.0]).verdict == "inconclusive"  # single runs and no pooled sd: no test
    assert claim([], [7.0]).verdict == "not run"
    assert claim([5.0, 5.1], [7.0, 7.1], profile="smoke").verdict == "smoke only"
    sentence = claim([5.0, 5.1, 4.9], [7.0, 7.1, 6.9]).sentence()
    assert "supported" in sentence and "n=3" in sentence and "Welch" in sentence
    assert "difference +2.00 in the claim's direction, 95% CI [" in sentence
    assert "Hedges' g" in sentence and "observed effect" in sentence


def test_claim_power_uses_the_reported_effect_when_the_catalog_has_it():
    observed = claim([5.0, 5.2, 4.8], [5.3, 5.5, 5.1])
    reported = claim([5.0, 5.2, 4.8], [5.3, 5.5, 5.1], effect=0.6)
    assert "the reported effect" in reported.sentence() and "the observed effect" in observed.sentence()
    # twice the effect (0.6 vs 0.3 observed) needs fewer seeds per arm
    assert reported.stats.seeds_for_80_power < observed.stats.seeds_for_80_power


def test_verdicts_follow_the_equivalence_rule(source, tmp_path):
    """The old ±0.5 rule called a close mean "reproduced" on any n; now a close mean of a tight seed set is
    reproduced, a far one differs, and a close single run is never "differs" (inconclusive here)."""
    from pipeline.report.tables import collect

    def verdict(values, profile="full"):
        runs = {"demo-a": [{"top1_error": v} for v in values]}
        return collect(source, runs, profile)[("t1", "A", "C")].verdict

    assert verdict([]) == "not run"
    assert verdict([5.1, 5.2, 4.9, 5.0, 4.95]) == "reproduced"
    assert verdict([7.0, 7.1, 6.9]) == "differs (above)"  # error 2 points above the reported 5.0
    assert verdict([5.3]) == "inconclusive"  # close, but one run with only the binomial floor (z: ±0.36 + 0.3)
    assert verdict([5.3], profile="smoke") == "smoke only"


RULED = """\
configurations:
  demo-a:
    dataset: cifar10
    model: preresnet-164
    reported:
      - {metric: top1_error, value: 5.0, meaning: m, table: t1, row: A, column: C}
  demo-b:
    dataset: cifar10
    model: preresnet-164
    reported:
      - {metric: top1_error, value: 7.0, meaning: m, table: t1, row: B, column: C}
  demo-c:
    dataset: cifar10
    model: preresnet-164
    reported:
      - {metric: top1_error, value: 6.0, meaning: m, table: t1, row: D, column: C}
tables:
  t1: {caption: T, rows: [A, B, D], columns: [C]}
claims:
  - {text: "A beats B", better: demo-a, worse: demo-b, metric: top1_error, higher_is_better: false}
  - {text: "A beats D", better: demo-a, worse: demo-c, metric: top1_error, higher_is_better: false}
"""


def test_every_rendered_verdict_names_its_rule(tmp_path):
    import csv

    from pipeline.report.sequential import rule_label
    from pipeline.report.tables import RENDER_RULE
    from tests._catalog import demo_catalog, load_demo

    source = load_demo(tmp_path, demo_catalog(RULED))
    runs = tmp_path / "runs"
    for config, errors in {"demo-a": [5.0, 5.1, 4.9], "demo-b": [7.0, 7.1, 6.9]}.items():
        for seed, err in enumerate(errors):
            write_eval(runs, config, seed, err)
    out = tmp_path / "tables"
    seeds = {"demo-a": [0, 1, 2], "demo-b": [0, 1, 2], "demo-c": [0]}
    render_all({"demo": source}, Results(runs, seeds), out, {"profile": "full", "commit": "abc"})
    rows = {r["row"]: r for r in csv.DictReader(open(out / "demo-t1.csv"))}
    assert rows["A"]["verdict"] == "reproduced" and rows["A"]["rule"] == "fixed n"
    assert rows["B"]["verdict"] == "reproduced" and rows["B"]["rule"] == "fixed n"
    assert rows["D"]["verdict"] == "not run" and rows["D"]["rule"] == ""  # no test, no rule
    md = (out / "demo-t1.md").read_text()
    assert "- Rule: every verdict here is **fixed n**" in md and "sequential, look k of K" in md
    readme = (out / "README.md").read_text()
    assert "| source | verdict | rule | claim |" in readme
    assert "| demo | supported | fixed n | A beats B" in readme
    assert "| demo | not run | — | A beats D" in readme
    # the render's label is the sequential module's label for a single look; more looks say which
    assert RENDER_RULE == rule_label(3, (3,)) and rule_label(3, (1, 2, 3, 4, 5)) == "sequential, look 3 of 5"
