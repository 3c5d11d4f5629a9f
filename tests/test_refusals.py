"""Issue 21, newcomer items 9, 12 and 13: refused commands are one line, write nothing and open no MLflow run;
Ctrl-C prints a line; a resumed training continues its MLflow run; `repro ui` refuses a taken port and a
missing store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.rundir import CHECKPOINT, TRACKED_RUN, TRAIN_METRICS, RunDir, run_key
from tests.conftest import ROOT

runner = CliRunner()
CONFIG = "jay4869-a56-arl"  # CIFAR-10, a cheap smoke run


@pytest.fixture
def tracked(tmp_path, smoke_data, monkeypatch):
    """A smoke project with prepared CIFAR-10 whose stages track into ``tmp_path/mlflow.db``."""
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    shutil.copytree(smoke_data, tmp_path / "smoke" / "data" / "prepared" / "cifar10")
    monkeypatch.delenv("REPRO_TRACKING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def stage_runs(root) -> list:
    """Every MLflow run in the project's store (none when no store was created)."""
    if not (root / "mlflow.db").exists():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def one_error_line(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_seed_out_of_range_is_one_line_and_writes_nothing(tracked):
    result = runner.invoke(app, ["--root", str(tracked), "train", CONFIG, "--seed", "99999999999"])
    assert result.exit_code == 2
    assert one_error_line(result) == "error: --seed must be between 0 and 4294967295 (2**32 - 1), got 99999999999"
    assert not (tracked / "smoke" / "runs").exists() and stage_runs(tracked) == []


def test_missing_data_and_missing_weights_open_no_tracked_run(tracked):
    shutil.rmtree(tracked / "smoke" / "data")
    result = runner.invoke(app, ["--root", str(tracked), "train", CONFIG])
    assert result.exit_code == 2 and "run `repro fetch cifar10` first" in one_error_line(result)
    assert stage_runs(tracked) == []


def test_evaluate_hint_keeps_the_seed_and_opens_no_run(tracked):
    result = runner.invoke(app, ["--root", str(tracked), "evaluate", CONFIG, "--seed", "3"])
    assert result.exit_code == 2
    assert one_error_line(result).endswith(f"run `repro train {CONFIG} --seed 3` first")
    assert stage_runs(tracked) == []


def test_a_run_being_trained_is_refused_before_a_tracked_run_opens(tracked):
    entered, release = threading.Event(), threading.Event()

    def hold():
        with RunDir.of(tracked / "smoke" / "runs", CONFIG, 0).lock():
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        result = runner.invoke(app, ["--root", str(tracked), "train", CONFIG])
    finally:
        release.set()
        holder.join()
    assert result.exit_code == 2 and "is being trained by another process" in one_error_line(result)
    assert stage_runs(tracked) == []


def test_ctrl_c_prints_a_line_and_the_resumed_training_continues_the_same_mlflow_run(tracked):
    (tracked / "params.yaml").write_text("profile: smoke\nsmoke: {iterations: 12, eval_every: 1}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("REPRO_TRACKING", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "pipeline", "--root", str(tracked), "train", CONFIG]
    run = tracked / "smoke" / "runs" / run_key(CONFIG, 0)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (run / CHECKPOINT).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted (Ctrl-C); files written so far are complete"), err
    (killed,) = stage_runs(tracked)
    assert killed.info.status == "KILLED"
    assert (run / TRACKED_RUN).read_text().strip() == killed.info.run_id
    interrupted_at = len(killed.data.metrics) and max(
        m.step for m in _history(tracked, killed.info.run_id, "train_loss")
    )

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    (finished,) = stage_runs(tracked)  # one MLflow run, reopened: the curve is not split in two
    assert finished.info.run_id == killed.info.run_id and finished.info.status == "FINISHED"
    steps = [m.step for m in _history(tracked, finished.info.run_id, "train_loss")]
    epochs = json.loads((run / TRAIN_METRICS).read_text())["epochs"]  # early stopping may end it before 12
    assert sorted(steps) == list(range(1, epochs + 1)) and interrupted_at < epochs  # no gap, no repeat
    assert not (run / TRACKED_RUN).exists()  # finished: the next training is a new run
    assert finished.info.run_name == "a56-arl-s0 · train" and finished.data.tags["stage"] == f"train@{run.name}"


def _history(root, run_id: str, metric: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}").get_metric_history(run_id, metric)


def test_repro_ui_refuses_a_missing_store_with_its_path(tmp_path):
    result = runner.invoke(app, ["--root", str(tmp_path), "ui", "--store", str(tmp_path / "mlfow.db")])
    assert result.exit_code == 2
    assert one_error_line(result).startswith(f"error: no MLflow store at {tmp_path / 'mlfow.db'};")
    assert not (tmp_path / "mlfow.db").exists() and result.stdout == ""


def test_repro_ui_refuses_a_port_in_use_with_a_free_one(tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["--root", str(tmp_path), "ui", "--port", str(port)])
    assert result.exit_code == 2 and result.stdout == ""  # no URL of a server that is not ours
    line = one_error_line(result)
    assert line.startswith(f"error: port {port} is already in use on 127.0.0.1; pick a free one, e.g. `repro ui")
    free = int(line.rsplit("--port ", 1)[1].rstrip("`"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", free))  # the suggested port is free


def test_fetch_of_a_missing_archive_opens_no_tracked_run(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRO_TRACKING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "params.yaml").write_text("profile: full\n")
    missing = tmp_path / "cifar-10-pyton.tar.gz"
    result = runner.invoke(app, ["--root", str(tmp_path), "fetch", "cifar10", "--archive", str(missing)])
    assert result.exit_code == 2
    assert one_error_line(result).startswith(f"error: archive {missing} not found; check the path")
    assert stage_runs(tmp_path) == [] and not (tmp_path / "smoke" / "data").exists()
