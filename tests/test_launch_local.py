"""`repro launch --backend local` on a smoke copy with two simulated GPUs (REPRO_LAUNCH_DEVICES=0,1),
plus the launcher's one-line errors for bad selections."""

from __future__ import annotations

import json

import pytest

from tests._launch import CHEAP, assert_stage_runs_tagged, dvc, mlflow_runs, records, repro, smoke_project

pytestmark = [pytest.mark.launch]
CONFIGS = CHEAP[:2]
DEVICES = {"REPRO_LAUNCH_DEVICES": "0,1"}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    project = smoke_project(tmp_path_factory.mktemp("launch-local") / "project", CONFIGS)
    out = repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    print(f"local launch of {len(CONFIGS)} runs: {out.seconds:.1f} s", flush=True)
    return project, out


def test_runs_are_pinned_to_different_devices(launched):
    project, out = launched
    recs = records(project)
    assert set(recs) == {f"{c}-s0" for c in CONFIGS}, out.stderr
    assert all(r["state"] == "done" for r in recs.values()), recs
    assert sorted(r["gpu"] for r in recs.values()) == ["0", "1"], recs  # CUDA_VISIBLE_DEVICES of each child
    assert all(r["job_id"].startswith("local-") for r in recs.values())


def test_dvc_lock_records_them_and_repro_runs_nothing_for_them(launched):
    project, _ = launched
    lock = (project / "dvc.lock").read_text()
    for c in CONFIGS:
        assert f"train@{c}-s0" in lock and f"evaluate@{c}-s0" in lock
    stages = [s for c in CONFIGS for s in (f"train@{c}-s0", f"evaluate@{c}-s0")]
    assert json.loads(dvc(project, "status", "--json", *stages).stdout) == {}


def test_every_stage_run_lands_in_the_project_store_with_tags(launched):
    project, out = launched
    assert "started an MLflow server" in out.stderr  # two at once: launch served the SQLite store
    assert_stage_runs_tagged(project, mlflow_runs(project), CONFIGS, "local")


def test_status_and_a_second_launch(launched):
    project, _ = launched
    status = json.loads(repro(project, "status", "--json").stdout)
    assert status["totals"]["done"] == len(CONFIGS), status
    again = repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    assert "nothing to launch" in again.stderr and "submitted" not in again.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["launch", "no-such-config"], "matches no configuration"),
        (["launch", "--seeds", "x"], "--seeds 'x'"),
        (["launch", "--table", "nope"], "unknown table 'nope'"),
        (["launch", "--backend", "pbs"], "unknown backend 'pbs'"),
        (["status", "--seeds", "7"], "selects no run"),
    ],
)
def test_bad_input_is_one_line(launched, args, expected):
    project, _ = launched
    out = repro(project, *args, check=False, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], out.stderr


def test_gpus_per_run_2_trains_with_torchrun(tmp_path):
    """gpus_per_run: 2 on two simulated GPUs: one job holding both, training under torchrun (gloo on CPU)."""
    config = CHEAP[2]
    project = smoke_project(tmp_path / "project", (config,), launch={"gpus_per_run": 2, "poll_s": 1})
    out = repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    rec = records(project)[f"{config}-s0"]
    assert rec["state"] == "done" and rec["gpu"] == "0,1" and rec["ranks"] == 2, rec
    train = json.loads((project / "smoke" / "runs" / f"{config}-s0" / "train.json").read_text())
    assert train["steps"] >= 1, train
    print(f"DDP local launch: {out.seconds:.1f} s", flush=True)


def test_ctrl_c_leaves_jobs_running_and_the_next_launch_reattaches(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from pipeline.launch.backends.process import alive
    from tests._launch import env

    configs = CHEAP[3:5]
    project = smoke_project(tmp_path / "project", configs, launch={"poll_s": 1}, iterations=8)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "launch", "--backend", "local"],
        cwd=project,
        env=env(DEVICES),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            recs = records(project) if (project / ".repro" / "jobs").exists() else {}
            if len(recs) == 2 and all(r["state"] == "running" for r in recs.values()):
                break
            assert launcher.poll() is None, launcher.stderr.read()
            time.sleep(0.5)
        else:
            pytest.fail("the jobs did not start")
        launcher.send_signal(signal.SIGINT)  # Ctrl-C
        code = launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    stderr = launcher.stderr.read()
    assert code == 130 and "keep running" in stderr, stderr
    assert all(alive(r["pid"], key) for key, r in records(project).items()), records(project)  # still training
    again = repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    assert "re-attached to 2 job(s)" in again.stderr and "submitted" not in again.stderr, again.stderr
    assert all(r["state"] == "done" for r in records(project).values())
    lock = (project / "dvc.lock").read_text()
    assert all(f"evaluate@{c}-s0" in lock for c in configs)
