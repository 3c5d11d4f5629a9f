"""Faults: full disk on checkpoint write, concurrent training, NaN, Ctrl-C; tracking status."""

import errno
import threading

import pytest
import torch

from pipeline import training
from pipeline.rundir import CHECKPOINT, MODEL, RunDir, RunLockedError
from pipeline.tracking import stage_run
from pipeline.training import train
from tests.test_training import CPU, make_run


def test_disk_full_on_checkpoint_keeps_the_previous_checkpoint(tiny_model, smoke_data, tmp_path, monkeypatch):
    run, recipe = make_run(tiny_model, epochs=3)
    real_save, calls = torch.save, []

    def failing_save(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the second epoch's checkpoint
            with open(path, "wb") as fh:
                fh.write(b"partial")  # a torn write ...
            raise OSError(errno.ENOSPC, "No space left on device", str(path))  # ... then the disk is full
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(training.torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        train(run, recipe, 0, smoke_data, tmp_path, CPU)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)  # still the first epoch's, intact
    assert state["epoch"] == 1
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / MODEL).exists()
    monkeypatch.setattr(training.torch, "save", real_save)
    resumed = train(run, recipe, 0, smoke_data, tmp_path, CPU)  # space freed: the rerun resumes
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_a_second_training_of_the_same_run_is_refused(tmp_path):
    entered, release = threading.Event(), threading.Event()

    def hold():
        with RunDir(tmp_path, "t", 0).lock():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(10)
    try:
        with pytest.raises(RunLockedError, match="being trained by another process"):
            with RunDir(tmp_path, "t", 0).lock():
                pass
    finally:
        release.set()
        t.join()
    with RunDir(tmp_path, "t", 0).lock():  # free again once the first finished
        pass


def test_nan_names_epoch_and_step_and_keeps_the_last_good_checkpoint(tiny_model, smoke_data, tmp_path):
    # fine in epoch 1, then the learning rate jumps ×1e30 and the loss becomes non-finite in epoch 2
    run, recipe = make_run(tiny_model, epochs=3, schedule={"milestones": [1], "gamma": 1e30})
    with pytest.raises(FloatingPointError, match=r"loss is (nan|inf) in epoch 2 \(step 26\)"):
        train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["epoch"] == 1
    assert not (tmp_path / MODEL).exists()  # no final weights from a failed run


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRO_TRACKING", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def _status(client, name):
    exp = client.get_experiment_by_name("faults")
    (run,) = client.search_runs([exp.experiment_id], f"tags.stage = '{name}'")
    return run.info.status


def test_failed_and_interrupted_stages_are_marked_in_mlflow(store, tmp_path):
    with pytest.raises(FloatingPointError):
        with stage_run(tmp_path, "faults", "train@nan", "smoke"):
            raise FloatingPointError("loss is nan in epoch 2 (step 7)")
    with pytest.raises(KeyboardInterrupt):
        with stage_run(tmp_path, "faults", "train@ctrl-c", "smoke"):
            raise KeyboardInterrupt
    with stage_run(tmp_path, "faults", "train@ok", "smoke") as run:
        run.log_metrics({"x": 1.0})
    assert _status(store, "train@nan") == "FAILED"
    assert _status(store, "train@ctrl-c") == "KILLED"
    assert _status(store, "train@ok") == "FINISHED"


def test_an_unreachable_tracking_server_never_stops_a_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("REPRO_TRACKING", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with stage_run(tmp_path, "faults", "train@offline", "smoke") as run:
        run.log_metrics({"x": 1.0})
        done = True
    assert done
    assert "warning: MLflow" in capsys.readouterr().err
