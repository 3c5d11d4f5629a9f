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


def test_jobs_of_an_earlier_ray_launcher_are_submitted_again_and_no_wait_is_refused(tmp_path, monkeypatch):
    """Ray stops a launcher's tasks with it: the next launch resubmits them (not "failed, skipped")."""
    from types import SimpleNamespace

    from pipeline.launch import launcher
    from pipeline.launch.config import LaunchError, LaunchSettings
    from pipeline.launch.selection import RunRef

    class Orphaning:  # a backend whose jobs end with their launcher, like RayBackend
        name, outlives_launcher = "ray", False

        def poll(self, jobs):
            assert not jobs, jobs  # the earlier launcher's job is not polled: it is gone
            return {}

        def capacity(self):
            return 1

        def submit(self, specs):
            return {s["key"]: "ray-new" for s in specs}

        def log_path(self, key, job_id):
            return tmp_path / f"{key}.log"

        def describe(self):
            return "test"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setattr(launcher, "prepare_data", lambda root, datasets: [])
    settings = SimpleNamespace(launch=LaunchSettings())
    project = SimpleNamespace(root=tmp_path, params=settings, profile="smoke", runs_dir=tmp_path / "runs")
    run = RunRef("a-s0", "a", 0, "src", "cifar10")
    state = {"version": 1, "jobs": {run.key: {"backend": "ray", "job_id": "ray-old", "submitted": 1.0}}}
    job = launcher.Launcher(project, "ray", echo=lambda message: None)
    job.backend, job._watch = Orphaning(), lambda state, pending, summary: None

    def summary():
        return {"done": [], "recorded": [], "submitted": [], "attached": [], "failed": {}, "skipped_failed": []}

    with pytest.raises(LaunchError, match="--no-wait"):
        job._run(state, [run], retry_failed=False, wait=False, summary=summary())
    result = job._run(state, [run], retry_failed=False, wait=True, summary=summary())
    assert result["submitted"] == [run.key] and not result["failed"], result
    assert state["jobs"][run.key]["job_id"] == "ray-new"
