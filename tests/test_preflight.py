"""The GPU preflight: the full profile without a CUDA GPU stops before training with the committed
plan's estimate and the ways forward, unless the CPU is allowed; the smoke profile is untouched."""

import json

import pytest
import torch
from typer.testing import CliRunner

from pipeline import execution
from pipeline.bench.preflight import ALLOW_ENV, PLAN_CPU, preflight
from pipeline.cli import app
from pipeline.settings import Project

runner = CliRunner()
CONFIG = "wang2017-resnet164-c10"


def project(tmp_path, train: str = "", profile: str = "full") -> Project:
    (tmp_path / "params.yaml").write_text(f"profile: {profile}\ntrain:\n  device: cpu\n{train}")
    return Project(tmp_path)


def test_full_profile_on_a_cpu_stops_with_the_estimate_and_the_ways_forward(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    project(tmp_path)
    result = runner.invoke(app, ["--root", str(tmp_path), "train", CONFIG, "--seed", "2"])
    assert result.exit_code != 0
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    plan = json.loads(PLAN_CPU.read_text())
    hours = next(r for r in plan["configs"] if r["config"] == CONFIG)["seconds_per_run"] / 3600
    assert line.startswith(
        f"error: no CUDA GPU: {CONFIG} seed 2 in the full profile would train for about {hours:,.0f} h"
    )
    assert f"the whole catalog ({plan['total_runs']} runs) {plan['total_hours']:,.0f} h" in line
    for way in ("`make demo`", "GPU", "`repro launch`", "`train.allow_cpu: true` in params.yaml", f"{ALLOW_ENV}=1",
                "`repro doctor`"):  # fmt: skip
        assert way in line
    assert not (tmp_path / "runs").exists()  # stopped before anything was written


def test_an_unknown_configuration_is_named_before_the_preflight(tmp_path):
    project(tmp_path)
    result = runner.invoke(app, ["--root", str(tmp_path), "train", "wang2017-resnet164-c1O"])
    assert result.exit_code != 0 and "unknown configuration" in result.stderr and "GPU" not in result.stderr


@pytest.mark.parametrize("how", ["params", "env"])
def test_allowing_the_cpu_lets_training_start(tmp_path, monkeypatch, how):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    if how == "env":
        monkeypatch.setenv(ALLOW_ENV, "1")
    p = project(tmp_path, "  allow_cpu: true\n" if how == "params" else "")
    preflight(p, CONFIG)  # passes
    result = runner.invoke(app, ["--root", str(tmp_path), "train", CONFIG])
    assert result.exit_code != 0  # no prepared data in this empty project: training started and stopped there
    assert "no CUDA GPU" not in result.stderr and "data/prepared/cifar10" in result.stderr


def test_the_smoke_profile_and_a_cuda_device_pass(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    preflight(project(tmp_path, profile="smoke"), CONFIG)
    p = project(tmp_path)
    monkeypatch.setattr(execution, "resolve_device", lambda name: torch.device("cuda"))  # as on a GPU machine
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    preflight(p, CONFIG)
