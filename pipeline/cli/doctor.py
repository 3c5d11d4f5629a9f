"""``repro doctor``: check this machine (GPUs, numerics, compile, NCCL, data, tracking, disk) before a long run."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .base import app, guard, out, state
from .launch import SeedsOpt, Selection, SourceOpt, TableOpt


@app.command()
def doctor(
    configs: Selection = None,
    source: SourceOpt = None,
    table: TableOpt = None,
    seeds: SeedsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
    numerics_on_cpu: Annotated[
        bool, typer.Option("--numerics-on-cpu", help="Run the numerics check on a CPU too (slow).")
    ] = False,
) -> None:
    """Before a long run: devices and precision, fast-path numerics per model family, torch.compile, NCCL,
    data, tracking, disk and GPU-hours of the selection. One line per check; exit 1 when one fails."""
    from ..bench.doctor import report, run_checks
    from ..launch.selection import select

    project = state.project
    refs = guard(select, project.params.runs, configs, source, table, seeds)
    checks = []
    for check in guard(lambda: iter(run_checks(project, [(r.config, r.dataset) for r in refs], numerics_on_cpu))):
        checks.append(check)
        if not as_json:
            out.print(check.line(), highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(report(checks), indent=2))
    if not report(checks)["ok"]:
        raise typer.Exit(1)
