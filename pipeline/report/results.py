"""The runs a render reads: each (configuration, seed) run folder's files, read once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..rundir import RunDir, number
from ..settings import Project


class Results:
    """Results of the runs ``seeds`` names ({configuration: [seed, ...]}) under ``runs_dir``.
    An unreadable metrics file counts as not run, with a warning naming it (``warn``)."""

    def __init__(self, runs_dir: Path, seeds: dict[str, list[int]], warn: bool = True):
        self.runs_dir, self.seeds, self.warn = Path(runs_dir), seeds, warn
        self.metrics = cache(self._metrics)
        self.history = cache(self._history)

    @classmethod
    def of(cls, project: Project, warn: bool = True) -> Results:
        """The runs params.yaml lists, under the project's runs/."""
        seeds: dict[str, list[int]] = {}
        for entry in project.params.runs.values():
            seeds.setdefault(entry.config, []).append(entry.seed)
        return cls(project.runs_dir, seeds, warn)

    def runs(self, config: str) -> list[RunDir]:
        return [RunDir.of(self.runs_dir, config, seed) for seed in self.seeds.get(config, [])]

    def _metrics(self, run: RunDir) -> dict:
        return run.results(warn=self.warn)

    def _history(self, run: RunDir) -> list[dict[str, float]]:
        return run.history()

    def finished(self, config: str) -> list[dict]:
        """Metrics of the finished runs (evaluated: eval.json present) of ``config``."""
        return [m for m in map(self.metrics, self.runs(config)) if "top1_acc" in m]

    def values(self, config: str, metric: str) -> list[float]:
        """Numeric values of ``metric`` over every run of ``config`` that recorded it."""
        values = (number(self.metrics(run).get(metric)) for run in self.runs(config))
        return [v for v in values if v is not None]
