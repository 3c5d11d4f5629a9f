"""Throw-away servers for the team set-up tests: a PostgreSQL cluster and an MLflow tracking server.

Both bind 127.0.0.1 on a free port, live in a temporary folder and are always stopped (context
managers). Every wait is bounded. ``initdb`` refuses to run as root, so as root the cluster runs as
the ``postgres`` system user (Debian's ``postgresql`` package creates it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LOCALHOST = "127.0.0.1"


class Unavailable(RuntimeError):
    """A server cannot be started on this machine (missing binaries or packages): skip, do not fail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    """The folder of initdb/pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise Unavailable("PostgreSQL is not installed (no pg_ctl; Debian: apt-get install postgresql)")
    return Path(candidates[-1]).parent


def postgres_driver() -> str:
    """SQLAlchemy's dialect+driver for the installed PostgreSQL client library.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, so the driver is always named.
    """
    import importlib.util

    for module, dialect in (("psycopg2", "postgresql+psycopg2"), ("psycopg", "postgresql+psycopg")):
        if importlib.util.find_spec(module) is not None:
            return dialect
    raise Unavailable("no PostgreSQL driver for SQLAlchemy (pip install psycopg2-binary)")


def _run_as(user: str | None, cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@contextlib.contextmanager
def postgres(db: str = "mlflow", timeout: float = 60) -> Iterator[str]:
    """A fresh PostgreSQL cluster (trust auth, TCP on 127.0.0.1 only); yields the database URI."""
    bindir, dialect = postgres_bin(), postgres_driver()
    user = None
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise Unavailable("running as root and there is no `postgres` user to own the cluster") from exc
        if shutil.which("runuser") is None:
            raise Unavailable("running as root without `runuser` to drop privileges")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="pg-test-"))  # not pytest's tmp_path: that is 0700 root-only
    data, sockets, log = base / "data", base / "sock", base / "postgres.log"
    sockets.mkdir()
    if user is not None:
        for path in (base, sockets):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    port = free_port()
    started = False
    try:
        _run_as(
            user,
            [str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
            timeout,
        )
        # -F: no fsync (a throw-away cluster); -k: unix sockets in the temp folder, not /var/run
        opts = f"-h {LOCALHOST} -p {port} -k {sockets} -F -c max_connections=50"
        _run_as(
            user,
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout + 10,
        )
        started = True
        _run_as(user, [str(bindir / "createdb"), "-h", LOCALHOST, "-p", str(port), "-U", "mlflow", db], timeout)
        yield f"{dialect}://mlflow@{LOCALHOST}:{port}/{db}"
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run_as(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], 60)
        shutil.rmtree(base, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` in its own process group on 127.0.0.1; ``kill()`` simulates a crash."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path):
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend_uri,
            "--artifacts-destination", str(artifacts),
            "--serve-artifacts",
            "--host", LOCALHOST, "--port", str(self.port),
            "--workers", "1",
        ]  # fmt: skip
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=artifacts.parent
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            time.sleep(0.5)
        raise TimeoutError(f"mlflow server not healthy after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn and its workers) and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        else:  # the group may outlive its leader (workers)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path, timeout: float = 120) -> Iterator[MlflowServer]:
    artifacts.mkdir(parents=True, exist_ok=True)
    server = MlflowServer(backend_uri, artifacts, log)
    try:
        server.wait_healthy(timeout)
        yield server
    finally:
        server.stop()
