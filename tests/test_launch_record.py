"""Ctrl-C (or a kill) while the launcher records a finished run in dvc.lock (issue 21, item 3).

The run was recorded once, then its params changed: dvc.lock holds an older entry. A second launch
trains it again and is interrupted during its ``dvc commit``, as a real process: a SIGINT to the
launcher's process group (the terminal's Ctrl-C), or a SIGKILL of the launcher and the commit. Either
way the finished run is never trained a third time: the commit completes (Ctrl-C), or the next
launch re-records the run from its folder (kill).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.sync import MARKER
from tests._launch import CHEAP, dvc, env, repro, smoke_project

pytestmark = [pytest.mark.launch]
CONFIG = CHEAP[0]
KEY = f"{CONFIG}-s0"
STAGES = [f"train@{KEY}", f"evaluate@{KEY}"]
DEVICES = {"REPRO_LAUNCH_DEVICES": "0"}


def _set_iterations(project: Path, n: int) -> None:
    params = project / "params.yaml"
    head, block = params.read_text().split(MARKER)
    data = yaml.safe_load(head)
    data["smoke"]["iterations"] = n
    params.write_text(f"{yaml.safe_dump(data, sort_keys=False)}\n{MARKER}{block}")


def _commit_pid(project: Path) -> int | None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"commit" in cmd and f"train@{KEY}".encode() in cmd and os.readlink(f"/proc/{pid}/cwd") == str(project):
                return int(pid)
        except OSError:
            continue
    return None


def _launch_interrupted(project: Path, hard: bool) -> subprocess.CompletedProcess:
    """``repro launch`` (which trains the stale run), interrupted as soon as its ``dvc commit`` starts."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "launch", "--backend", "local"],
        cwd=project,
        env=env(DEVICES),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    deadline = time.monotonic() + 400
    while (commit := _commit_pid(project)) is None:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    if hard:
        os.kill(commit, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = smoke_project(tmp_path_factory.mktemp("launch-record") / "project", (CONFIG,))
    repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    assert json.loads(dvc(project, "status", "--json", *STAGES).stdout) == {}
    return project


def _row(project: Path) -> dict:
    (row,) = json.loads(repro(project, "status", "--json").stdout)["runs"]
    return row


@pytest.mark.parametrize("hard", [False, True], ids=["ctrl-c", "sigkill"])
def test_an_interrupted_record_never_retrains_the_run(project, hard):
    _set_iterations(project, 4 if not hard else 6)  # dvc.lock now holds an older entry for the run
    row = _row(project)  # finished on disk, its dvc.lock record older: stale, with why
    assert row["state"] == "stale" and any("smoke" in why for why in row["why"]), row
    trained = (project / "smoke" / "runs" / KEY / "train.json").stat().st_mtime
    out = _launch_interrupted(project, hard)
    assert out.returncode != 0, out.stderr
    assert (project / "smoke" / "runs" / KEY / "train.json").stat().st_mtime > trained  # this launch trained it
    if hard:  # the commit was killed: the run reads "finished, not recorded"
        assert _row(project)["state"] == "finished", out.stderr
    else:  # Ctrl-C let the commit finish: recorded
        assert json.loads(dvc(project, "status", "--json", *STAGES).stdout) == {}, out.stderr
        assert _row(project)["state"] == "done"
    again = repro(project, "launch", "--backend", "local", extra_env=DEVICES)
    assert "submitted" not in again.stderr, again.stderr  # never trained again
    assert ("finished earlier" in again.stderr) if hard else ("nothing to launch" in again.stderr), again.stderr
    assert json.loads(dvc(project, "status", "--json", *STAGES).stdout) == {}
    assert _row(project)["state"] == "done"
    assert not (project / ".repro" / "recording" / KEY).exists()
