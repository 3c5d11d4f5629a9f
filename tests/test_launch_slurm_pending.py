"""A Slurm job that can never start is flagged, with Slurm's pending reason (issue 21, item 5).

On the throw-away cluster (one node, 2 CPUs): a launch asking 64 CPUs per job is accepted by sbatch
and stays pending (PartitionConfig) for good; `repro status` and the watching launcher say why and
that it can never start. A job that only waits for a busy node (Resources) shows its reason unflagged.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time

import pytest

from tests._launch import CHEAP, env, repro, smoke_project

pytestmark = [pytest.mark.slurm, pytest.mark.launch]
KEY = f"{CHEAP[0]}-s0"
HUGE = {"poll_s": 1, "slurm": {"cpus_per_task": 64, "mem": None, "time": "20", "max_running": 1}}


def _status(project) -> dict:
    return {r["key"]: r for r in json.loads(repro(project, "status", "--json").stdout)["runs"]}


def _wait_reason(project, word: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _status(project)[KEY]
        if word in row.get("reason", ""):
            return row
        time.sleep(1)
    pytest.fail(f"no {word} reason: {row}")


def _launcher_line(project, word: str, timeout: float = 120) -> str:
    """Start a watching `repro launch`, return its first stderr line holding ``word``, then Ctrl-C it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "launch", "--backend", "slurm"],
        cwd=project, env=env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    seen, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 1)[0]:
                line = proc.stderr.readline()
                seen.append(line)
                if word in line:
                    return line.strip()
                if not line and proc.poll() is not None:
                    break
        pytest.fail(f"the launcher never said {word!r}:\n{''.join(seen)}")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_a_job_that_can_never_start_is_flagged_and_one_that_waits_is_not(slurm, tmp_path):
    project = smoke_project(tmp_path / "project", (CHEAP[0],), launch=HUGE)
    launched = repro(project, "launch", "--backend", "slurm", "--no-wait", timeout=300)
    assert "submitted 1 job(s)" in launched.stderr, launched.stderr
    row = _wait_reason(project, "PartitionConfig")
    assert row["state"] == "queued" and row["never_starts"] is True, row
    assert "can never start, it asks 64 CPUs per node; the largest node has 2" in row["reason"], row
    table = repro(project, "status", extra_env={"COLUMNS": "300"}).stdout
    assert "pending (PartitionConfig): can never start" in table, table
    line = _launcher_line(project, "can never start")
    assert line.startswith(f"queued {KEY} (job {row['job_id']}): pending (PartitionConfig): can never start"), line
    repro(project, "cancel")

    # a node that is only busy: the job waits for Resources, which is not flagged
    blocker = slurm.run("sbatch", "--cpus-per-task=2", "--output=/dev/null", "--wrap=sleep 600").stdout.split()[-1]
    try:
        params = project / "params.yaml"
        assert params.read_text().count("cpus_per_task: 64") == 1
        params.write_text(params.read_text().replace("cpus_per_task: 64", "cpus_per_task: 1"))
        repro(project, "launch", "--backend", "slurm", "--no-wait", "--retry-failed", timeout=300)
        row = _wait_reason(project, "Resources")
        assert row["state"] == "queued" and row["never_starts"] is False, row
        assert row["reason"] == "pending (Resources)", row
        assert "pending (Resources)" in _launcher_line(project, "pending (Resources)")
    finally:
        repro(project, "cancel", check=False)
        slurm.run("scancel", blocker, check=False)
