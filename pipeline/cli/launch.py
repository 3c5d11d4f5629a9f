"""Scale-out: launch, status, cancel (the logic is in ``pipeline/launch/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .base import app, err, fail, guard, out, state

Selection = Annotated[list[str] | None, typer.Argument(help="Configuration names or globs (default: every run).")]
SourceOpt = Annotated[str | None, typer.Option(help="Only this source's runs.")]
TableOpt = Annotated[str | None, typer.Option(help="Only the runs of one table: <source>/<table>.")]
SeedsOpt = Annotated[str | None, typer.Option(help="Seeds, e.g. 0,1 or 0-4 (default: params.yaml's).")]


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
    adaptive: Annotated[bool, typer.Option("--adaptive", help="Extra seeds in rounds until decided.")] = False,
    budget: Annotated[float | None, typer.Option(help="--adaptive: hours of the plan it may spend.")] = None,
    max_seeds: Annotated[int, typer.Option(help="--adaptive: seeds per configuration at most.")] = 10,
) -> None:
    """Run the remaining (configuration, seed) runs as jobs (Slurm, Ray, local GPUs); record them in dvc.lock."""
    from ..launch.launcher import launch as do_launch

    if adaptive or budget is not None:
        _adaptive(configs, source, backend, address, budget, max_seeds, adaptive)
        return
    try:
        result = guard(do_launch, state.project, configs, source, table, seeds, backend, address, retry_failed, wait)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if result["failed"]:
        fail(f"{len(result['failed'])} run(s) failed: {', '.join(sorted(result['failed']))} (see `repro status`)", 1)


def _adaptive(configs, source, backend, address, budget, max_seeds, adaptive) -> None:
    from ..launch.adaptive_backend import launch_adaptive

    if not adaptive or budget is None:
        fail("--adaptive and --budget go together: `repro launch --adaptive --budget HOURS`", 2)
    try:
        guard(launch_adaptive, state.project, configs, source, backend, address, budget, max_seeds)
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
    """Each selected run: done, finished (not recorded), running, queued, failed or not started; totals; time left."""
    from ..launch.status import status as do_status
    from ..launch.status import table_rows

    result = guard(do_status, state.project, configs, source, table, seeds, plan)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    rows, footer = table_rows(result)
    grid = Table("run", "state", "job", "where", "epoch", "detail")
    for row in rows:
        grid.add_row(*row)
    out.print(grid)
    out.print(footer, highlight=False, soft_wrap=True)


@app.command()
def cancel(
    configs: Selection = None,
    source: SourceOpt = None,
    table: TableOpt = None,
    seeds: SeedsOpt = None,
) -> None:
    """Cancel the selected runs' queued and running jobs."""
    from ..launch.status import cancel as do_cancel

    keys = guard(do_cancel, state.project, configs, source, table, seeds)
    err.print(f"cancelled {len(keys)} job(s)" + (f": {', '.join(keys)}" if keys else ""), highlight=False)
