"""The preloaded interpreter (pipeline/preload.py): a stage run through it behaves like a plain
``python -m pipeline`` process — same stdout/stderr, exit code, and Ctrl-C/SIGTERM handling."""

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.dev import preload
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def server():
    with preload.preloaded(ROOT) as extra:
        assert extra, "the preload server did not start"
        yield extra


def repro(*args: str, env_extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != preload.ENV} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kw
    )


def test_output_and_exit_code_match_a_plain_process(server):
    plain, served = repro("train", "--help"), repro("train", "--help", env_extra=server)
    assert served.returncode == plain.returncode == 0
    assert served.stdout == plain.stdout and "Usage: repro train" in served.stdout


def test_a_failing_command_keeps_its_code_and_one_line_error(server):
    plain = repro("train", "no-such-config", env_extra={})
    served = repro("train", "no-such-config", env_extra=server)
    assert served.returncode == plain.returncode == 2
    assert served.stdout == ""
    assert served.stderr == plain.stderr
    assert served.stderr.startswith("error: unknown configuration 'no-such-config'")


def test_another_checkout_or_no_server_runs_locally(server, monkeypatch, tmp_path):
    monkeypatch.setattr(preload, "_package_dir", lambda: str(tmp_path / "pipeline"))  # another checkout
    assert preload.run_via_server(server[preload.ENV], ["list"]) is None
    assert preload.run_via_server(str(tmp_path / "absent.sock"), ["list"]) is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_reach_the_stage_process(server, sig):
    env = {k: v for k, v in os.environ.items() if k != preload.ENV} | server
    cmd = [sys.executable, "-m", "pipeline", "bench", "zam-resnet18", "--batch-size", "2", "--steps", "100000"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # the benchmark is running in the server's child by now
    assert proc.poll() is None
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == 130  # the CLI's Ctrl-C path ran in the child (a hard kill would be 137)
