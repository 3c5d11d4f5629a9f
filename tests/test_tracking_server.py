"""Team set-up: stages log to a shared `mlflow server` (PostgreSQL backend, served artifacts).

A throw-away PostgreSQL cluster and MLflow server run on 127.0.0.1; the smoke profile's cheapest
configuration is fetched, trained and evaluated in a copy of the project with
``MLFLOW_TRACKING_URI`` pointing at the server. Then the server is killed mid-training: training
must still finish, write its local metrics and say on stderr that tracking failed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipeline.dev.demo import copy_project, dvc_env
from pipeline.sync import sync_params
from tests._servers import Unavailable, mlflow_server, postgres
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

CONFIG, DATASET, SOURCE = "columbia-a56-c10-spatial-arl", "cifar10", "columbia-e4040"  # the cheapest smoke run
STAGE_TIMEOUT = 240  # seconds per CLI stage (smoke train ≈ 25 s on a 2-core CPU)
AFTER_KILL_TIMEOUT = 120  # the rest of an 8-step smoke train (≈ 15 s) plus bounded tracking retries


@pytest.fixture(scope="module")
def database():
    try:
        with postgres() as uri:
            yield uri
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL for the team tracking server: {exc}")


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="team-tracking-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def server(database, workdir):
    with mlflow_server(database, workdir / "artifacts", workdir / "server.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def project(workdir):
    dest = workdir / "project"
    copy_project(ROOT, dest)
    sync_params(dest / "params.yaml", "smoke")
    return dest


def env_for(url: str) -> dict:
    env = dvc_env(ROOT)  # PATH → .venv/bin, no inherited MLFLOW_TRACKING_URI / DVC_ROOT
    env.pop("REPRO_TRACKING", None)  # conftest turns tracking off for unit tests
    env["MLFLOW_TRACKING_URI"] = url
    return env


def repro(project: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline", "--profile", "smoke", *args]
    out = subprocess.run(cmd, cwd=project, env=env_for(url), capture_output=True, text=True, timeout=STAGE_TIMEOUT)
    assert out.returncode == 0, f"{' '.join(args)} exited {out.returncode}:\n{out.stderr[-4000:]}"
    assert "warning: MLflow" not in out.stderr, out.stderr[-4000:]  # the server was up: no tracking failure
    return out


@pytest.fixture(scope="module")
def pipeline_runs(server, project):
    """fetch → train → evaluate of one smoke configuration against the team server.

    Everything the tests read from the server is collected here, while it is up: the last test kills it.
    """
    from mlflow.tracking import MlflowClient

    for args in (("fetch", DATASET), ("train", CONFIG), ("evaluate", CONFIG)):
        repro(project, server.url, *args)
    client = MlflowClient(server.url)
    runs = {r.data.tags["stage"]: r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])}
    train = runs.get(f"train@{CONFIG}-s0")
    artifacts = {a.path for a in client.list_artifacts(train.info.run_id)} if train else set()
    return runs, artifacts


def test_every_stage_lands_finished_in_the_team_server(pipeline_runs):
    runs, _ = pipeline_runs
    key = f"{CONFIG}-s0"
    expected = {f"fetch@{DATASET}", f"train@{key}", f"evaluate@{key}"}
    assert expected <= set(runs), sorted(runs)
    for name in expected:
        run = runs[name]
        assert run.info.status == "FINISHED", (name, run.info.status)
        assert run.data.tags["profile"] == "smoke"
        assert run.data.tags["stage"] == name
    for name in (f"train@{key}", f"evaluate@{key}"):
        tags = runs[name].data.tags
        assert tags["config"] == CONFIG and tags["source"] == SOURCE and tags["seed"] == "0"
    assert "final_test_acc" in runs[f"train@{key}"].data.metrics
    assert "top1_error" in runs[f"evaluate@{key}"].data.metrics
    assert runs[f"fetch@{DATASET}"].data.tags["dataset.digest"]


def test_metric_history_is_stored_in_postgres(pipeline_runs, database):
    """The server really writes to PostgreSQL (not a stray local store): read the table directly."""
    import sqlalchemy

    runs, _ = pipeline_runs
    run_id = runs[f"train@{CONFIG}-s0"].info.run_id
    engine = sqlalchemy.create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT key FROM metrics WHERE run_uuid = :r"), {"r": run_id})
            keys = {row[0] for row in rows}
    finally:
        engine.dispose()
    assert {"lr", "train_loss", "final_test_acc"} <= keys, sorted(keys)


def test_artifacts_go_through_the_server(pipeline_runs, workdir, project):
    runs, names = pipeline_runs
    run = runs[f"train@{CONFIG}-s0"]
    assert {"history.csv", "train.json"} <= names
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
    assert list((workdir / "artifacts").rglob("history.csv"))
    assert not (project / "mlartifacts").exists()


def _read_lines(stream, lines: list[str], seen_epoch: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if re.search(r"\bepoch 1 step\b", line):
            seen_epoch.set()


def test_training_survives_the_server_dying(server, project, pipeline_runs):
    """Kill the server after the first epoch: exit 0, complete local metrics, a clear warning, no long stall.

    Runs last: it kills the module's server (the other tests read what ``pipeline_runs`` collected).
    """
    params = project / "params.yaml"
    text = params.read_text()
    longer = re.sub(r"(?m)^(  iterations:) *\d+", r"\1 8", text, count=1)  # smoke: 8 steps
    assert longer != text
    params.write_text(longer)
    key = f"{CONFIG}-s1"  # a fresh run directory: seed 0 is already trained
    lines: list[str] = []
    seen_epoch = threading.Event()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--profile", "smoke", "train", CONFIG, "--seed", "1"],
        cwd=project,
        env=env_for(server.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = threading.Thread(target=_read_lines, args=(proc.stderr, lines, seen_epoch), daemon=True)
    reader.start()
    try:
        assert seen_epoch.wait(timeout=STAGE_TIMEOUT), "no epoch line:\n" + "".join(lines)[-4000:]
        assert proc.poll() is None, "training ended before the server could be killed"
        server.kill()
        killed = time.monotonic()
        try:
            code = proc.wait(timeout=AFTER_KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"training still running {AFTER_KILL_TIMEOUT} s after the tracking server died (MLflow's HTTP "
                "retries: 7 with exponential backoff, ~4 min per call, unless tracking bounds them):\n"
                + "".join(lines)[-4000:]
            )
        after_kill = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        reader.join(timeout=30)
    stderr = "".join(lines)
    assert code == 0, stderr[-4000:]
    run_dir = project / "smoke" / "runs" / key
    metrics = json.loads((run_dir / "train.json").read_text())
    assert metrics["steps"] == 8
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    every = yaml.safe_load(longer)["smoke"]["eval_every"]  # an "epoch" is eval_every smoke steps
    assert [int(r["epoch"]) for r in history] == list(range(1, 8 // every + 1))
    assert (run_dir / "model.pt").is_file()
    assert "final test acc" in stderr
    assert re.search(r"warning: MLflow: .*tracking is off", stderr), stderr[-4000:]
    print(f"training finished {after_kill:.1f} s after the server was killed", file=sys.stderr)
