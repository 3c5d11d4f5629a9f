"""Tracking from many jobs: SQLite takes one writer, so when several jobs run at once and
``MLFLOW_TRACKING_URI`` is unset, launch serves the project's own store (``mlflow.db``, artifacts
in ``mlartifacts/``) through one ``mlflow server`` and hands its URI to the jobs.

The server runs in its own session, so it outlives a Ctrl-C on the launcher (the jobs keep logging);
its pid and URI are kept in the launch state, a later launch reuses it and the launch that sees the
last job end stops it. It listens on ``launch.tracking_host`` (127.0.0.1 by default: jobs on this
machine; on a cluster set the login node's address that the nodes can reach).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..trackstore import ensure_store
from .config import LaunchError

START_TIMEOUT = 120


def _free_port(host: str, preferred: int | None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise LaunchError(f"no free port on {host} for the tracking server; set MLFLOW_TRACKING_URI instead")


def healthy(uri: str | None, timeout: float = 2) -> bool:
    if not uri:
        return False
    with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
        with urllib.request.urlopen(f"{uri}/health", timeout=timeout) as r:
            return r.status == 200
    return False


def spawn(root: Path, host: str, log: Path, port: int | None = None) -> dict:
    """Start the server without waiting (it takes ~10-20 s to come up: start it early, ``wait_ready`` later).
    The store is made ready first, so stages writing to SQLite directly meanwhile (data preparation)
    never race the server's own set-up."""
    port = _free_port(host, port)
    uri = f"http://{host}:{port}"
    (root / "mlartifacts").mkdir(exist_ok=True)
    ensure_store(f"sqlite:///{root / 'mlflow.db'}")  # created/migrated once, before the server or any stage opens it
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "mlartifacts"),
        "--serve-artifacts",
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner and huey workers (~8 processes): runs only
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return {"pid": proc.pid, "uri": uri, "port": port, "log": str(log), "_proc": proc}


def wait_ready(info: dict) -> dict:
    """Wait until the spawned server answers; returns its (JSON-able) info."""
    proc, log = info.pop("_proc"), Path(info["log"])
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise LaunchError(f"the tracking server exited {proc.returncode}: {tail[0]} (log: {log})")
        if healthy(info["uri"]):
            return info
        time.sleep(0.5)
    stop(info)
    raise LaunchError(f"the tracking server did not answer within {START_TIMEOUT} s (log: {log})")


def stop_if_idle(state: dict) -> bool:
    """Stop the server of the launch state ``state`` once none of its jobs is open; whether it did."""
    info = state.get("tracking")
    if not info or any(not e.get("ended") for e in state["jobs"].values()):
        return False
    stop(state.pop("tracking"))
    return True


def stop(info: dict) -> None:
    """SIGTERM the server's process group (gunicorn/uvicorn and its workers); SIGKILL after 15 s."""
    pid = info.get("pid")
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            os.killpg(pid, 0)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
