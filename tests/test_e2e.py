"""End to end: the real `dvc repro` of the smoke profile in a copy of the repository (no network)."""

import json
import subprocess
import sys

import pytest

from pipeline.demo import dvc_env, run_demo
from pipeline.settings import load_params
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    dest = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.delenv("REPRO_TRACKING", raising=False)  # this test checks the MLflow runs
    try:
        assert run_demo(ROOT, dest, publish=False) == 0
        yield dest
    finally:
        mp.undo()


@pytest.mark.e2e
def test_every_stage_wrote_its_outputs(demo):
    params = load_params(demo / "params.yaml")
    assert params.profile == "smoke"
    for dataset in params.datasets:
        manifest = json.loads((demo / "data" / "prepared" / dataset / "manifest.json").read_text())
        assert manifest["synthetic"] is True
    for key in params.runs:
        for name in ("model.pt", "history.csv", "train.json", "eval.json"):
            assert (demo / "runs" / key / name).is_file(), f"{key}/{name} missing"
    table = (demo / "paper_tables" / "wang2017-table6.md").read_text()
    assert table.startswith("# SMOKE TEST, NOT A REPRODUCTION")
    row = next(line for line in table.splitlines() if line.startswith("| ResNet-164 |"))
    err = json.loads((demo / "runs" / "wang2017-resnet164-c10-s0" / "eval.json").read_text())["top1_error"]
    assert f"5.46 / {err:.2f}" in row and "smoke only" in row


@pytest.mark.e2e
def test_one_finished_mlflow_run_per_stage_with_tags(demo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{demo / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    by_name = {}
    for r in runs:
        by_name.setdefault(r.info.run_name, []).append(r)
    params = load_params(demo / "params.yaml")
    expected = {"render"} | {f"fetch@{d}" for d in params.datasets}
    expected |= {f"{stage}@{key}" for key in params.runs for stage in ("train", "evaluate")}
    assert expected <= set(by_name)
    for name in expected:
        (run,) = by_name[name]
        assert run.info.status == "FINISHED"
        assert run.data.tags["profile"] == "smoke"
        assert run.data.tags["git.commit"] not in ("", "unknown")
        assert run.data.tags["stage"] == name
    train = by_name["train@wang2017-resnet164-c10-s0"][0]
    assert train.data.tags["config"] == "wang2017-resnet164-c10" and train.data.tags["source"] == "wang2017"
    assert len(train.data.tags["config_hash"]) == 12
    assert "final_test_acc" in train.data.metrics and "lr" in train.data.metrics
    assert "fetch@cifar10" in by_name and by_name["fetch@cifar10"][0].data.tags["dataset.digest"]


@pytest.mark.e2e
def test_a_second_repro_runs_nothing(demo):
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=demo, env=dvc_env(ROOT), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "Running stage" not in out.stdout
    assert "Data and pipelines are up to date." in out.stdout
