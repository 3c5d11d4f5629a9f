"""Scale-out: `dvc exp run --queue` + `dvc queue start` run smoke experiments, tracked in the project's store.

Queued experiments run in temporary copies under ``.dvc/tmp/exps``; the stages must still log to
the project's own MLflow store (``sqlite:///<DVC_ROOT>/mlflow.db``). The test works in a git copy of
the project restricted to the two cheapest smoke configurations, one queued experiment per target.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.catalog import get_configuration
from pipeline.dev.demo import copy_project, dvc_env
from pipeline.rundir import run_key
from pipeline.settings import roots
from pipeline.sync import MARKER, run_entry, sync_params
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

SOURCE, DATASET = "columbia-e4040", "cifar10"
CONFIGS = ("columbia-a56-c10-spatial-arl", "columbia-a56-c10-mixed-arl")  # the cheapest smoke runs
QUEUE_TIMEOUT = 420  # seconds for both experiments (≈ 40 s each on a 2-core CPU)


def restrict_params(path: Path, configs: tuple[str, ...]) -> None:
    """Rewrite the generated block of params.yaml to seed 0 of ``configs`` only."""
    head = path.read_text().split(MARKER)[0].rstrip("\n")
    runs = {run_key(c, 0): run_entry(get_configuration(c), 0) for c in configs}
    block = {"datasets": [DATASET], "roots": roots("smoke"), "runs": runs}
    path.write_text(f"{head}\n\n{MARKER}\n{yaml.safe_dump(block, sort_keys=False)}")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def dvc(repo: Path, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"dvc {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out


def queue_states(repo: Path, env: dict, names: list[str]) -> dict[str, str]:
    """Each experiment's state from `dvc queue status` (Queued | Running | Success | Failed ...)."""
    out = dvc(repo, env, "queue", "status", timeout=60).stdout
    states = {}
    for line in out.splitlines():
        cells = line.split()
        for name in names:
            if name in cells:
                states[name] = next(
                    (c for c in cells if c in ("Queued", "Running", "Success", "Failed", "Killed")), "?"
                )
    return states


@pytest.fixture(scope="module")
def queued(tmp_path_factory):
    """Queue one experiment per configuration, run the queue with one worker, wait (bounded)."""
    repo = tmp_path_factory.mktemp("queue") / "project"
    copy_project(ROOT, repo)
    sync_params(repo / "params.yaml", "smoke")
    restrict_params(repo / "params.yaml", CONFIGS)
    env = dvc_env(ROOT)  # PATH → .venv/bin so stages find `python -m pipeline`
    for key in ("REPRO_TRACKING", "REPRO_GIT_COMMIT"):  # track for real; tag the copy's own commit
        env.pop(key, None)
    env.update(
        GIT_AUTHOR_NAME="queue-test",
        GIT_AUTHOR_EMAIL="queue-test@localhost",
        GIT_COMMITTER_NAME="queue-test",
        GIT_COMMITTER_EMAIL="queue-test@localhost",
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=queue-test", "-c", "user.email=queue-test@localhost", "commit", "-q", "-m", "smoke")
    names = [f"q-{i}" for i in range(len(CONFIGS))]
    for name, config in zip(names, CONFIGS, strict=True):
        dvc(repo, env, "exp", "run", "--queue", "--name", name, f"train@{run_key(config, 0)}")
    started = time.monotonic()
    try:
        # the detached worker inherits the output streams: a file, not a pipe we would wait on
        with (repo.parent / "queue-start.log").open("w") as log:
            start = subprocess.run(
                [sys.executable, "-m", "dvc", "queue", "start", "-j", "1"],
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=120,
            )
        assert start.returncode == 0, (repo.parent / "queue-start.log").read_text()
        states: dict[str, str] = {}
        while time.monotonic() - started < QUEUE_TIMEOUT:
            states = queue_states(repo, env, names)
            if len(states) == len(names) and all(s in ("Success", "Failed", "Killed") for s in states.values()):
                break
            time.sleep(5)
        else:
            pytest.fail(f"queue not done after {QUEUE_TIMEOUT} s: {states}")
        print(f"queue finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
        yield repo, env, names, states
    finally:
        with contextlib.suppress(Exception):  # never leave a worker behind
            subprocess.run(
                [sys.executable, "-m", "dvc", "queue", "stop", "--kill"],
                cwd=repo,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )


def test_both_queued_experiments_succeed(queued):
    repo, env, names, states = queued
    failed = {n: s for n, s in states.items() if s != "Success"}
    logs = "\n".join(dvc(repo, env, "queue", "logs", n, timeout=60).stdout[-3000:] for n in failed)
    assert not failed, f"{failed}\n{logs}"
    shown = dvc(repo, env, "exp", "show", "--json", timeout=120).stdout
    for name in names:
        assert f'"{name}"' in shown


def test_queued_runs_land_in_the_project_store(queued):
    from mlflow.tracking import MlflowClient

    repo, _, names, _ = queued
    store = repo / "mlflow.db"
    assert store.is_file(), "queued stages did not write the project's MLflow store"
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db")), "a queued stage wrote a store in its temp copy"
    client = MlflowClient(f"sqlite:///{store}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    by_name = {r.data.tags["stage"]: r for r in runs}
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    for name, config in zip(names, CONFIGS, strict=True):
        stage = f"train@{run_key(config, 0)}"
        assert stage in by_name, sorted(by_name)
        run = by_name[stage]
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert tags["profile"] == "smoke" and tags["config"] == config and tags["source"] == SOURCE
        assert tags["dvc.exp_name"] == name
        assert tags["git.commit"] == head.strip()
        assert "final_test_acc" in run.data.metrics
    assert f"fetch@{DATASET}" in by_name
