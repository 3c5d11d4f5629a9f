"""``repro launch --adaptive``: the adaptive loop (``adaptive.py``) on the real launcher, any backend.

Extra seeds get DVC stages the documented way: params.yaml ``seeds:`` is raised and the runs ``repro sync``
generates for it are added to the generated block (``sync.raise_seeds``), then ``Launcher`` runs and records
them in dvc.lock as any run. Each job's MLflow runs are tagged with the round that asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path

from ..catalog import all_configurations, load_catalog
from ..errors import ReproError
from ..planfile import find_plan, read_plan, seconds_per_run
from ..report.adaptive_items import catalog_items
from ..report.results import Results
from ..settings import Project
from ..sync import raise_seeds
from .adaptive import Settings, run_adaptive
from .launcher import Launcher, _echo
from .selection import select
from .state import repro_dir

STATE = "adaptive.json"


def state_path(root: Path) -> Path:
    return repro_dir(root) / STATE


class LaunchBackend:
    """Counts, values and runs of the selected configurations through ``Launcher``."""

    def __init__(self, project: Project, backend: str, address: str | None, configs: list[str], echo):
        self.project, self.backend, self.address, self.configs, self.echo = project, backend, address, configs, echo
        self.failed: dict[str, str] = {}

    def _results(self) -> Results:
        self.project = Project(self.project.root, self.project.profile_override)  # params.yaml may have changed
        return Results.of(self.project, warn=False)

    def counts(self) -> dict[str, int]:
        res = self._results()
        return {c: len(res.finished(c)) for c in self.configs}

    def values(self) -> dict[str, dict[str, list[float]]]:
        res = self._results()
        out: dict[str, dict[str, list[float]]] = {}
        for c in self.configs:
            runs = res.finished(c)
            keys = {k for r in runs for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            out[c] = {k: [float(r[k]) for r in runs if isinstance(r.get(k), int | float)] for k in keys}
        return out

    def run(self, targets: dict[str, int], round_no: int) -> None:
        raise_seeds(self.project.root / "params.yaml", targets)
        project = Project(self.project.root, self.project.profile_override)
        refs = [r for r in select(project.params.runs) if r.config in targets and r.seed < targets[r.config]]
        launcher = Launcher(project, self.backend, self.address, self.echo)
        launcher.spec_extra = {"adaptive_round": round_no}
        summary = launcher.launch(refs, retry_failed=True)  # runs cancelled earlier: this round asks for them
        self.failed.update(summary["failed"])
        if summary["failed"]:  # a failed run would be asked for again every round
            raise ReproError(
                f"{len(summary['failed'])} run(s) failed in round {round_no} (e.g. {sorted(summary['failed'])[0]});"
                " see `repro status`, then `repro launch --adaptive` again resumes (--retry-failed reruns them)"
            )


def launch_adaptive(
    project: Project,
    patterns: list[str] | None,
    source: str | None,
    backend: str,
    address: str | None,
    budget: float,
    max_seeds: int,
    plan_path: Path | None = None,
    echo: Callable[[str], None] = _echo,
) -> dict:
    """Run rounds of seeds over the selected configurations (params.yaml's by default) within ``budget``."""
    if budget <= 0:
        raise ReproError(f"--budget {budget:g}: give the hours this launch may spend, e.g. --budget 200")
    if max_seeds < 1:
        raise ReproError(f"--max-seeds {max_seeds}: give at least 1")
    configs = {n: c for n, c in all_configurations().items() if not c.requires}
    listed = {e.config for e in project.params.runs.values()}  # the configurations params.yaml runs
    chosen = [n for n in configs if n in listed and (not patterns or any(fnmatchcase(n, p) for p in patterns))]
    chosen = [n for n in chosen if source is None or configs[n].source == source]
    if not chosen:
        raise ReproError("no configuration matches the selection; see `repro list`")
    items = catalog_items(load_catalog(), keep=lambda n: n in chosen)
    path = plan_path or find_plan(project.root)
    if path is None:
        raise ReproError(
            "--adaptive needs a plan for the hours per run; write one with `repro plan --out .repro/plan.json`"
        )
    per_run = seconds_per_run(read_plan(path))
    missing = [c for c in chosen if c not in per_run]
    if missing:
        raise ReproError(f"{path} has no hours for {missing[0]}; write a plan covering it with `repro plan --out FILE`")
    hours = {c: per_run[c] / 3600 for c in chosen}
    planned: dict[str, int] = {}
    for entry in project.params.runs.values():
        if entry.config in chosen:
            planned[entry.config] = max(planned.get(entry.config, 0), entry.seed + 1)
    be = LaunchBackend(project, backend, address, chosen, echo)
    settings = Settings(budget, max_seeds)
    echo(f"adaptive seeds: {len(items)} items over {len(chosen)} configuration(s), budget {budget:g} h of {path}")
    return run_adaptive(items, {c: configs[c].dataset for c in chosen}, be, hours, planned, settings,
                        state_path(project.root), echo)  # fmt: skip
