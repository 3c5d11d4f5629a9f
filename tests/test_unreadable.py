"""Unreadable run files: a garbage checkpoint is moved aside and the run starts over (one warning,
exit 0); a garbage train.json is counted as not run by render, with a warning naming the file."""

import json
import shutil

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.rundir import CHECKPOINT, TRAIN_METRICS, run_key

runner = CliRunner()
CONFIG = "jay4869-a56-arl"


def smoke_project(tmp_path, smoke_data, runs: dict | None = None):
    (tmp_path / "params.yaml").write_text("profile: smoke\n" + (f"runs: {json.dumps(runs)}\n" if runs else ""))
    shutil.copytree(smoke_data, tmp_path / "smoke" / "data" / "prepared" / "cifar10")
    return tmp_path


def test_a_garbage_checkpoint_is_moved_aside_and_the_run_starts_over(tmp_path, smoke_data):
    root = smoke_project(tmp_path, smoke_data)
    run = root / "smoke" / "runs" / run_key(CONFIG, 0)
    run.mkdir(parents=True)
    (run / CHECKPOINT).write_bytes(b"\x00garbage from a partial copy")
    result = runner.invoke(app, ["--root", str(root), "train", CONFIG])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [next(w for w in warnings if w.startswith(f"warning: {run / CHECKPOINT} is unreadable ("))], (
        warnings
    )
    assert warnings[0].endswith(f"moved it to {CHECKPOINT}.unreadable and starting the run over")
    assert (run / f"{CHECKPOINT}.unreadable").read_bytes() == b"\x00garbage from a partial copy"
    assert not (run / CHECKPOINT).exists()  # the fresh run finished and removed its own checkpoint
    metrics = json.loads((run / TRAIN_METRICS).read_text())
    assert metrics["steps"] == 2 and metrics["epochs"] == 1  # the whole smoke run, from step 0


def test_render_warns_about_an_unreadable_train_json(tmp_path, smoke_data):
    key = run_key(CONFIG, 0)
    runs = {key: {"config": CONFIG, "seed": 0, "source": "jay4869-keras", "dataset": "cifar10"}}
    root = smoke_project(tmp_path, smoke_data, runs)
    (root / "smoke" / "runs" / key).mkdir(parents=True)
    (root / "smoke" / "runs" / key / TRAIN_METRICS).write_text('{"config": "jay4869-a56-arl", "top1_')  # cut short
    result = runner.invoke(app, ["--root", str(root), "render"])
    assert result.exit_code == 0, result.output
    path = root / "smoke" / "runs" / key / TRAIN_METRICS
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {path} is unreadable ("), warnings
    assert warnings[0].endswith("); counted as not run")
