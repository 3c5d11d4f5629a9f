"""The ``repro`` command line: one sub-command per pipeline stage, plus inspection tools.

DVC stages call these same commands (see dvc.yaml). Errors the user can fix are one line on
stderr with a non-zero exit; machine-readable output goes to stdout.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from functools import cache
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .catalog import CatalogError, all_runs, get_run, load_catalog
from .data import DataError
from .settings import PROFILES, Params, Project, project_root

app = typer.Typer(
    no_args_is_help=True,
    help="Reproduce attention-network papers: fetch, train, evaluate, render.",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class State:
    project: Project


state = State()


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main(
    profile: Annotated[
        str | None, typer.Option(help=f"Profile: {' | '.join(PROFILES)} (default: params.yaml).")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Project root (default: current folder).")] = None,
) -> None:
    if profile is not None and profile not in PROFILES:
        fail(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    state.project = Project(project_root(root), profile)
    if threading.current_thread() is threading.main_thread():  # `kill`, `dvc queue kill`: stop like Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # runs the same clean-up as Ctrl-C (MLflow run KILLED)


def _guard(fn, *args, **kwargs):
    """Run ``fn``; turn the errors a user can fix into one-line messages."""
    from .bench import BenchError
    from .evaluation import CheckpointError
    from .models import UnknownModelError
    from .training import RunLockedError

    errors = (
        CatalogError,
        DataError,
        CheckpointError,
        UnknownModelError,
        FloatingPointError,
        RunLockedError,
        BenchError,
    )
    try:
        return fn(*args, **kwargs)
    except errors as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. a full disk while writing a checkpoint
        fail(f"{exc.strerror or exc}: {exc.filename or ''}; free space or fix permissions, then rerun (it resumes)")


def _params() -> Params:
    """The project's params.yaml, validated (once per process); a malformed file is a one-line error."""
    return _guard(lambda: state.project.params)


def _print_json(result: dict, out_path: Path | None) -> None:
    """``result`` as JSON on stdout and, with ``--out``, written atomically to ``out_path`` too."""
    from .files import write_json

    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(result, out_path)
    print(json.dumps(result, indent=2))


@cache
def model_cost(model: str, options: str, classes: int, size: int) -> tuple[int, int]:
    from .models.cost import model_cost as count

    return count(model, classes, size, **json.loads(options))


def configuration_rows() -> list[dict]:
    from .data import DATASETS
    from .models import model_info

    rows = []
    for run in all_runs().values():
        if run.dataset in DATASETS:
            classes, size = DATASETS[run.dataset].num_classes, DATASETS[run.dataset].image_size
        else:  # a dataset the pipeline cannot fetch (`requires`): the model's own defaults
            info = model_info(run.model)
            classes, size = info.default_classes, info.input_size
        params, macs = model_cost(run.model, json.dumps(run.model_options, sort_keys=True), classes, size)
        rows.append(
            {
                "name": run.name,
                "source": run.source,
                "dataset": run.dataset,
                "model": run.model,
                "model_options": run.model_options,
                "params": params,
                "macs": macs,
                "seeds": list(range(run.runs)),
                "requires": run.requires,
                "reported": [r.model_dump() for r in run.reported],
                "recipe": run.recipe.model_dump(),
                "notes": run.notes,
            }
        )
    return rows


@app.command("list")
def list_configs(as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False) -> None:
    """List every configuration in the catalog with its parameter count, MACs and reported figures."""
    rows = _guard(configuration_rows)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "source", "dataset", "model", "params", "MACs", "reported")
    for r in rows:
        rep = "; ".join(
            f"{x['metric']}={x['value']:g}" if isinstance(x["value"], float) else f"{x['metric']}: {x['value']}"
            for x in r["reported"]
        )
        table.add_row(
            r["name"], r["source"], r["dataset"], r["model"], f"{r['params']:,}", f"{r['macs'] / 1e6:,.1f}M", rep
        )
    out.print(table)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
    classes: Annotated[int | None, typer.Option(help="Number of classes (default: each model's own).")] = None,
) -> None:
    """List every registered model with its trainable parameters and MACs per image."""
    from .models import list_models, model_info

    rows = []
    for name in list_models():
        info = model_info(name)
        k = classes or info.default_classes
        params, macs = model_cost(name, "{}", k, info.input_size)
        rows.append(
            {
                "name": name,
                "family": info.family,
                "classes": k,
                "input_size": info.input_size,
                "params": params,
                "macs": macs,
                "notes": info.notes,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "family", "classes", "input", "params", "MACs")
    for r in rows:
        table.add_row(
            r["name"],
            r["family"],
            str(r["classes"]),
            str(r["input_size"]),
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:,.1f}M",
        )
    out.print(table)


@app.command()
def fetch(
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. cifar10.")],
    archive: Annotated[Path | None, typer.Option(help="A pre-downloaded official archive.")] = None,
) -> None:
    """Fetch a dataset (verify, extract safely, parse) into data/prepared/<dataset>."""
    from .data import dataset_source, register_imagefolder
    from .data import fetch as do_fetch
    from .tracking import stage_run

    project = state.project
    settings = _params().fetch.get(dataset)
    if settings is not None and settings.imagefolder:  # a user's own image-folder dataset
        _guard(register_imagefolder, dataset, project.root / settings.imagefolder)
    _guard(dataset_source, dataset)
    if archive is None and settings is not None and settings.archive:
        archive = project.root / settings.archive
    with stage_run(project.root, "data", f"fetch@{dataset}", project.profile, {"dataset": dataset}) as tracker:
        path, manifest = _guard(
            do_fetch, dataset, project.data_root, project.profile, archive, settings.mirrors if settings else []
        )
        digest_key = next(k for k in manifest if k.startswith("archive_") and k != "archive")
        tracker.log_params(
            {
                "dataset": dataset,
                "archive": manifest["archive"],
                digest_key: manifest[digest_key],
                "profile": project.profile,
            }
        )
        tracker.log_metrics({f"{s}_images": c["images"] for s, c in manifest["splits"].items()})
        tracker.set_tags({"dataset.digest": manifest[digest_key]})
        tracker.log_artifact(path / "manifest.json")
    counts = ", ".join(f"{s} {c['images']:,}" for s, c in manifest["splits"].items())
    err.print(f"prepared {dataset} at {path}: {counts} images, {len(manifest['classes'])} classes")


def run_tags(run, seed: int) -> dict:
    """MLflow tags of a (configuration, seed) run's stages."""
    return {
        "config": run.name,
        "source": run.source,
        "config_hash": run.config_hash(),
        "seed": str(seed),
        "dataset": run.dataset,
        "model": run.model,
    }


def _resolve(config: str, seed: int):
    """The configuration, its recipe and execution settings as this profile runs them, and its MLflow tags."""
    project = state.project
    run = _guard(get_run, config)
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    recipe = _guard(project.recipe, run.recipe, run.dataset)  # both read params.yaml: a malformed one is one line
    exe = _guard(project.execution)
    return run, recipe, exe, run_tags(run, seed)


@app.command()
def train(
    config: Annotated[str, typer.Argument(help="Configuration name (see `repro list`).")],
    seed: Annotated[int, typer.Option(help="Random seed of this run.")] = 0,
    resume: Annotated[bool, typer.Option(help="Resume from the last complete checkpoint.")] = True,
) -> None:
    """Train one configuration with one seed into runs/<config>-s<seed>/."""
    from .tracking import stage_run
    from .training import HISTORY
    from .training import train as do_train

    project = state.project
    run, recipe, exe, tags = _resolve(config, seed)
    run_dir = project.run_dir(run.name, seed)
    with stage_run(
        project.root, run.source, f"train@{run.name}-s{seed}", project.profile, tags, system_metrics=True
    ) as tracker:
        tracker.log_params(
            {
                "model": run.model,
                "dataset": run.dataset,
                "seed": seed,
                **recipe.model_dump(),
                **{f"model.{k}": v for k, v in run.model_options.items()},
            }
        )
        result = _guard(
            do_train,
            run,
            recipe,
            seed,
            project.data_root / "prepared" / run.dataset,
            run_dir,
            exe,
            log_metrics=tracker.log_metrics,
            resume=resume,
        )
        tracker.log_params({"execution": str(exe)})
        tracker.log_metrics({k: v for k, v in result.metrics.items() if k != "seed"})
        tracker.log_artifact(run_dir / HISTORY)
        tracker.log_dict(result.metrics, "train.json")
        if project.profile != "smoke":  # smoke runs skip the model artifact (hundreds of MB over the catalog)
            log_model(tracker, result.model, run)
    err.print(
        f"{run.name} seed {seed}: final test acc {result.metrics['final_test_acc']:.2f}%"
        f" after {result.metrics['steps']} steps"
    )


def log_model(tracker, model, run) -> None:
    """Log the trained model to MLflow (pickle flavour: torch.export is slow for these CNNs)."""
    if tracker.mlflow is None:
        return
    import torch

    from .models import model_info

    size = model_info(run.model).input_size
    example = torch.zeros(1, 3, size, size).numpy()
    try:
        tracker.mlflow.pytorch.log_model(
            model.cpu().eval(), name="model", serialization_format="pickle", input_example=example
        )
    except Exception as exc:  # tracking never stops a stage
        err.print(f"warning: MLflow: could not log the model ({exc})")


@app.command()
def evaluate(
    config: Annotated[str, typer.Argument(help="Configuration name (see `repro list`).")],
    seed: Annotated[int, typer.Option(help="Seed of the run to evaluate.")] = 0,
) -> None:
    """Evaluate a trained run on the held-out test split; write runs/<config>-s<seed>/eval.json."""
    from .evaluation import evaluate as do_evaluate
    from .tracking import stage_run

    project = state.project
    run, recipe, exe, tags = _resolve(config, seed)
    exe.apply()
    with stage_run(project.root, run.source, f"evaluate@{run.name}-s{seed}", project.profile, tags) as tracker:
        metrics = _guard(
            do_evaluate,
            run,
            recipe,
            project.run_dir(run.name, seed),
            project.data_root / "prepared" / run.dataset,
            exe.device,
            exe.eval_cap,
        )
        tracker.log_metrics(metrics)
    print(json.dumps(metrics))


@app.command()
def render() -> None:
    """Render every source table into paper_tables/: reported beside reproduced, with verdicts."""
    from .figures import render_figures
    from .tables import render_all
    from .tracking import git_commit, stage_run

    project = state.project
    params = _params()
    sources = _guard(load_catalog)
    seeds: dict[str, list[int]] = {}
    for entry in params.runs.values():
        seeds.setdefault(entry.config, []).append(entry.seed)
    context = {"profile": project.profile, "commit": git_commit(project.root)}
    with stage_run(project.root, "tables", "render", project.profile) as tracker:
        summary_path = project.root / "metrics" / "summary.json"
        written = render_all(sources, project.runs_dir, project.tables_dir, seeds, context, summary_path)
        tracker.log_artifact(summary_path)
        figures = render_figures(sources, project.runs_dir, seeds, project.tables_dir / "figures", project.profile)
        for path in written:
            tracker.log_artifact(path, "paper_tables")
        for path in figures:
            tracker.log_artifact(path, "paper_tables/figures")
        written += figures
    err.print(f"rendered {len(written)} files into {project.tables_dir}")


@app.command()
def sync(
    check: Annotated[bool, typer.Option("--check", help="Only report whether params.yaml is in sync.")] = False,
) -> None:
    """Write the catalog's (configuration, seed) runs and datasets into params.yaml's generated block."""
    from .stages import sync_params

    project = state.project
    profile = _guard(lambda: project.profile)  # from params.yaml unless --profile: a malformed file is one line
    changed = _guard(sync_params, project.root / "params.yaml", profile, write=not check)
    if check and changed:
        fail("params.yaml runs/datasets are out of date with reproduce/*.yaml; run `repro sync`", 1)
    err.print("params.yaml " + ("updated" if changed and not check else "is in sync"))


@app.command()
def bench(
    config: Annotated[str, typer.Argument(help="Configuration name (see `repro list`).")],
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default: the recipe's).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Timed training steps per path.")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps first (compilation, autotuning).")] = 5,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the JSON here (atomically).")] = None,
    processes: Annotated[
        str | None, typer.Option(help="e.g. 1,2,4: aggregate img/s of N concurrent training processes instead.")
    ] = None,
) -> None:
    """Time one configuration on synthetic data: the fast path (params.yaml train:) vs eager fp32,
    or with --processes the throughput of N training processes sharing this device."""
    from .bench import bench as do_bench
    from .bench import concurrency

    exe = _params().train.execution()
    counts = None
    if processes is not None:
        try:
            counts = [int(n) for n in processes.split(",")]
        except ValueError:
            counts = []
        if not counts or min(counts) < 1:
            fail(f"--processes must be positive integers separated by commas, e.g. 1,2,4 (got {processes!r})")
        result = _guard(concurrency, config, counts, batch_size, steps=steps, warmup=warmup, exe=exe)
    else:
        result = _guard(do_bench, config, batch_size, steps=steps, warmup=warmup, exe_fast=exe)
    _print_json(result, out_path)
    if counts is not None:
        rows = ", ".join(
            f"N={r['processes']} {r['aggregate_images_per_s']:,.1f}"
            + (f" (×{r['ratio_to_one']:.2f})" if r["ratio_to_one"] is not None else "")
            for r in result["results"]
        )
        err.print(f"{config} on {result['device_name']}: aggregate img/s train {rows}", highlight=False)
        return
    err.print(
        f"{config} on {result['device_name']}: {result['fast']['train_images_per_s']:,.0f} img/s train (fast),"
        f" {result['eager']['train_images_per_s']:,.0f} (eager fp32), ×{result['speedup_fast_over_eager']:.2f}"
    )


@app.command()
def plan(
    configs: Annotated[
        list[str] | None, typer.Argument(help="Configurations (default: all without `requires`).")
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps per distinct benchmark.")] = 10,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps first.")] = 3,
    batch_size: Annotated[
        int | None, typer.Option(help="Benchmark batch (default: each recipe's; smaller = extrapolated).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N selected configurations.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the JSON here (atomically).")] = None,
) -> None:
    """Estimate the wall time and GPU-hours of training the catalog on this device, before training it."""
    from .bench import plan as do_plan

    exe = _params().train.execution()
    result = _guard(
        do_plan,
        configs or None,
        exe=exe,
        steps=steps,
        warmup=warmup,
        limit=limit,
        batch_size=batch_size,
        progress=lambda message: err.print(message, highlight=False),
    )
    _print_json(result, out_path)
    gpu = f" = {result['gpu_hours']:,.1f} GPU-hours" if result["gpu_hours"] is not None else ""
    err.print(
        f"{len(result['configs'])} configurations, {result['total_runs']} runs on {result['device_name']}:"
        f" {result['total_hours']:,.1f} h{gpu}"
    )


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port to serve on (127.0.0.1).")] = 5000,
    store: Annotated[Path | None, typer.Option(help="SQLite store (default: the project's mlflow.db).")] = None,
) -> None:
    """Start the MLflow UI on this project's tracking store and print its URL."""
    import subprocess

    from .tracking import tracking_uri

    uri = f"sqlite:///{store.resolve()}" if store else tracking_uri(state.project.root)
    url = f"http://127.0.0.1:{port}"
    print(url, flush=True)
    err.print(f"MLflow UI for {uri} at {url} (Ctrl-C to stop)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    raise typer.Exit(subprocess.call(cmd))


@app.command()
def demo(
    dest: Annotated[Path, typer.Option(help="Where the smoke copy of the project runs.")] = Path(".demo"),
    preload: Annotated[
        bool, typer.Option(help="Run stages in a preloaded interpreter (imports once, not per stage).")
    ] = True,
) -> None:
    """Run the whole DVC pipeline in the smoke profile in a git-ignored copy; tables → paper_tables/smoke/."""
    from .demo import run_demo

    project = state.project
    dest = dest if dest.is_absolute() else project.root / dest
    code = _guard(run_demo, project.root, dest, preload=preload)
    raise typer.Exit(code)
