"""Checkpoint and resume: a run killed with SIGKILL resumes and ends bitwise equal to an
uninterrupted run (CPU, deterministic settings)."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import torch

from pipeline.rundir import CHECKPOINT
from pipeline.rundir import TRAIN_METRICS as METRICS
from pipeline.training import train
from tests.test_training import CPU, make_run

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, torch
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.conftest import register_tiny
    from tests.test_training import CPU, make_run
    from pipeline.training import train

    name = register_tiny()
    run, recipe = make_run(name, epochs=5)

    def log(metrics, epoch):  # called after an epoch's training, before its checkpoint is written
        if epoch == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    train(run, recipe, 0, Path({data!r}), Path({out!r}), CPU, log_metrics=log)
    """
)


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=5)
    reference = train(run, recipe, 0, smoke_data, tmp_path / "ref", CPU)

    out = tmp_path / "killed"
    script = SCRIPT.format(root=os.getcwd(), kill_at=3, data=str(smoke_data), out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 2  # epoch 3 was trained but killed before its checkpoint
    assert not (out / METRICS).exists()

    resumed = train(run, recipe, 0, smoke_data, out, CPU)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    a, b = resumed.model.state_dict(), reference.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ref_metrics = json.loads((tmp_path / "ref" / METRICS).read_text())
    res_metrics = json.loads((out / METRICS).read_text())
    for key in ("final_test_acc", "best_test_acc", "steps", "epochs"):
        assert res_metrics[key] == ref_metrics[key]


def test_a_checkpoint_of_another_configuration_is_not_resumed(tiny_model, smoke_data, tmp_path):
    run, recipe = make_run(tiny_model, epochs=2)
    train(run, recipe, 0, smoke_data, tmp_path, CPU)
    other = run.model_copy(update={"name": "other"})
    torch.save({"config_hash": other.config_hash(), "seed": 0, "epoch": 99}, tmp_path / CHECKPOINT)
    result = train(run, recipe, 0, smoke_data, tmp_path, CPU)
    assert len(result.history) == 2  # started afresh instead of loading foreign state
