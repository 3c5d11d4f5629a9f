"""Stage ``train``: one (configuration, seed) run → ``runs/<key>/`` model.pt, history.csv, train.json."""

from __future__ import annotations

import contextlib
import os

from ..inventory import input_shape
from ..rundir import HISTORY, TRAIN_METRICS
from ..settings import Project
from ..tracking import stage_run
from ..training import TrainResult
from ..training import train as train_loop
from .common import Resolved, check_ready, dataset_input, resolve


def train(project: Project, config: str, seed: int = 0, resume: bool = True, tags: dict | None = None) -> TrainResult:
    """Train ``config`` with ``seed`` as this profile runs it, logged as one MLflow run (extra ``tags``)."""
    r = resolve(project, config, seed, tags)
    check_ready(project, r)  # refused input opens no MLflow run
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
