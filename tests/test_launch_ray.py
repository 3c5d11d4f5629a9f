"""`repro launch --backend ray` on a local Ray instance with 2 logical GPUs, tracking to an external
MLflow server through MLFLOW_TRACKING_URI (the jobs use it; launch starts no server of its own)."""

from __future__ import annotations

import pytest

from tests._launch import CHEAP, assert_stage_runs_tagged, mlflow_runs, records, repro, smoke_project
from tests._servers import mlflow_server

pytestmark = [pytest.mark.launch]
CONFIGS = CHEAP[:2]


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    pytest.importorskip("ray")
    base = tmp_path_factory.mktemp("launch-ray")
    project = smoke_project(base / "project", CONFIGS, launch={"poll_s": 1, "ray": {"gpus": 2}})
    with mlflow_server(f"sqlite:///{base / 'team.db'}", base / "team-artifacts", base / "team-server.log") as srv:
        out = repro(project, "launch", "--backend", "ray", extra_env={"MLFLOW_TRACKING_URI": srv.url}, timeout=600)
        runs = mlflow_runs(project, srv.url)
    print(f"ray launch of {len(CONFIGS)} runs: {out.seconds:.1f} s", flush=True)
    return project, out, runs


def test_ray_assigns_distinct_gpus_and_every_run_finishes(launched):
    project, out, _ = launched
    recs = records(project)
    assert set(recs) == {f"{c}-s0" for c in CONFIGS}, out.stderr
    assert all(r["state"] == "done" and r["job_id"].startswith("ray-") for r in recs.values()), recs
    assert sorted(r["gpu"] for r in recs.values()) == ["0", "1"], recs  # CUDA_VISIBLE_DEVICES set by Ray
    lock = (project / "dvc.lock").read_text()
    assert all(f"evaluate@{c}-s0" in lock for c in CONFIGS)


def test_jobs_track_to_the_external_server(launched):
    project, out, runs = launched
    assert "started an MLflow server" not in out.stderr
    assert not (project / "mlflow.db").exists()  # nothing went to the project's own store
    assert_stage_runs_tagged(project, runs, CONFIGS, "ray")
