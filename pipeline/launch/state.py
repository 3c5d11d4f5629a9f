"""The launcher's state on disk, all under ``.repro/`` at the project root (git-ignored).

- ``launch.json``: the launcher's view, written only by the launching process: per run key its
  backend, job id, log path, when it was submitted and whether it is recorded in dvc.lock; and the
  MLflow server launch started (pid, URI), so a later launch or ``repro cancel`` can reuse or stop it.
- ``jobs/<key>.json``: written by the job itself (``job.py``) on the node: host, GPU, attempts,
  progress (epoch k/n), and its end (done, or failed with the error). On a cluster this folder must
  be on the shared filesystem, like ``runs/``.
- ``launch.lock``: held by the launching process while it watches jobs (one launcher per project).

Every write is atomic (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..files import write_json
from .config import LaunchError

DIR = ".repro"


def repro_dir(root: Path) -> Path:
    return root / DIR


def state_path(root: Path) -> Path:
    return repro_dir(root) / "launch.json"


def record_path(root: Path, key: str) -> Path:
    return repro_dir(root) / "jobs" / f"{key}.json"


def read_json(path: Path, forget: str = "forget the launcher's state") -> dict | None:
    """A state file of ``.repro/``; None when absent, one line naming it when unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LaunchError(f"{path} is unreadable ({exc}); delete it to {forget}") from exc


def load_state(root: Path) -> dict:
    state = read_json(state_path(root)) or {}
    state.setdefault("version", 1)
    state.setdefault("jobs", {})
    return state


def save_state(root: Path, state: dict) -> None:
    path = state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(state, path)


def read_record(root: Path, key: str) -> dict | None:
    """The job's own record of run ``key``; a torn or missing file reads as None (a job may be writing)."""
    try:
        return json.loads(record_path(root, key).read_text())
    except (OSError, ValueError):
        return None


def write_record(root: Path, key: str, record: dict) -> None:
    path = record_path(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, path)


def clear_record(root: Path, key: str) -> None:
    record_path(root, key).unlink(missing_ok=True)


def open_jobs(state: dict, keys=None) -> dict[str, dict]:
    """The jobs of ``state`` (of ``keys`` only, when given) that have not ended: {key: entry}."""
    jobs = state["jobs"]
    return {k: jobs[k] for k in (jobs if keys is None else keys) if k in jobs and not jobs[k].get("ended")}


@contextlib.contextmanager
def launcher_lock(root: Path) -> Iterator[None]:
    """One watching launcher per project: a second one is refused with the first one's pid."""
    path = repro_dir(root) / "launch.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            raise LaunchError(
                f"another `repro launch` (pid {pid}) is watching this project's jobs; "
                "use `repro status`, or stop that launcher (Ctrl-C leaves the jobs running) and launch again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def launcher_pid(root: Path) -> int | None:
    """The pid of the launcher watching now, or None."""
    path = repro_dir(root) / "launch.lock"
    if not path.exists():
        return None
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = path.read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def now() -> float:
    return round(time.time(), 3)
