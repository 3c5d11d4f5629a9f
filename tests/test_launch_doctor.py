"""`repro launch --doctor` on the throw-away Slurm cluster (tests/_slurm.py, two fake GPUs): `repro doctor`
runs as one Slurm job first (on a node, with the GPU Slurm gave it) and the launch goes on when every
check passes; when a check fails (an unreachable tracking server) nothing is submitted, unless --force."""

from __future__ import annotations

import json
import socket

import pytest

from tests._launch import CHEAP, records, repro, smoke_project

pytestmark = [pytest.mark.slurm, pytest.mark.launch]
SLURM = {"poll_s": 1, "slurm": {"cpus_per_task": 1, "mem": None, "time": "20", "max_running": 2, "signal_delay_s": 10}}
CONFIG = CHEAP[0]


def test_doctor_job_runs_first_then_the_runs(slurm, tmp_path):
    project = smoke_project(tmp_path / "project", (CONFIG,), launch=SLURM)
    out = repro(project, "launch", "--backend", "slurm", "--doctor", timeout=420)
    err = out.stderr
    assert "doctor: running `repro doctor` as job" in err, err
    assert "doctor: ok   data cifar10:" in err and "doctor: warn devices: no CUDA GPU" in err, err
    assert err.index("doctor: running") < err.index("submitted 1 job(s)"), err
    report = json.loads((project / ".repro" / "doctor.json").read_text())
    assert report["ok"] is True and report["backend"] == "slurm" and report["gpu"] in ("0", "1"), report
    assert records(project)[f"{CONFIG}-s0"]["state"] == "done"


def test_a_failed_check_stops_the_launch(slurm, tmp_path):
    project = smoke_project(tmp_path / "project", (CONFIG,), launch=SLURM)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    dead = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    out = repro(project, "launch", "--backend", "slurm", "--doctor", extra_env=dead, timeout=420, check=False)
    assert out.returncode != 0
    (line,) = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert "repro doctor failed on" in line and "tracking" in line and "nothing submitted" in line, out.stderr
    assert "--force" in line
    assert not (project / ".repro" / "launch.json").exists() or not json.loads(
        (project / ".repro" / "launch.json").read_text()
    ).get("jobs"), "runs were submitted after a failed doctor"
    assert not (project / "smoke" / "runs").exists() or not any((project / "smoke" / "runs").iterdir())
