"""End to end: the real `dvc repro` of the smoke profile over every configuration of the catalog, in
copies of the repository (no network). The catalog is split into two shards run side by side in two
copies (one per CI core); together they must cover every configuration."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.dev.demo import dvc_env, run_demo
from pipeline.settings import load_params
from pipeline.sync import expected_block
from tests.conftest import ROOT

SHARDS = 2


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.delenv("REPRO_TRACKING", raising=False)  # this test checks the MLflow runs
    try:
        dests = [base / f"shard-{k}" for k in range(SHARDS)]
        with ThreadPoolExecutor(SHARDS) as pool:
            codes = list(pool.map(lambda k: run_demo(ROOT, dests[k], publish=False, shard=(k, SHARDS)), range(SHARDS)))
        assert codes == [0] * SHARDS
        yield dests
    finally:
        mp.undo()


@pytest.mark.e2e
def test_the_shards_cover_every_configuration(demos):
    runs = {}
    for dest in demos:
        runs |= load_params(dest / "params.yaml").runs
    assert set(runs) == set(expected_block("smoke")["runs"])
    configs = {entry.config for entry in runs.values()}
    assert len(configs) >= 60


@pytest.mark.e2e
def test_every_stage_wrote_its_outputs(demos):
    for dest in demos:
        params = load_params(dest / "params.yaml")
        assert params.profile == "smoke"
        for dataset in params.datasets:
            manifest = json.loads((dest / "smoke" / "data" / "prepared" / dataset / "manifest.json").read_text())
            assert manifest["synthetic"] is True
        for key in params.runs:
            for name in ("model.pt", "history.csv", "train.json", "eval.json", "analysis/confusion.csv"):
                assert (dest / "smoke" / "runs" / key / name).is_file(), f"{key}/{name} missing"
        assert (dest / "smoke" / "paper_tables" / "README.md").read_text().startswith("# Paper tables — SMOKE TEST")
    dest = next(d for d in demos if "wang2017-resnet164-c10-s0" in load_params(d / "params.yaml").runs)
    table = (dest / "smoke" / "paper_tables" / "wang2017-table6.md").read_text()
    assert table.startswith("# SMOKE TEST, NOT A REPRODUCTION")
    row = next(line for line in table.splitlines() if line.startswith("| ResNet-164 |"))
    err = json.loads((dest / "smoke" / "runs" / "wang2017-resnet164-c10-s0" / "eval.json").read_text())["top1_error"]
    assert f"5.46 / {err:.2f}" in row and "smoke only" in row


@pytest.mark.e2e
def test_one_finished_mlflow_run_per_stage_with_tags(demos):
    from mlflow.tracking import MlflowClient

    for dest in demos:
        client = MlflowClient(f"sqlite:///{dest / 'mlflow.db'}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
        by_name = {}
        for r in runs:
            by_name.setdefault(r.data.tags["stage"], []).append(r)
        params = load_params(dest / "params.yaml")
        expected = {"render"} | {f"fetch@{d}" for d in params.datasets}
        expected |= {f"{stage}@{key}" for key in params.runs for stage in ("train", "evaluate")}
        assert expected <= set(by_name), sorted(expected - set(by_name))[:5]
        for name in expected:
            (run,) = by_name[name]
            assert run.info.status == "FINISHED", name
            assert run.data.tags["profile"] == "smoke"
            assert run.data.tags["git.commit"] not in ("", "unknown")
            assert run.data.tags["stage"] == name
        for key, entry in params.runs.items():
            train = by_name[f"train@{key}"][0]
            assert train.data.tags["config"] == entry.config and train.data.tags["source"] == entry.source
            assert len(train.data.tags["config_hash"]) == 12
            assert "final_test_acc" in train.data.metrics and "lr" in train.data.metrics
        for dataset in params.datasets:
            assert by_name[f"fetch@{dataset}"][0].data.tags["dataset.digest"]


@pytest.mark.e2e
def test_a_second_repro_runs_nothing(demos):
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=demos[0], env=dvc_env(ROOT), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "Running stage" not in out.stdout
    assert "Data and pipelines are up to date." in out.stdout


@pytest.mark.e2e
def test_dvc_metrics_show_is_one_row_per_run(demos):
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "show"],
        cwd=demos[0],
        env=dvc_env(ROOT),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines[0].split()) <= 15, lines[0]
    assert len(lines) - 1 == len(load_params(demos[0] / "params.yaml").runs)
    assert all(line.split()[0].endswith("/metrics.json") for line in lines[1:])
