"""Signals to Slurm jobs (issue 21, item 4), on the throw-away cluster (tests/_slurm.py).

submitit ignores SIGTERM; the job takes it back: ``scancel`` stops it at once, its record says it was
interrupted by signal 15 and its MLflow run is KILLED. A job killed outright (SIGKILL) leaves its run
RUNNING until the next launch sees the job gone and marks it KILLED. A finished job that Slurm
requeues exits at once: no retraining, no new MLflow runs.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from pipeline.rundir import CHECKPOINT
from tests._launch import CHEAP, mlflow_runs, records, repro, smoke_project

pytestmark = [pytest.mark.slurm, pytest.mark.launch]
CONFIG = CHEAP[0]
KEY = f"{CONFIG}-s0"
SLURM = {"poll_s": 1, "slurm": {"cpus_per_task": 1, "mem": None, "time": "20", "max_running": 1, "signal_delay_s": 10}}
FAST = {"REPRO_LAUNCH_PROGRESS_S": "1"}
TIMEOUT = 420


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _job_id(project) -> str:
    return json.loads((project / ".repro" / "launch.json").read_text())["jobs"][KEY]["job_id"]


def _queued(slurm) -> dict[str, str]:
    return dict(line.split("|") for line in slurm.run("squeue", "-h", "-r", "-o", "%i|%T").stdout.split())


def _statuses(project, stage: str = "train") -> list[str]:
    return sorted(r.info.status for r in mlflow_runs(project).get(f"{stage}@{KEY}", []))


def _start_and_checkpoint(project, *args: str) -> str:
    """Launch (``--no-wait``), wait until the job has written a checkpoint; the job id."""
    (project / "smoke" / "runs" / KEY / CHECKPOINT).unlink(missing_ok=True)
    out = repro(
        project, "launch", "--backend", "slurm", "--no-wait", *args, extra_env=FAST, check=False, timeout=TIMEOUT
    )
    assert "submitted 1 job(s)" in out.stderr, out.stderr  # (exits 1 when it also reports the earlier failure)
    _wait_for(lambda: (project / "smoke" / "runs" / KEY / CHECKPOINT).is_file(), TIMEOUT, "a checkpoint")
    return _job_id(project)


def test_scancel_kill_and_requeue_of_a_finished_job(slurm, tmp_path):
    project = smoke_project(tmp_path / "project", (CONFIG,), launch=SLURM, iterations=40)  # 20 epochs

    # scancel: SIGTERM reaches the job, which stops and marks its run KILLED itself
    job = _start_and_checkpoint(project)
    slurm.run("scancel", job)
    _wait_for(lambda: job not in _queued(slurm), 60, "the cancelled job to leave the queue")
    rec = records(project)[KEY]
    assert rec["state"] == "interrupted" and "signal 15" in rec["error"], rec
    log = next((project / ".repro" / "logs" / "slurm").glob(f"{job}_*log.out")).read_text()
    assert "Bypassing signal SIGTERM" not in log, log[-2000:]
    assert _statuses(project) == ["KILLED"]

    # SIGKILL of the job's process: nothing in it closes its run; the next launch that sees the job gone does
    job = _start_and_checkpoint(project, "--retry-failed")
    os.kill(records(project)[KEY]["pid"], signal.SIGKILL)  # as the OOM killer or a lost node would
    _wait_for(lambda: job not in _queued(slurm), 60, "the killed job to leave the queue")
    assert _statuses(project) == ["KILLED", "RUNNING"]
    seen = repro(project, "launch", "--backend", "slurm", check=False, timeout=TIMEOUT)
    assert f"failed {KEY}" in seen.stderr, seen.stderr
    assert _statuses(project) == ["KILLED", "KILLED"]

    # the retry resumes the checkpoint and reopens the last attempt's MLflow run (one curve), which ends
    # FINISHED; then Slurm requeues the finished job: it exits at once
    done = repro(project, "launch", "--backend", "slurm", "--retry-failed", timeout=TIMEOUT)
    assert f"done {KEY}" in done.stderr, done.stderr
    job, trained = _job_id(project), (project / "smoke" / "runs" / KEY / "train.json").stat().st_mtime
    assert _statuses(project) == ["FINISHED", "KILLED"] and _statuses(project, "evaluate") == ["FINISHED"]
    slurm.run("scontrol", "requeue", job)
    _wait_for(lambda: _queued(slurm).get(job) == "PENDING", 60, "the requeued job to be pending")
    slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now")  # Slurm holds a requeued job ~2 minutes
    _wait_for(lambda: job not in _queued(slurm), TIMEOUT, "the requeued job to end")
    rec = records(project)[KEY]
    assert rec["state"] == "done" and rec["job_id"] == job, rec
    assert (project / "smoke" / "runs" / KEY / "train.json").stat().st_mtime == trained  # not trained again
    assert _statuses(project) == ["FINISHED", "KILLED"] and _statuses(project, "evaluate") == ["FINISHED"]
    log = next((project / ".repro" / "logs" / "slurm").glob(f"{job}_*log.out")).read_text()
    assert "this job finished the run already" in log, log[-2000:]
