"""Inspection and speed tools: list, models, bench, plan, seeds, ui, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import base
from .base import Config, app, err, fail, guard, print_json, state

Wide = Annotated[bool, typer.Option("--wide", help="Every column, however wide (the terminal folds lines).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def _print_fitted(fitted) -> None:
    """A ``terminal.Fitted`` table: at the terminal's width, or wider (``--wide``, a name longer than the
    terminal): then the terminal folds the lines, and nothing is cut."""
    out = base.out  # looked up at call time (tests narrow it)
    console = out if fitted.width <= out.width else Console(width=fitted.width, force_terminal=out.is_terminal)
    console.print(fitted.table, crop=False)


def _show(rows: list[dict], table, as_json: bool, wide: bool) -> None:
    """JSON on stdout, or the table fitted to the terminal (``--wide``: every column)."""
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _print_fitted(table(rows, base.out.width, wide))


def _costs():
    """The counts' cache under the project (``.repro/costs.json``), saying on stderr what it counts
    when the cache misses (the first listing, or after the model code changed: ~0.5 s per model)."""
    from ..inventory import Costs

    def progress(done: int, total: int, model: str) -> None:
        if done == 0:
            err.print(f"counting parameters and MACs of {total} models (cached after this once) …", highlight=False)
        if not err.is_terminal or done + 1 == total:
            err.print(f"  {done + 1}/{total} {model}", highlight=False)
        else:
            err.print(f"  {done + 1}/{total} {model}", highlight=False, end="\r")

    return Costs(state.project.root / ".repro" / "costs.json", progress)


@app.command("list")
def list_configs(as_json: AsJson = False, wide: Wide = False) -> None:
    """List every configuration in the catalog with its parameter count, MACs and reported figures."""
    from ..inventory import configuration_rows
    from ..listing import configuration_table

    _show(guard(configuration_rows, _costs()), configuration_table, as_json, wide)


@app.command()
def models(
    as_json: AsJson = False,
    classes: Annotated[int | None, typer.Option(help="Number of classes (default: each model's own).")] = None,
    wide: Wide = False,
) -> None:
    """List every registered model with its trainable parameters and MACs per image."""
    from ..inventory import model_rows
    from ..listing import model_table

    _show(guard(model_rows, classes, _costs()), model_table, as_json, wide)


@app.command()
def bench(
    config: Config,
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
    from ..execution import Execution

    exe = guard(lambda: Execution.from_settings(state.project.params.train))
    if processes is None:
        from ..bench.timing import bench as timed
        from ..bench.timing import describe

        result = guard(timed, config, batch_size, steps=steps, warmup=warmup, exe_fast=exe)
        print_json(result, out_path)
        err.print(describe(result), highlight=False)
        return
    from ..bench.concurrency import concurrency, describe

    try:
        counts = [int(n) for n in processes.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        fail(f"--processes must be positive integers separated by commas, e.g. 1,2,4 (got {processes!r})")
    result = guard(concurrency, config, counts, batch_size, steps=steps, warmup=warmup, exe=exe)
    print_json(result, out_path)
    err.print(describe(result), highlight=False)


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
    from ..bench.plan import describe
    from ..bench.plan import plan as estimate
    from ..execution import Execution

    exe = guard(lambda: Execution.from_settings(state.project.params.train))
    progress = lambda message: err.print(message, highlight=False)  # noqa: E731
    options = dict(exe=exe, steps=steps, warmup=warmup, limit=limit, batch_size=batch_size, progress=progress)
    result = guard(estimate, configs or None, **options)
    print_json(result, out_path)
    err.print(describe(result))


@app.command()
def seeds(
    plan_path: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="A `repro plan --out` JSON (default: .repro/plan.json, else benchmarks/plan-*.json)."
        ),
    ] = None,
) -> None:
    """Seeds needed to decide every figure, ratio and claim, and their GPU-hours from a plan's per-run cost.
    JSON on stdout, a readable table on stderr; raise a configuration's seeds in params.yaml `seeds:`."""
    from ..report.seeds import describe
    from ..stages.seeds import seeds as stage

    result = guard(stage, state.project, plan_path)
    print(json.dumps(result, indent=2))
    err.print(describe(result), highlight=False, soft_wrap=True)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port to serve on (127.0.0.1).")] = 5000,
    store: Annotated[Path | None, typer.Option(help="SQLite store (default: the project's mlflow.db).")] = None,
) -> None:
    """Start the MLflow UI on this project's tracking store and print its URL."""
    import socket

    from ..tracking import tracking_uri

    if store is not None and not store.is_file():  # MLflow would create an empty store there
        fail(f"no MLflow store at {store.resolve()}; check the path (after `make demo`: --store .demo/mlflow.db)")
    with socket.socket() as probe:  # taken: say so, instead of printing a URL that shows another server
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
            fail(f"port {port} is already in use on 127.0.0.1; pick a free one, e.g. `repro ui --port {free}`")
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
    root = state.project.root  # a developer tool (pipeline/dev/demo.py), run as its own program
    cmd = [sys.executable, "-m", "pipeline.dev.demo", "--root", str(root), "--dest", str(dest)]
    raise typer.Exit(subprocess.call(cmd + ([] if preload else ["--no-preload"]), cwd=root))
