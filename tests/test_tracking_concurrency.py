"""The MLflow store under concurrent writers, with real processes (issue 21, item 1).

Several processes initialise one fresh SQLite store at the same instant; several stages create and
describe the same experiment at once; launch's server (``--serve-artifacts``) and stages writing to
SQLite directly log artifacts into each other's experiments, including one the server created
before experiments got an explicit location; a stage starts on a fresh store while the server comes up.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.launch import server
from tests.conftest import ROOT

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pipeline.trackstore import ensure_store
    from pipeline.tracking import stage_run, tracking_uri
    import mlflow
    root, mode, experiment, name, go = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])
    while not go.exists():  # everything imported: start together
        time.sleep(0.01)
    if mode == "store":
        ensure_store(tracking_uri(root))
    else:
        with stage_run(root, experiment, name, "smoke", description="the shared description") as run:
            run.log_metrics({"x": 1.0})
            art = root / f"{name}.txt"
            art.write_text(name)
            run.log_artifact(art)
            assert run.mlflow is not None, "tracking went off"
    """
)


def _children(root: Path, jobs: list[tuple[str, str, str]], env: dict | None = None):
    """Start one process per (mode, experiment, name), release them at once, wait; (rc, stderr) each."""
    go = root / ".go"
    go.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {
        "PYTHONPATH": str(ROOT), "REPRO_TRACKING": "on"
    }  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(root), mode, exp, name, str(go)],
            env=base | (env or {}),
            cwd=root,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode, exp, name in jobs
    ]
    time.sleep(8)  # the imports (mlflow, torch) take a few seconds on a loaded machine
    go.touch()
    return [(p.wait(timeout=300), p.stderr.read()) for p in procs]


def _runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, exp, client.search_runs([exp.experiment_id])


def test_concurrent_first_initialisations_leave_one_complete_store(tmp_path):
    results = _children(tmp_path, [("store", "", f"p{i}") for i in range(4)])
    assert all(rc == 0 for rc, _ in results), results
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as con:
        (version,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    head = ScriptDirectory.from_config(_get_alembic_config(f"sqlite:///{db}")).get_current_head()
    assert version == head  # migrated to the end, once
    assert {"experiments", "runs", "metrics", "experiment_tags"} <= tables


def test_stages_creating_one_experiment_at_once_are_all_tracked(tmp_path):
    results = _children(tmp_path, [("stage", "race", f"stage{i}") for i in range(4)])
    assert all(rc == 0 and "warning: MLflow" not in err for rc, err in results), results
    client, exp, runs = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "race")
    assert sorted(r.info.run_name for r in runs) == [f"stage{i}" for i in range(4)]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert exp.tags["mlflow.note.content"] == "the shared description"
    assert exp.artifact_location == (tmp_path / "mlartifacts").as_uri()
    for r in runs:
        assert [a.path for a in client.list_artifacts(r.info.run_id)] == [f"{r.info.run_name}.txt"]


@pytest.fixture
def served(tmp_path):
    """Launch's own server on a fresh project store, while a stage writes to SQLite directly as it
    starts (launch's data preparation beside its early server)."""
    info = server.spawn(tmp_path, "127.0.0.1", tmp_path / "server.log")
    try:
        early = _children(tmp_path, [("stage", "fetch", "fetch@cifar10")])
        server.wait_ready(info)
        yield tmp_path, info["uri"], early
    finally:
        server.stop(info)


def test_server_and_direct_writers_share_experiments_and_artifacts(served):
    root, uri, early = served
    assert early[0][0] == 0 and "warning: MLflow" not in early[0][1], early  # the first stage reached MLflow
    # the server creates "a" (as a job of launch would: the location launch hands it), SQLite creates "b"
    job_env = {"MLFLOW_TRACKING_URI": uri, "REPRO_ARTIFACT_LOCATION": (root / "mlartifacts").as_uri()}
    for env, exp, name in ((job_env, "a", "served-a"), ({}, "b", "direct-b")):
        assert _children(root, [("stage", exp, name)], env)[0][0] == 0
    # a stage created before this fix through the server: an experiment only the server could resolve
    from mlflow.tracking import MlflowClient

    legacy = MlflowClient(uri).create_experiment("legacy")
    assert MlflowClient(uri).get_experiment(legacy).artifact_location.startswith("mlflow-artifacts:")
    # now each writer logs into the other's experiment, both at once
    crossed = [("stage", "b", "served-b"), ("stage", "legacy", "served-legacy")]
    results = _children(root, crossed, job_env)
    results += _children(root, [("stage", "a", "direct-a"), ("stage", "legacy", "direct-legacy")])
    assert all(rc == 0 and "warning: MLflow" not in err for rc, err in results), results
    for exp in ("a", "b", "legacy"):
        client, _, runs = _runs(f"sqlite:///{root / 'mlflow.db'}", exp)
        assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs), exp
        for r in runs:  # on disk under the project's mlartifacts/, and listed by the server too
            name = f"{r.info.run_name}.txt"
            assert [a.path for a in MlflowClient(uri).list_artifacts(r.info.run_id)] == [name], (exp, name)
            assert list((root / "mlartifacts").rglob(name)), (exp, name)
