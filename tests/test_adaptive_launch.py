"""`repro launch --adaptive --backend local` end to end on a smoke copy with two configurations (issue 24):
round 1 runs the planned seed, later rounds raise params.yaml `seeds:`, add DVC stages for the extra seeds,
record them in dvc.lock and tag their MLflow runs with the round; it stops within the budget and --max-seeds."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.planfile import read_plan, seconds_per_run
from pipeline.sync import MARKER
from tests._launch import mlflow_runs, repro, smoke_project
from tests.conftest import ROOT

pytestmark = [pytest.mark.launch]
CONFIGS = ("columbia-a56-c10-mixed-arl", "columbia-a56-c10-mixed-nal")  # one claim: ARL beats NAL


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory):
    project = smoke_project(tmp_path_factory.mktemp("adaptive") / "project", CONFIGS)
    per_run = seconds_per_run(read_plan(ROOT / "benchmarks" / "plan-cpu.json"))
    budget = 5 * max(per_run[c] for c in CONFIGS) / 3600  # round 1 (2 runs), then at most 3 more
    out = repro(project, "launch", "--adaptive", "--budget", f"{budget:.1f}", "--max-seeds", "3", timeout=900)
    print("\n".join(line for line in out.stderr.splitlines() if line.startswith(("adaptive", "round "))), flush=True)
    return project, out, budget


def test_rounds_add_seeds_with_dvc_stages_within_budget_and_max_seeds(adaptive):
    project, out, budget = adaptive
    lines = [line for line in out.stderr.splitlines() if line.startswith("round ")]
    assert lines[0].startswith("round 1: ") and "next " in lines[0] and " s1: decides " in lines[0], out.stderr
    assert "stopped:" in lines[-1], out.stderr
    state = json.loads((project / ".repro" / "adaptive.json").read_text())
    head, _, block = (project / "params.yaml").read_text().partition(MARKER)
    seeds = yaml.safe_load(head)["seeds"]
    runs = yaml.safe_load(block)["runs"]
    assert all(2 <= seeds[c] <= 3 for c in CONFIGS), seeds
    lock = (project / "dvc.lock").read_text()
    for c in CONFIGS:
        for s in range(seeds[c]):
            assert f"{c}-s{s}" in runs and f"train@{c}-s{s}" in lock and f"evaluate@{c}-s{s}" in lock
    assert state["rounds"][-1]["spent"] <= budget
    assert sorted(map(tuple, state["started"])) == sorted((c, s) for c in CONFIGS for s in range(seeds[c]))


def test_extra_seeds_are_tagged_with_their_round_and_status_shows_the_rounds(adaptive):
    project, _, _ = adaptive
    runs = mlflow_runs(project)
    (first,) = runs[f"train@{CONFIGS[0]}-s0"]
    (extra,) = runs[f"train@{CONFIGS[0]}-s1"]
    assert first.data.tags["adaptive_round"] == "1" and extra.data.tags["adaptive_round"] == "2"
    status = repro(project, "status")
    assert "adaptive round 1: " in status.stdout and "h spent" in status.stdout, status.stdout
    assert "adaptive verdicts: " in status.stdout and "(sequential, look " in status.stdout, status.stdout


def test_a_second_adaptive_launch_repeats_no_run(adaptive):
    project, _, budget = adaptive
    before = json.loads((project / ".repro" / "adaptive.json").read_text())["started"]
    again = repro(project, "launch", "--adaptive", "--budget", f"{budget:.1f}", "--max-seeds", "3", timeout=600)
    assert "submitted" not in again.stderr, again.stderr
    assert json.loads((project / ".repro" / "adaptive.json").read_text())["started"] == before


def test_bad_adaptive_input_is_one_line(adaptive):
    project, _, _ = adaptive
    out = repro(project, "launch", "--budget", "3", check=False)
    assert out.returncode == 2 and "--adaptive and --budget go together" in out.stderr
    out = repro(project, "launch", "--adaptive", "--budget", "-1", check=False)
    assert out.returncode == 2 and "--budget -1" in out.stderr and len(out.stderr.strip().splitlines()) == 1
