"""A smoke copy of the project for the `repro launch` tests: a few cheap CIFAR-10 configurations, seed 0.

The copy is a plain folder (DVC with ``no_scm``), switched to the smoke profile and restricted to
``configs``; ``repro`` runs in it as a subprocess like a user would, with tracking on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipeline.catalog import get_configuration
from pipeline.dev.demo import copy_project, dvc_env
from pipeline.rundir import run_key
from pipeline.settings import roots
from pipeline.sync import MARKER, run_entry, sync_params
from tests.conftest import ROOT

# the cheapest smoke runs (≈0.5 s of training each), all on CIFAR-10: one fetch serves them all
CHEAP = (
    "columbia-a56-c10-mixed-arl",
    "wang2017-attention56-nal-c10",
    "wang2017-attention56-c10",
    "wang2017-attention56-local-c10",
    "columbia-a56-c10-mixed-nal",
    "wang2017-attention56-spatial-c10",
    "columbia-a56-c10-spatial-arl",
    "wang2017-attention56-channel-c10",
)
SOURCES = {"columbia": "columbia-e4040", "wang2017": "wang2017"}


def smoke_project(dest: Path, configs: tuple[str, ...], launch: dict | None = None, iterations: int | None = None):
    """Copy the project into ``dest``: smoke profile, seed 0 of ``configs``, ``launch:`` settings merged in."""
    copy_project(ROOT, dest)
    (dest / ".dvc").mkdir(exist_ok=True)
    (dest / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    params = dest / "params.yaml"
    sync_params(params, "smoke")
    head = params.read_text().split(MARKER)[0].rstrip("\n")
    data = yaml.safe_load(head)
    if launch:
        data["launch"] = {**data.get("launch", {}), **launch}
    if iterations:  # a history row (an "epoch") every 2 steps: `iterations=24` is 12 epochs
        data["smoke"] |= {"iterations": iterations, "eval_every": 2}
    runs = {run_key(c, 0): run_entry(get_configuration(c), 0) for c in configs}
    block = {"datasets": ["cifar10"], "roots": roots("smoke"), "runs": runs}
    params.write_text(f"{yaml.safe_dump(data, sort_keys=False)}\n{MARKER}\n{yaml.safe_dump(block, sort_keys=False)}")
    return dest


def env(extra: dict | None = None) -> dict:
    out = dvc_env(ROOT)
    out.pop("REPRO_TRACKING", None)  # conftest turns tracking off for unit tests; jobs track for real
    return out | (extra or {})


def repro(project: Path, *args: str, extra_env: dict | None = None, timeout: float = 300, check: bool = True):
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=project,
        env=env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    out.seconds = time.monotonic() - t0
    if check:
        assert out.returncode == 0, f"repro {' '.join(args)} exited {out.returncode}:\n{out.stderr[-5000:]}"
    return out


def records(project: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (project / ".repro" / "jobs").glob("*.json")}


def dvc(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=project, env=env(), capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"dvc {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def mlflow_runs(project: Path, uri: str | None = None) -> dict[str, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri or f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    by_name: dict[str, list] = {}
    for r in runs:
        by_name.setdefault(r.data.tags["stage"], []).append(r)
    return by_name


def assert_stage_runs_tagged(project: Path, runs: dict[str, list], configs, backend: str) -> None:
    """Each config's train and evaluate stage run FINISHED, tagged with its job's backend, id, GPU and host."""
    recs = records(project)
    for c in configs:
        rec = recs[run_key(c, 0)]
        for stage in ("train", "evaluate"):
            (run,) = runs[f"{stage}@{run_key(c, 0)}"]
            assert run.info.status == "FINISHED"
            tags = run.data.tags
            assert (tags["backend"], tags["job_id"], tags["gpu"], tags["host"]) == (
                backend,
                rec["job_id"],
                rec["gpu"],
                rec["host"],
            )
