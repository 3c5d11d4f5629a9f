"""A preloaded interpreter for many short stage commands (the smoke profile's 127 stages).

Every ``python -m pipeline …`` stage spends ~4–5 s importing torch, torch._dynamo (created by any
optimiser), mlflow and sqlalchemy before a smoke run's ~1 s of work. ``serve`` imports those
third-party libraries once and then forks one child per request; the child takes the caller's
argv, working directory, environment and stdin/stdout/stderr (passed over a Unix socket), imports
*this project's* modules fresh (so edits to ``pipeline/`` take effect), runs the CLI and reports its
exit code. The caller (``python -m pipeline`` with ``REPRO_PRELOAD`` set) forwards Ctrl-C/SIGTERM
to the child and exits with its code, so DVC sees an ordinary command.

Only requests from the same project checkout are served (another checkout's ``pipeline`` would be
shadowed by this one); anything else, or a server that is not there, runs in-process as usual.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

ENV = "REPRO_PRELOAD"  # path of the server's socket
HEAVY = (  # third-party modules every stage imports (project modules are never preloaded)
    "numpy",
    "yaml",
    "pydantic",
    "typer",
    "rich.console",
    "torch",
    "torch.nn.functional",
    "torch.distributed",
    "torch.utils.flop_counter",
    "torch._dynamo",  # imported by the first optimiser construction (~1.6 s)
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.pytorch",
    "psutil",
    "matplotlib.pyplot",  # render stage
    "seaborn",
)
_DECLINED, _INT = -1, struct.Struct("!i")


def _package_dir() -> str:
    return str(Path(__file__).resolve().parent)


# --------------------------------------------------------------------------- wire format
def _send_json(sock: socket.socket, obj) -> None:
    blob = json.dumps(obj).encode()
    sock.sendall(struct.pack("!I", len(blob)) + blob)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def _recv_json(sock: socket.socket):
    (n,) = struct.unpack("!I", _recv_exact(sock, 4))
    return json.loads(_recv_exact(sock, n))


def _recv_fds(sock: socket.socket, count: int) -> list[int]:
    fds = array.array("i")
    _, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_LEN(count * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


# --------------------------------------------------------------------------- client
def run_via_server(path: str, argv: list[str]) -> int | None:
    """Run ``argv`` in a child of the server at ``path``; None when it cannot (then run locally)."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    except OSError:
        return None
    with sock:
        _send_json(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "package": _package_dir()})
        sock.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        try:
            (pid,) = _INT.unpack(_recv_exact(sock, _INT.size))
        except ConnectionError:
            return None
        if pid == _DECLINED:
            return None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
        try:
            (code,) = _INT.unpack(_recv_exact(sock, _INT.size))
        except ConnectionError:  # the child died without reporting (SIGKILL, OOM)
            print(f"error: stage process {pid} died without an exit status", file=sys.stderr)
            return 137
        return code


# --------------------------------------------------------------------------- server
def _child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the caller's process, run the CLI, report the exit code."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocesses (git, torchrun) must be waitable
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", closefd=False, buffering=1 if os.isatty(1) else -1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["repro", *request["argv"]]
    conn.sendall(_INT.pack(os.getpid()))
    code = 0
    try:
        from pipeline.cli import app

        app(prog_name="repro", args=request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()  # MLflow closes runs and flushes here, as at a normal exit
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(_INT.pack(code))
    os._exit(code)


def serve(path: str, ready: Path | None = None) -> None:
    """Import the heavy libraries, then fork a child per request until SIGTERM."""
    import importlib

    for name in HEAVY:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished children
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Path(path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    if ready is not None:
        ready.write_text(str(os.getpid()))
    me = os.getpid()
    try:
        while True:
            conn, _ = server.accept()
            try:
                request = _recv_json(conn)
                fds = _recv_fds(conn, 3)
            except (OSError, ValueError, ConnectionError):
                conn.close()
                continue
            if request.get("package") != _package_dir() or len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    conn.sendall(_INT.pack(_DECLINED))
                conn.close()
                continue
            if os.fork() == 0:
                server.close()
                _child(conn, request, fds)
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        if os.getpid() == me:
            server.close()
            Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def preloaded(workdir: Path, timeout: float = 120.0):
    """Start a server for ``workdir`` (its project's ``pipeline``); yield the env var to set."""
    sock = Path(f"/tmp/repro-preload-{os.getpid()}-{time.monotonic_ns()}.sock")  # AF_UNIX paths: ≤107 bytes
    ready = sock.with_suffix(".ready")
    env = {k: v for k, v in os.environ.items() if k != ENV}
    cmd = [sys.executable, "-m", "pipeline.dev.preload", str(sock), str(ready)]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                print("warning: preload server did not start; stages import everything themselves", file=sys.stderr)
                yield {}
                return
            time.sleep(0.05)
        yield {ENV: str(sock)}
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
        ready.unlink(missing_ok=True)
        sock.unlink(missing_ok=True)


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None)
