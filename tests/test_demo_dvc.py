"""The demo copy is a git repository with a commit, so every DVC command the README shows works in it:
`dvc exp show` (and its narrowed forms), `dvc params diff`, `dvc metrics show`/`diff`, `dvc plots diff`/`show`,
`dvc exp run` (with -S) and `dvc exp run --queue` + `dvc queue start`. A one-run demo copy keeps it short."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

from pipeline.dev.demo import dvc_env, run_demo
from pipeline.settings import load_params
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

ONE_RUN = (0, 10_000)  # the demo's shard: the catalog's first configuration only


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    dest = tmp_path_factory.mktemp("demo") / ".demo"
    assert run_demo(ROOT, dest, publish=False, shard=ONE_RUN) == 0
    env = dvc_env(ROOT)
    env.pop("REPRO_TRACKING", None)
    (key,) = load_params(dest / "params.yaml").runs
    return dest, env, key


def dvc(dest, env, *args, timeout=300):
    out = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=dest, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"dvc {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    assert "Only supported for Git repositories" not in out.stdout + out.stderr
    return out.stdout


def test_the_demo_copy_is_a_committed_git_repository(demo):
    dest, _, _ = demo
    assert not (dest / ".dvc" / "config.local").exists()  # no `no_scm`: DVC sees the repository
    log = subprocess.run(["git", "-C", str(dest), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert log.splitlines() == ["demo: dvc repro (dvc.lock)", log.splitlines()[-1]]
    assert log.splitlines()[-1].startswith("demo: the project at ")
    status = subprocess.run(["git", "-C", str(dest), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # everything but data, runs and the store (git-ignored) is committed


def test_every_readme_dvc_command_works_in_the_demo_copy(demo):
    dest, env, key = demo
    dvc(dest, env, "exp", "show", "--no-pager")  # a table cut to the terminal: read the CSV form
    shown = dvc(dest, env, "exp", "show", "--no-pager", "--csv")
    assert "workspace" in shown and "main" in shown
    dvc(dest, env, "exp", "show", "--no-pager", "--only-changed")
    narrow = dvc(dest, env, "exp", "show", "--no-pager", "--drop", ".*", "--keep", "top1_error|reproduced", "--csv")
    header, *rows = narrow.splitlines()
    assert set(header.split(",")) == {"top1_error", "reproduced"}, narrow
    assert len(rows) == 2 and "!" not in narrow, narrow  # workspace and main: the baseline's metrics are committed
    assert "top1_error" in dvc(dest, env, "metrics", "show")
    dvc(dest, env, "metrics", "show", "--md")
    assert dvc(dest, env, "params", "diff") == ""  # nothing changed since the demo's commit

    # an experiment in the workspace: the diffs now have something to show
    dvc(dest, env, "exp", "run", "-S", "smoke.iterations=4", "--name", "four-steps")
    assert "smoke.iterations" in dvc(dest, env, "params", "diff")
    assert "top1_error" in dvc(dest, env, "metrics", "diff", "--all")  # against the committed baseline
    dvc(dest, env, "plots", "diff", "-o", "dvc_plots")
    assert (dest / "dvc_plots" / "index.html").is_file()
    dvc(dest, env, "plots", "show", "-o", "dvc_plots")
    assert "four-steps" in dvc(dest, env, "exp", "show", "--no-pager", "--csv")

    # the README's queue: one queued experiment of one stage, run by one worker
    dvc(dest, env, "exp", "run", "--queue", "--name", "queued", "-S", "smoke.iterations=2", f"train@{key}")
    try:
        with (dest.parent / "queue.log").open("w") as log:  # the worker inherits the streams: a file, not a pipe
            subprocess.run(
                [sys.executable, "-m", "dvc", "queue", "start", "-j", "1"], cwd=dest, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120, check=True,
            )  # fmt: skip
        deadline, state = time.monotonic() + 300, ""
        while time.monotonic() < deadline:
            line = next((s for s in dvc(dest, env, "queue", "status").splitlines() if "queued" in s.split()), "")
            state = next((c for c in line.split() if c in ("Queued", "Running", "Success", "Failed")), "?")
            if state in ("Success", "Failed"):
                break
            time.sleep(3)
        assert state == "Success", (dest.parent / "queue.log").read_text()
    finally:
        with contextlib.suppress(Exception):  # never leave a worker behind
            subprocess.run([sys.executable, "-m", "dvc", "queue", "stop", "--kill"], cwd=dest, env=env, timeout=60)
