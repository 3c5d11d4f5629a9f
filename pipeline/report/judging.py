"""From catalog figures and runs to verdicts: which margin δ, which spread, which rule (issue 17, parts 1-2).

The statistics are in ``verdicts.py``; this module decides what to feed them, per figure:

- **%** figures: ``cell_verdict`` (TOST within ±δ), or ``best_of_runs_verdict`` for figures the source printed
  as the best of its runs (``over_runs: max``, with the source's number of runs = the catalog's ``runs``).
  δ: declared (figure, else table, else source) or ``default_delta`` at the reported value with the size of
  the set the metric is measured on (test, validation or training images: the runs' train.json, else the
  dataset registry and the recipe's split). The sd is floored at that set's binomial SE.
- **s** and **-** (loss) figures: the same TOST with δ = 5% of the reported value unless declared; no floor.
- **count** and **MACs**: exact (deterministic counts) unless a margin is declared.
- Figures measured on other hardware (``Reported.hardware``): "not comparable (other hardware)"; the table's
  ``ratios`` compare arms instead (``ratio_verdict``, ±10% unless declared).
- n = 1: the pooled seed-to-seed sd of the same metric over configurations of the same dataset and model
  family with n ≥ 2 (``pooled_sd``), else the binomial-SE floor (% only), else no verdict.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..catalog import Configuration, Margin, Ratio, Reported, Source, all_configurations
from ..data import DATASETS, split_sizes
from ..models import model_info
from ..rundir import number
from .verdicts import (
    MIN_DELTA,
    CellVerdict,
    PooledSD,
    best_of_runs_verdict,
    binomial_se,
    cell_verdict,
    default_delta,
    pooled_sd,
    ratio_verdict,
)

RELATIVE_DEFAULT = 0.05  # δ of "s" and "-" figures compared on this machine: ±5% of the reported value
RATIO_DEFAULT = 0.10  # δ of a ratio of two arms: ±10% (relative costs shift with framework and device)
TEST_SET_OUTSIDE_REGISTRY = {"imagenet": 50_000}  # ILSVRC-2012 validation images (datasets not fetched here)


@dataclass(frozen=True)
class MarginChoice:
    value: float  # δ in the figure's unit (a fraction for ratios)
    source: str  # the rule, shared by the figures it applies to: "default: ..." or "declared (table t1): reason"


def declared_margin(source: Source, table: str, rep: Reported | None) -> tuple[Margin, str] | None:
    """The most specific declared margin: the figure's, else its table's, else the source's."""
    t = source.tables.get(table)
    for margin, where in ((rep and rep.delta, "figure"), (t and t.delta, f"table {table}"), (source.delta, "source")):
        if margin is not None:
            return margin, where
    return None


def metric_set(metric: str) -> str:
    """Which images a metric is measured on: "val", "train" or "test"."""
    return "val" if "_val_" in f"_{metric}_" else "train" if "_train_" in f"_{metric}_" else "test"


def evaluated_images(config: Configuration, metric: str, runs: list[dict]) -> tuple[int, str]:
    """(images, where from) of the set ``metric`` is measured on: the runs' train.json/eval.json, else the registry."""
    key = f"{metric_set(metric)}_images"
    recorded = [r[key] for r in runs if isinstance(r.get(key), int) and r[key] > 0]
    if recorded:
        return recorded[0], "the runs' train.json/eval.json"
    ds = DATASETS.get(config.dataset)
    if ds is None:
        return TEST_SET_OUTSIDE_REGISTRY.get(config.dataset, 10_000), "the source's dataset (not in the registry)"
    if key == "test_images":
        return ds.test_images, "the dataset registry"
    v = config.recipe.validation
    train, val = split_sizes(ds.train_images, v.kind, size=v.size, fraction=v.fraction, train_size=v.train_size)
    return (val if key == "val_images" else train), "the dataset registry and the recipe's split"


def margin_for(source: Source, table: str, rep: Reported, n_images: int, where: str) -> MarginChoice:
    counted = rep.unit in ("count", "MACs")  # counts: exact unless the figure itself declares a margin
    declared = (
        (rep.delta, "figure") if counted and rep.delta else None if counted else declared_margin(source, table, rep)
    )
    if declared is not None:
        margin, at = declared
        return MarginChoice(margin.at(float(rep.value)), f"declared ({at}): {margin.reason}")
    if rep.unit == "%":
        return MarginChoice(
            default_delta(float(rep.value), n_images),
            f"default: max({MIN_DELTA} points, 2 × the binomial SE at the reported value) on {n_images:,} "
            f"{metric_set(rep.metric)} images ({where})",
        )
    if rep.unit in ("s", "-"):
        return MarginChoice(
            RELATIVE_DEFAULT * abs(float(rep.value)), f"default: ±{RELATIVE_DEFAULT:.0%} of the reported value"
        )
    return MarginChoice(0.0, "default: exact (counts are deterministic)")


@cache
def _family(model: str) -> str:
    try:
        return model_info(model).family or model
    except KeyError:
        return model


class Pool:
    """Seed-to-seed spreads of every configuration's runs, for cells and claims with single runs."""

    def __init__(self, runs: dict[str, list[dict]], configs: dict[str, Configuration] | None = None):
        self.runs = runs
        self.configs = configs if configs is not None else all_configurations()

    def _groups(self, metric: str, keep) -> list[list[float]]:
        names = (metric, metric.replace("_error", "_acc"), metric.replace("_acc", "_error"))  # same spread
        groups = []
        for name, cfg in self.configs.items():
            if keep(cfg):
                runs = self.runs.get(name, [])
                values = next((v for m in names if (v := metric_values(runs, m))), [])
                if len(values) >= 2:
                    groups.append(values)
        return groups

    def for_config(self, config: str, metric: str, families: tuple[str, ...] | None = None) -> PooledSD | None:
        """Pooled sd of ``metric`` over configurations with n ≥ 2 of ``config``'s dataset and model family
        (or of any of ``families``)."""
        cfg = self.configs[config]
        fams = families or (_family(cfg.model),)
        return pooled_sd(self._groups(metric, lambda c: c.dataset == cfg.dataset and _family(c.model) in fams))

    def for_pair(self, better: str, worse: str, metric: str) -> PooledSD | None:
        """Pooled sd for a claim's two arms: configurations of their dataset and either arm's family."""
        if better not in self.configs or worse not in self.configs:
            return None
        families = tuple({_family(self.configs[better].model), _family(self.configs[worse].model)})
        return self.for_config(better, metric, families)

    def log_times(self, metric: str) -> PooledSD | None:
        """Pooled sd of log ``metric`` (a time) over every configuration with n ≥ 2: timing noise is the machine's."""
        groups = [[math.log(v) for v in g if v > 0] for g in self._groups(metric, lambda c: True)]
        return pooled_sd(groups)


def metric_values(runs: list[dict], metric: str) -> list[float]:
    """The finite values of ``metric`` over ``runs`` (one configuration's finished runs)."""
    values = (number(r.get(metric)) for r in runs)
    return [v for v in values if v is not None]


@dataclass
class Judged:
    """One rendered figure: its verdict label, the statistics behind it, and the phrase for the cell."""

    verdict: str  # reproduced | differs (below|above) | inconclusive | not comparable (other hardware) | ...
    values: list[float]
    margin: MarginChoice | None = None
    stats: CellVerdict | None = None
    note: str = ""  # which spread (n = 1), the exact-count rule, ...

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def seeds_to_decide(self) -> int | None:
        return self.stats.seeds_needed if self.stats is not None else None

    def phrase(self) -> str:
        """The verdict with its reason: "inconclusive (n too small; 3 seeds would decide)"."""
        s = self.stats
        if self.verdict != "inconclusive" or s is None:
            return self.verdict
        return f"inconclusive ({s.reason}{s.to_decide})"


def fmt(value: float, unit: str, like: str | None = None) -> str:
    """A reproduced number in the form of the source's (its decimals, thousands separators, unit words)."""
    if unit in ("count", "MACs"):
        return f"{value:,.0f}" if abs(value) < 1e6 or (like and "," in like) else f"{value / 1e6:,.2f}M"
    if like is not None and like.endswith(" min"):
        return f"{value / 60:,.0f} min"
    decimals = len(like.split(".")[1]) if like and "." in like and like.replace(".", "").isdigit() else 2
    return f"{value:.{max(decimals, 2)}f}"


def judge_figure(
    source: Source,
    name: str,
    rep: Reported,
    runs: list[dict],
    pool: Pool,
    profile: str,
    configs: dict[str, Configuration],
) -> Judged:
    """The verdict on figure ``rep`` of configuration ``name`` over its finished ``runs``."""
    values = metric_values(runs, rep.metric)
    config = configs[name]
    if isinstance(rep.value, str):
        return Judged("qualitative: see claims" if values else "not run", values)
    n_images, where = evaluated_images(config, rep.metric, runs)
    if rep.hardware:
        margin = MarginChoice(0.0, f"none: measured on {rep.hardware}, not comparable here (ratios, if any, below)")
    else:
        margin = margin_for(source, rep.table, rep, n_images, where)
    if not values:
        return Judged("not run", values, margin)
    if profile == "smoke":
        return Judged("smoke only", values, margin)
    if rep.hardware:
        return Judged("not comparable (other hardware)", values, margin, note=f"source measured on {rep.hardware}")
    reported = float(rep.value)
    if rep.unit in ("count", "MACs"):  # deterministic: no statistics, |Δ| against δ (0 = exact)
        diff = statistics.fmean(values) - reported
        verdict = "reproduced" if abs(diff) <= margin.value else f"differs ({'above' if diff > 0 else 'below'})"
        return Judged(verdict, values, margin, note="exact count" if margin.value == 0 else "count within δ")
    floor = binomial_se(reported, n_images) if rep.unit == "%" else None
    pooled = pool.for_config(name, rep.metric) if len(values) < 2 else None
    if rep.over_runs == "max":
        stats = best_of_runs_verdict(values, reported, config.n_seeds, margin.value, pooled, floor)
    else:
        stats = cell_verdict(values, reported, margin.value, pooled, floor)
    shown = len(values) < 2 or "floor" in stats.basis or rep.over_runs == "max"  # the spread is worth a note
    return Judged(stats.label, values, margin, stats, stats.basis if shown else "")


@dataclass
class JudgedRatio:
    ratio: Ratio
    arms: tuple[str, str]  # the configurations of the numerator and the denominator
    reported: float  # the source's ratio
    judged: Judged  # stats in log units; values = [the ratio of the arms' means], stats.n = the smaller arm's runs

    @property
    def value(self) -> float | None:
        j = self.judged
        if j.stats is not None:
            return math.exp(j.stats.value)
        return None


def judge_ratio(
    source: Source, key: str, ratio: Ratio, runs: dict[str, list[dict]], pool: Pool, profile: str
) -> JudgedRatio:
    cells = source.reported_cells()
    (num_cfg, num), (den_cfg, den) = (
        cells[(key, ratio.numerator, ratio.column)],
        cells[(key, ratio.denominator, ratio.column)],
    )
    reported = float(num.value) / float(den.value)
    arms = (num_cfg, den_cfg)
    a, b = metric_values(runs.get(num_cfg, []), num.metric), metric_values(runs.get(den_cfg, []), den.metric)
    if ratio.delta is not None:
        margin = MarginChoice(ratio.delta.at(reported) / reported, f"declared (ratio): {ratio.delta.reason}")
    else:
        margin = MarginChoice(RATIO_DEFAULT, f"default: ±{RATIO_DEFAULT:.0%} of the reported ratio")
    if not a or not b:
        return JudgedRatio(ratio, arms, reported, Judged("not run", [], margin))
    if profile == "smoke":
        return JudgedRatio(ratio, arms, reported, Judged("smoke only", [], margin))
    pooled = pool.log_times(num.metric) if min(len(a), len(b)) < 2 else None
    stats = ratio_verdict(a, b, reported, margin.value, pooled)
    values = [float(np.mean(a)) / float(np.mean(b))]
    return JudgedRatio(ratio, arms, reported, Judged(stats.label, values, margin, stats, stats.basis))
