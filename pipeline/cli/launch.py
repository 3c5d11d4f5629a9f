"""Scale-out: launch, status, cancel (the logic is in ``pipeline/launch/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from .base import app, err, fail, guard, out, state

Selection = Annotated[list[str] | None, typer.Argument(help="Configuration names or globs (default: every run).")]
SourceOpt = Annotated[str | None, typer.Option(help="Only this source's runs.")]
TableOpt = Annotated[str | None, typer.Option(help="Only the runs of one table: <source>/<table>.")]
SeedsOpt = Annotated[str | None, typer.Option(help="Seeds, e.g. 0,1 or 0-4 (default: params.yaml's).")]


def _profile_project(create: bool = False):
    """``--profile smoke`` on a full checkout: the smoke copy (.demo/), which DVC runs in the smoke profile."""
    from ..launch.smokecopy import redirect

    project = guard(redirect, state.project, create)
    if project.root != state.project.root:
        err.print(
            f"smoke profile: in the smoke copy {project.root} (params.yaml here says full)",
            highlight=False,
            soft_wrap=True,
        )
    return project


@app.command()
def launch(
    configs: Selection = None,
    source: SourceOpt = None,
    table: TableOpt = None,
    seeds: SeedsOpt = None,
    backend: Annotated[str, typer.Option(help="local | slurm | ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster (default: RAY_ADDRESS, launch.ray.address, else local).")
    ] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Submit failed runs again.")] = False,
    wait: Annotated[bool, typer.Option(help="Watch the jobs and record them in dvc.lock as they finish.")] = True,
    doctor: Annotated[bool, typer.Option("--doctor", help="Run `repro doctor` as one job there first.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Submit even if a --doctor check fails.")] = False,
    adaptive: Annotated[bool, typer.Option("--adaptive", help="Extra seeds in rounds until decided.")] = False,
    budget: Annotated[float | None, typer.Option(help="--adaptive: hours of the plan it may spend.")] = None,
    max_seeds: Annotated[int, typer.Option(help="--adaptive: seeds per configuration at most.")] = 10,
) -> None:
    """Run the remaining (configuration, seed) runs as jobs (Slurm, Ray, local GPUs); record them in dvc.lock."""
    from ..launch.launcher import launch as do_launch

    if adaptive or budget is not None:
        _adaptive(configs, source, backend, address, budget, max_seeds, adaptive)
        return
    project = _profile_project(create=True)
    try:
        result = guard(
            do_launch, project, configs, source, table, seeds, backend, address, retry_failed, wait,
            doctor=doctor, force=force,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if result["failed"]:
        fail(f"{len(result['failed'])} run(s) failed: {', '.join(sorted(result['failed']))} (see `repro status`)", 1)


def _adaptive(configs, source, backend, address, budget, max_seeds, adaptive) -> None:
    from ..launch.adaptive_backend import launch_adaptive

    if not adaptive or budget is None:
        fail("--adaptive and --budget go together: `repro launch --adaptive --budget HOURS`", 2)
    try:
        guard(launch_adaptive, _profile_project(create=True), configs, source, backend, address, budget, max_seeds)
    except KeyboardInterrupt:
        err.print("stopped: finished runs are kept; `repro launch --adaptive` resumes", highlight=False)
        raise typer.Exit(130) from None


@app.command()
def status(
    configs: Selection = None,
    source: SourceOpt = None,
    table: TableOpt = None,
    seeds: SeedsOpt = None,
    plan: Annotated[
        Path | None, typer.Option(help="`repro plan` JSON (default: .repro/plan.json, else benchmarks/plan-*.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Each run: done, finished (not recorded), stale or refused (why), running, queued, failed, not started."""
    from ..launch.status import status as do_status
    from ..launch.status import table_rows

    result = guard(do_status, _profile_project(), configs, source, table, seeds, plan)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    rows, footer = table_rows(result)
    out.print(status_grid(rows))
    out.print(footer, highlight=False, soft_wrap=True)


def status_grid(rows: list[tuple[str, ...]]) -> Table:
    """The status table: a run's name is never cut (two runs can differ only in their last characters);
    columns empty in every row are left out, and the others wrap instead."""
    names = ("run", "state", "job", "where", "epoch", "detail")
    keep = [i for i in range(len(names)) if i < 2 or any(row[i] for row in rows)]
    width = max((len(row[0]) for row in rows), default=3)
    grid = Table(Column("run", no_wrap=True, min_width=width), *(Column(names[i], overflow="fold") for i in keep[1:]))
    for row in rows:
        grid.add_row(*(row[i] for i in keep))
    return grid


@app.command()
def cancel(
    configs: Selection = None,
    source: SourceOpt = None,
    table: TableOpt = None,
    seeds: SeedsOpt = None,
) -> None:
    """Cancel the selected runs' queued and running jobs."""
    from ..launch.status import cancel as do_cancel

    keys = guard(do_cancel, _profile_project(), configs, source, table, seeds)
    err.print(f"cancelled {len(keys)} job(s)" + (f": {', '.join(keys)}" if keys else ""), highlight=False)
