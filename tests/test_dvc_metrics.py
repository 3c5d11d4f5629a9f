"""`dvc metrics show` is readable: one row per run with a dozen headline columns (runs/<key>/metrics.json,
written by evaluate); train.json, eval.json and metrics/summary.json are outputs, not metrics."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.catalog import get_configuration
from pipeline.evaluation import headline
from pipeline.rundir import EVAL_METRICS, HEADLINE_METRICS, TRAIN_METRICS, run_key
from pipeline.sync import run_entry
from tests.conftest import ROOT

TRAINED = {
    "config": "wang2017-resnet164-c10",
    "seed": 1,
    "steps": 64000,
    "epochs": 164,
    "best_test_error": 5.2,
    "best_test_acc": 94.8,
    "train_seconds": 36000.0,
    "seconds_per_epoch": 219.5,
    **{f"extra_train_{i}": float(i) for i in range(30)},  # train.json has dozens of keys
}
EVALUATED = {
    "config": "wang2017-resnet164-c10",
    "top1_acc": 94.5,
    "top1_error": 5.5,
    "top5_acc": 99.8,
    "top5_error": 0.2,
    "test_loss": 0.21,
    "params": 1_703_290,
    **{f"extra_eval_{i}": float(i) for i in range(30)},
}


def test_headline_is_a_dozen_numbers_with_the_sources_figure():
    out = headline(get_configuration("wang2017-resnet164-c10"), TRAINED, EVALUATED)
    numbers = [k for k, v in out.items() if isinstance(v, (int, float))]
    assert 8 <= len(numbers) <= 12, numbers
    assert out["source_metric"] == "top1_error (%)"
    assert out["reported"] == 5.46 and out["reproduced"] == 5.5  # the catalog's figure beside this run's
    assert out["seed"] == 1 and out["epochs"] == 164 and out["train_hours"] == 10.0
    assert out["best_test_error"] == 5.2 and out["params"] == 1_703_290


def metric_paths(stages: dict) -> list[str]:
    paths = []
    for stage in stages.values():
        for entry in stage.get("do", stage).get("metrics", []):
            paths += list(entry) if isinstance(entry, dict) else [entry]
    return paths


def test_only_the_headline_file_is_a_dvc_metric():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert metric_paths(stages) == ["${roots.runs}/${key}/" + HEADLINE_METRICS]


def test_dvc_metrics_show_is_one_row_per_run_with_few_columns(tmp_path):
    """The real `dvc metrics show` on this dvc.yaml with two runs, their full train.json/eval.json and a
    summary.json present: one row per run, at most 15 columns."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["runs"] = {
        run_key("wang2017-resnet164-c10", s): run_entry(get_configuration("wang2017-resnet164-c10"), s) for s in (0, 1)
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    config = get_configuration("wang2017-resnet164-c10")
    for key in params["runs"]:
        run = tmp_path / "runs" / key
        run.mkdir(parents=True)
        (run / TRAIN_METRICS).write_text(json.dumps(TRAINED))
        (run / EVAL_METRICS).write_text(json.dumps(EVALUATED))
        (run / HEADLINE_METRICS).write_text(json.dumps(headline(config, TRAINED, EVALUATED)))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "summary.json").write_text(
        json.dumps({f"c{i}": {"n": 1, "top1_error": 1.0} for i in range(50)})
    )
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    result = subprocess.run([*dvc, "metrics", "show"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    header = lines[0].split()
    assert header[0] == "Path" and len(header) <= 15, header
    assert {"top1_error", "reported", "reproduced", "seed", "epochs", "train_hours"} <= set(header)
    rows = [line.split()[0] for line in lines[1:]]
    assert rows == [f"runs/{key}/{HEADLINE_METRICS}" for key in params["runs"]]
    assert not any(Path(p).name in (TRAIN_METRICS, EVAL_METRICS, "summary.json") for p in rows)
