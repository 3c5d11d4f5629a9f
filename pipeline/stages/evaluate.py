"""Stage ``evaluate``: a trained run's weights → ``runs/<key>/eval.json`` and ``analysis/``."""

from __future__ import annotations

from ..evaluation import evaluate as evaluate_run
from ..rundir import TRAIN_METRICS
from ..settings import Project
from ..tracking import stage_run
from .common import check_inputs, check_ready, dataset_input, resolve


def evaluate(project: Project, config: str, seed: int = 0, tags: dict | None = None) -> dict:
    """Evaluate the run of ``config`` with ``seed`` on the held-out test split; return its metrics."""
    r = resolve(project, config, seed, tags)
    check_inputs(project, r.run, r.config.dataset, trained=True)  # the full profile refuses smoke inputs
    check_ready(project, r, weights=True)  # refused input opens no MLflow run
    r.exe.apply()
    c = r.config
    with stage_run(project.root, c.source, f"evaluate@{r.run.key}", project.profile, r.tags, description=r.note) as t:
        metrics = evaluate_run(c, r.recipe, r.run, project.data_dir(c.dataset), r.exe.device, r.exe.eval_cap)
        t.log_metrics(metrics)
        counts = r.run.read_metrics(TRAIN_METRICS) | metrics  # train/val from training, test from here
        t.log_dataset(**dataset_input(project, c, counts), context="evaluation")
    return metrics
