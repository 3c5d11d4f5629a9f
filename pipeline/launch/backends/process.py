"""Jobs as processes on this machine (the local backend, and each Ray task): ``python -m pipeline.launch.job``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def job_command(spec: dict) -> list[str]:
    return [sys.executable, "-m", "pipeline.launch.job", "run", json.dumps(spec)]


def job_env(root: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "DVC_STAGE")}
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env | extra


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (a Ray worker killed by a cancel)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(spec: dict, log: Path, extra_env: dict, detach: bool = True) -> subprocess.Popen:
    """Start the job with its output in ``log``. ``detach``: its own session, so Ctrl-C on the launcher
    leaves it running; otherwise it is stopped when its parent dies."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            job_command(spec),
            cwd=spec["root"],
            env=job_env(Path(spec["root"]), extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
            preexec_fn=None if detach else _die_with_parent,
        )


def alive(pid: int | None, key: str) -> bool:
    """Whether ``pid`` is still the job of run ``key`` (not a reused pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return "pipeline.launch.job" in cmdline and key in cmdline and ") Z" not in stat


def kill(pid: int) -> None:
    """SIGTERM the job's process group (the job and its torchrun ranks)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
