"""The ``repro`` command line: parse arguments, call a stage or a tool, print the result.

DVC stages call these same commands (see dvc.yaml); the stage bodies are plain functions in
``pipeline/stages/``. Errors the user can fix (``errors.ReproError``) are one line on stderr with a
non-zero exit; machine-readable output goes to stdout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .errors import ReproError
from .settings import PROFILES, Project, project_root

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
    try:
        return fn(*args, **kwargs)
    except ReproError as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. a full disk while writing a checkpoint
        fail(f"{exc.strerror or exc}: {exc.filename or ''}; free space or fix permissions, then rerun (it resumes)")


def _print_json(result: dict, out_path: Path | None) -> None:
    """``result`` as JSON on stdout and, with ``--out``, written atomically to ``out_path`` too."""
    from .files import write_json

    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(result, out_path)
    print(json.dumps(result, indent=2))


Wide = Annotated[bool, typer.Option("--wide", help="Every column, however wide (the terminal folds lines).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def _print_fitted(fitted) -> None:
    """A ``terminal.Fitted`` table: at the terminal's width, or wider (``--wide``, a name longer than the
    terminal): then the terminal folds the lines, and nothing is cut."""
    console = out if fitted.width <= out.width else Console(width=fitted.width, force_terminal=out.is_terminal)
    console.print(fitted.table, crop=False)


@app.command("list")
def list_configs(as_json: AsJson = False, wide: Wide = False) -> None:
    """List every configuration in the catalog with its parameter count, MACs and reported figures."""
    from .inventory import configuration_rows
    from .listing import configuration_table

    rows = _guard(configuration_rows)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _print_fitted(configuration_table(rows, out.width, wide))


@app.command()
def models(
    as_json: AsJson = False,
    classes: Annotated[int | None, typer.Option(help="Number of classes (default: each model's own).")] = None,
    wide: Wide = False,
) -> None:
    """List every registered model with its trainable parameters and MACs per image."""
    from .inventory import model_rows
    from .listing import model_table

    rows = _guard(model_rows, classes)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _print_fitted(model_table(rows, out.width, wide))


@app.command()
def fetch(
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. cifar10.")],
    archive: Annotated[Path | None, typer.Option(help="A pre-downloaded official archive.")] = None,
) -> None:
    """Fetch a dataset (verify, extract safely, parse) into data/prepared/<dataset>."""
    from .stages.fetch import fetch as stage

    path, manifest = _guard(stage, state.project, dataset, archive)
    counts = ", ".join(f"{s} {c['images']:,}" for s, c in manifest["splits"].items())
    err.print(f"prepared {dataset} at {path}: {counts} images, {len(manifest['classes'])} classes")


Config = Annotated[str, typer.Argument(help="Configuration name (see `repro list`).")]


@app.command()
def train(
    config: Config,
    seed: Annotated[int, typer.Option(help="Random seed of this run.")] = 0,
    resume: Annotated[bool, typer.Option(help="Resume from the last complete checkpoint.")] = True,
) -> None:
    """Train one configuration with one seed into runs/<config>-s<seed>/."""
    from .bench.preflight import preflight
    from .stages.train import train as stage

    _guard(preflight, state.project, config, seed)  # full profile without a GPU: stop with the estimate
    result = _guard(stage, state.project, config, seed, resume)
    m = result.metrics
    err.print(f"{config} seed {seed}: final test acc {m['final_test_acc']:.2f}% after {m['steps']} steps")


@app.command()
def evaluate(config: Config, seed: Annotated[int, typer.Option(help="Seed of the run to evaluate.")] = 0) -> None:
    """Evaluate a trained run on the held-out test split; write runs/<config>-s<seed>/eval.json."""
    from .stages.evaluate import evaluate as stage

    print(json.dumps(_guard(stage, state.project, config, seed)))


@app.command()
def render() -> None:
    """Render every source table into paper_tables/: reported beside reproduced, with verdicts."""
    from .stages.render import render as stage

    written = _guard(stage, state.project)
    err.print(f"rendered {len(written)} files into {state.project.tables_dir}")


@app.command()
def sync(
    check: Annotated[bool, typer.Option("--check", help="Only report whether params.yaml is in sync.")] = False,
) -> None:
    """Write the catalog's (configuration, seed) runs and datasets into params.yaml's generated block."""
    from .sync import sync_params

    project = state.project
    profile = _guard(lambda: project.profile)  # from params.yaml unless --profile: a malformed file is one line
    changed = _guard(sync_params, project.root / "params.yaml", profile, write=not check)
    if check and changed:
        fail("params.yaml runs/datasets are out of date with reproduce/*.yaml; run `repro sync`", 1)
    err.print("params.yaml " + ("updated" if changed and not check else "is in sync"))


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
    from .execution import Execution

    exe = _guard(lambda: Execution.from_settings(state.project.params.train))
    if processes is None:
        from .bench.timing import bench as timed
        from .bench.timing import describe

        result = _guard(timed, config, batch_size, steps=steps, warmup=warmup, exe_fast=exe)
        _print_json(result, out_path)
        err.print(describe(result), highlight=False)
        return
    from .bench.concurrency import concurrency, describe

    try:
        counts = [int(n) for n in processes.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        fail(f"--processes must be positive integers separated by commas, e.g. 1,2,4 (got {processes!r})")
    result = _guard(concurrency, config, counts, batch_size, steps=steps, warmup=warmup, exe=exe)
    _print_json(result, out_path)
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
    from .bench.plan import describe
    from .bench.plan import plan as estimate
    from .execution import Execution

    exe = _guard(lambda: Execution.from_settings(state.project.params.train))
    progress = lambda message: err.print(message, highlight=False)  # noqa: E731
    options = dict(exe=exe, steps=steps, warmup=warmup, limit=limit, batch_size=batch_size, progress=progress)
    result = _guard(estimate, configs or None, **options)
    _print_json(result, out_path)
    err.print(describe(result))


@app.command()
def seeds(
    plan_path: Annotated[
        Path | None,
        typer.Option("--plan", help="A `repro plan --out` JSON (default: benchmarks/plan-*.json, a GPU plan first)."),
    ] = None,
) -> None:
    """Seeds needed to decide every figure, ratio and claim, and their GPU-hours from a plan's per-run cost.
    JSON on stdout, a readable table on stderr; raise a configuration's seeds in params.yaml `seeds:`."""
    from .report.seeds import describe
    from .stages.seeds import seeds as stage

    result = _guard(stage, state.project, plan_path)
    print(json.dumps(result, indent=2))
    err.print(describe(result), highlight=False, soft_wrap=True)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port to serve on (127.0.0.1).")] = 5000,
    store: Annotated[Path | None, typer.Option(help="SQLite store (default: the project's mlflow.db).")] = None,
) -> None:
    """Start the MLflow UI on this project's tracking store and print its URL."""
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
    root = state.project.root  # a developer tool (pipeline/dev/demo.py), run as its own program
    cmd = [sys.executable, "-m", "pipeline.dev.demo", "--root", str(root), "--dest", str(dest)]
    raise typer.Exit(subprocess.call(cmd + ([] if preload else ["--no-preload"]), cwd=root))
