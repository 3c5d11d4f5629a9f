"""``repro plan``: the catalog's estimated wall time and GPU-hours on this device, before training it.

Short benchmarks (``timing.bench``, fast path only) become: steps in the full recipe × the measured
step time, plus one evaluation pass (validation + test images at the measured inference speed) per
epoch, × seeds.
"""

from __future__ import annotations

import json
import math

import torch

from ..catalog import Configuration, Recipe, all_configurations, get_configuration
from ..data import split_sizes
from ..execution import Execution
from ..inventory import input_shape
from .machine import environment
from .timing import bench, execution_dict, execution_on, rounded

# Official test-set sizes (DatasetSource records only the training-set size).
TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "tinyimagenet": 10_000, "cifar10-jpeg": 10_000}


def schedule_of(run: Configuration, recipe: Recipe | None = None) -> dict:
    """Steps, epochs and images evaluated per epoch of one run of the full recipe."""
    from ..data import DATASETS

    recipe = recipe or run.recipe
    official = DATASETS[run.dataset].train_images if run.dataset in DATASETS else 50_000
    v = recipe.validation
    train, val = split_sizes(official, v.kind, size=v.size, fraction=v.fraction, train_size=v.train_size)
    epoch_steps = (train // recipe.batch_size) if recipe.drop_last else math.ceil(train / recipe.batch_size)
    steps = recipe.iterations or recipe.epochs * epoch_steps
    epochs = math.ceil(steps / epoch_steps)
    test = TEST_IMAGES.get(run.dataset, 10_000)
    return {
        "train_images": train,
        "val_images": val,
        "test_images": test,
        "epoch_steps": epoch_steps,
        "steps": steps,
        "epochs": epochs,
        "eval_images_per_epoch": val + test,
    }


def plan(
    runs: list[str] | None = None,
    device: torch.device | str | None = None,
    exe: Execution | None = None,
    steps: int = 10,
    warmup: int = 3,
    limit: int | None = None,
    batch_size: int | None = None,
    progress=None,
) -> dict:
    """Estimated wall time of training ``runs`` (default: every configuration without ``requires``).

    Each distinct (model, options, batch, classes, image size) is benchmarked once on the fast path
    (``exe``) with ``steps`` timed steps. ``batch_size`` overrides the benchmark batch (cheap CPU
    plans); the recipe's batch is then extrapolated from the measured time per image. ``limit``
    keeps the first ``limit`` selected configurations. ``progress(message)`` is called per benchmark.
    """
    catalog = all_configurations()
    names = list(catalog) if runs is None else list(runs)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        get_configuration(unknown[0])  # raises CatalogError with a did-you-mean hint
    selected = [catalog[n] for n in names if not catalog[n].requires]
    skipped = [n for n in names if catalog[n].requires]
    if limit is not None:
        selected = selected[:limit]
    exe = execution_on(exe, device)
    device = exe.device

    measured: dict[str, dict] = {}
    rows = []
    for run in selected:
        classes, size = input_shape(run)
        batch = batch_size or run.recipe.batch_size
        key = json.dumps([run.model, run.model_options, batch, classes, size], sort_keys=True)
        if key not in measured:
            if progress is not None:
                progress(f"bench {run.name} ({run.model}, batch {batch})")
            measured[key] = bench(run, batch, steps=steps, warmup=warmup, exe_fast=exe, eager=False) | {
                "first_config": run.name
            }
        m = measured[key]
        sched = schedule_of(run)
        fast = m["fast"]
        step_s = run.recipe.batch_size / fast["train_images_per_s"]  # = measured step time at the recipe batch
        train_s = sched["steps"] * step_s
        eval_s = sched["epochs"] * sched["eval_images_per_epoch"] / fast["inference_images_per_s"]
        per_run = train_s + eval_s
        rows.append(
            {
                "config": run.name,
                "model": run.model,
                "dataset": run.dataset,
                "batch_size": run.recipe.batch_size,
                "bench_batch_size": batch,
                "extrapolated": batch != run.recipe.batch_size,
                **sched,
                "runs": run.n_seeds,
                "step_ms": 1e3 * step_s,
                "train_images_per_s": fast["train_images_per_s"],
                "inference_images_per_s": fast["inference_images_per_s"],
                "train_seconds_per_run": train_s,
                "eval_seconds_per_run": eval_s,
                "seconds_per_run": per_run,
                "seconds": per_run * run.n_seeds,
                "train_pflop": run.n_seeds * sched["steps"] * run.recipe.batch_size * m["train_flops_per_image"] / 1e15,
            }
        )
    total_s = sum(r["seconds"] for r in rows)
    hours = total_s / 3600
    return rounded(
        {
            **environment(device),
            "execution": execution_dict(exe),
            "steps": steps,
            "warmup": warmup,
            "batch_size_override": batch_size,
            "configs": rows,
            "skipped_requires": skipped,
            "benchmarks": len(measured),
            "total_runs": sum(r["runs"] for r in rows),
            "total_seconds": total_s,
            "total_hours": hours,
            "gpu_hours": hours if device.type == "cuda" else None,
            "total_train_pflop": sum(r["train_pflop"] for r in rows),
        }
    )


def describe(result: dict) -> str:
    """One line for the terminal (and a second when the plan leaves part of the catalog out)."""
    from ..planfile import coverage_note

    gpu = f" = {result['gpu_hours']:,.1f} GPU-hours" if result["gpu_hours"] is not None else ""
    line = (
        f"{len(result['configs'])} configurations, {result['total_runs']} runs on {result['device_name']}:"
        f" {result['total_hours']:,.1f} h{gpu}"
    )
    note = coverage_note(result)
    return line + (f"\nnote: {note}" if note else "")
