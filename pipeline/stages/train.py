"""Stage ``train``: one (configuration, seed) run → ``runs/<key>/`` model.pt, history.csv, train.json.

Finished means finished: a run whose weights, history and train.json are on disk and whose recorded
provenance (``common.provenance``: profile, configuration hash, recipe as run, determinism, data and
code digests) matches today's is left alone (one line says so). ``retrain`` trains it again; a finished
run is never overwritten: it is first moved to ``.repro/aside/``."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..inventory import input_shape
from ..rundir import HISTORY, TRAIN_METRICS
from ..settings import Project
from ..tracking import stage_run
from ..training import TrainResult
from ..training import train as train_loop
from .common import Resolved, check_inputs, check_ready, dataset_input, provenance, resolve


@dataclass
class Finished:
    """``train`` found the run finished and current: nothing was done."""

    message: str


def changes(project: Project, r: Resolved) -> list[str] | None:
    """None when the run has not finished; else how its provenance today differs from what it recorded
    ([] = current; a key the run did not record, trained before it existed, is no change)."""
    if not r.run.finished():
        return None
    recorded, now = r.run.read_metrics(TRAIN_METRICS), provenance(project, r)
    return [f"{k}: {recorded[k]} → {v}" for k, v in now.items() if k in recorded and recorded[k] != v]


def set_aside(project: Project, r: Resolved, why: str) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    dest = r.run.move_aside(project.root / ".repro" / "aside" / project.profile / f"{r.run.key}-{stamp}")
    print(f"{r.run.path}: {why}; moved the previous result to {dest}", file=sys.stderr, flush=True)


def train(
    project: Project,
    config: str,
    seed: int = 0,
    resume: bool = True,
    tags: dict | None = None,
    retrain: bool = False,
    before: Callable[[], None] | None = None,
) -> TrainResult | Finished:
    """Train ``config`` with ``seed`` as this profile runs it, logged as one MLflow run (extra ``tags``);
    a finished, current run is left alone unless ``retrain``. ``before()`` runs once the run is known to
    need training (the CLI's GPU preflight; not a dependency of the stage, so it stays out of its code)."""
    r = resolve(project, config, seed, tags)
    check_inputs(project, r.run, r.config.dataset, trained=not retrain)  # smoke inputs in the full profile
    changed = changes(project, r)
    if changed == [] and not retrain:
        return Finished(
            f"{r.run.key} is finished and current ({r.run.file(TRAIN_METRICS)}): nothing to do; "
            "`--retrain` trains it again (the previous result is moved aside)"
        )
    if before is not None:
        before()
    check_ready(project, r)  # refused input opens no MLflow run
    if changed is not None:  # before the lock: moving the run aside takes it
        set_aside(project, r, "retraining as asked" if not changed else f"stale ({'; '.join(changed)})")
    lead = int(os.environ.get("RANK", "0")) == 0
    with r.run.lock() if lead else contextlib.nullcontext():  # a run being trained is refused here too
        return _tracked(project, r, seed, resume)


def _tracked(project: Project, r: Resolved, seed: int, resume: bool) -> TrainResult:
    c = r.config
    previous = r.run.tracked_run() if resume else None  # an interrupted training: continue its MLflow run
    run_name = f"train@{r.run.key}"
    with stage_run(project.root, c.source, run_name, project.profile, r.tags, True, r.note, previous) as t:
        if t.run_id is not None:
            r.run.set_tracked_run(t.run_id)
        t.log_params(
            {
                "model": c.model,
                "dataset": c.dataset,
                "seed": seed,
                **r.recipe.model_dump(),
                **{f"model.{k}": v for k, v in c.model_options.items()},
            }
        )
        result = train_loop(
            c,
            r.recipe,
            seed,
            project.data_dir(c.dataset),
            r.run.path,
            r.exe,
            log_metrics=t.log_metrics,
            resume=resume,
            log_every=project.params.train.log_every_seconds,
            lock=False,
            provenance=provenance(project, r),
        )
        t.log_params({f"execution.{k}": v for k, v in result.metrics.get("execution", {}).items()})
        t.log_dataset(**dataset_input(project, c, result.metrics), context="training")
        t.log_metrics({k: v for k, v in result.metrics.items() if k != "seed"})
        t.log_artifact(r.run.file(HISTORY))
        t.log_dict(result.metrics, TRAIN_METRICS)
        if project.profile != "smoke":  # smoke runs skip the model artifact (hundreds of MB over the catalog)
            t.log_model(result.model, input_shape(c)[1])
    r.run.set_tracked_run(None)  # finished: a later training is a new MLflow run
    return result
