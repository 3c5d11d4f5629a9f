"""Simulated reproductions of the whole catalog (issue 24): training replaced by draws N(true value, sd²).

Runs the adaptive loop of ``repro launch --adaptive`` (``pipeline/launch/adaptive.py``, the same round code) with
a simulated backend, and the two fixed designs, over the real catalog's figures, ratios and claims:
(a) fixed n = the sources' run counts, (b) fixed n = 5, (c) adaptive with (b)'s hours as its budget.

True values: each (configuration, metric) is set from its first reported figure so that its cells reproduce
(Δ = 0), differ by 2δ, or sit exactly at δ (one third each, by configuration). Seed sds (approximate, from the
literature; see benchmarks/README.md): CIFAR-10 0.15 points, CIFAR-100 0.4, Tiny ImageNet 0.5; times and
losses 2% of the value. Hours per run: a plan file's ``seconds_per_run``.

    python benchmarks/adaptive_sim.py --reps 2000 --error-reps 2000 --out benchmarks/adaptive-sim.json \\
        --plot benchmarks/adaptive-sim.png

The design comparison runs the planner (seconds per reproduction); the error rates do not need it and run over
more reproductions (``error_rates``: the fixed designs, and the sequential rule with every look taken).
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np

from pipeline.catalog import all_configurations, load_catalog
from pipeline.launch.adaptive import DECIDED, Settings, run_adaptive
from pipeline.planfile import read_plan, seconds_per_run
from pipeline.report.adaptive_items import Item, catalog_items, judge_items
from pipeline.report.sequential import schedule
from pipeline.report.verdicts import max_of_normals

SD_POINTS = {"cifar10": 0.15, "cifar10-jpeg": 0.15, "cifar100": 0.4, "tinyimagenet": 0.5}
RELATIVE_SD = 0.02  # times and losses
CLASSES = ("reproduces", "differs by 2δ", "at δ")


class World:
    """The true value and seed sd of every (configuration, metric) the items read, and the truth per item."""

    def __init__(self, items: list[Item], configs_of: dict[str, str]):
        self.items, self.configs = items, sorted(configs_of)
        self.truth: dict[tuple[str, str], float] = {}
        self.sd: dict[tuple[str, str], float] = {}
        for it in items:
            if it.kind not in ("cell", "best"):
                continue
            key = (it.configs[0], it.metric)
            if key in self.truth:
                continue
            cls = zlib.crc32(it.configs[0].encode()) % 3
            sd = SD_POINTS.get(it.dataset, 0.3) if it.floor > 0 else RELATIVE_SD * abs(it.reported)
            offset = (0.0, 2 * it.margin, it.margin)[cls] * (-1 if zlib.crc32(it.id.encode()) % 2 else 1)
            shift = sd * max_of_normals(it.best_of)[0] if it.kind == "best" else 0.0  # our best-of-m on average
            self.truth[key], self.sd[key] = it.reported + offset - shift, sd
        for it in items:  # metrics only claims and ratios read: a plausible value, no offset
            for c in it.configs:
                key = (c, it.metric)
                if key not in self.truth:
                    base = 50.0 if it.metric.endswith(("_acc", "_error")) else 10.0
                    self.truth[key] = base + (zlib.crc32(c.encode()) % 7) * 0.2
                    self.sd[key] = SD_POINTS.get(it.dataset, 0.3) if base == 50.0 else RELATIVE_SD * base
        self.metrics = {c: sorted(m for cc, m in self.truth if cc == c) for c in self.configs}

    def true_delta(self, it: Item) -> float:
        """Δ of the truth: figures against the reported value (best-of: our expected best of m), claims' advantage."""
        t = [self.truth[(c, it.metric)] for c in it.configs]
        if it.kind == "cell":
            return t[0] - it.reported
        if it.kind == "best":
            return t[0] + self.sd[(it.configs[0], it.metric)] * max_of_normals(it.best_of)[0] - it.reported
        if it.kind == "ratio":
            return float(np.log(t[0] / t[1]) - it.reported)
        sign = 1 if it.higher_is_better else -1
        return min(sign * (t[0] - w) for w in t[1:])


class SimBackend:
    """Seeds drawn deterministically per (replicate, configuration, seed): a rerun never redraws a run."""

    def __init__(self, world: World, rep: int, interrupt_after: int | None = None):
        self.world, self.rep, self.interrupt_after = world, rep, interrupt_after
        self.done: dict[str, int] = {}
        self.executed: list[tuple[str, int]] = []

    def _draw(self, config: str, seed: int) -> dict[str, float]:
        rng = np.random.default_rng([self.rep, zlib.crc32(config.encode()), seed])
        ms = self.world.metrics[config]
        z = rng.standard_normal(len(ms))
        return {m: self.world.truth[(config, m)] + self.world.sd[(config, m)] * z[i] for i, m in enumerate(ms)}

    def counts(self) -> dict[str, int]:
        return dict(self.done)

    def values(self) -> dict[str, dict[str, list[float]]]:
        out: dict[str, dict[str, list[float]]] = {}
        for c, n in self.done.items():
            draws = [self._draw(c, s) for s in range(n)]
            out[c] = {m: [d[m] for d in draws] for m in self.world.metrics[c]}
        return out

    def run(self, targets: dict[str, int], round_no: int) -> None:
        for c, t in sorted(targets.items()):
            while self.done.get(c, 0) < t:
                if self.interrupt_after is not None and len(self.executed) >= self.interrupt_after:
                    raise KeyboardInterrupt
                self.executed.append((c, self.done.get(c, 0)))
                self.done[c] = self.done.get(c, 0) + 1


def fixed(world: World, rep: int, counts: dict[str, int], configs_of: dict[str, str]) -> dict[str, str]:
    backend = SimBackend(world, rep)
    backend.run(counts, 1)
    judged = judge_items(world.items, backend.values(), configs_of, schedule(1, fixed=1))
    return {i: r["verdict"] for i, r in judged.items()}


def tally(world: World, verdicts: dict[str, str]) -> dict:
    """Decided items and errors of one reproduction."""
    out = {"decided": 0, "false_reproduced": 0, "at_or_beyond_delta": 0, "false_differs": 0, "true_zero": 0}
    families: dict[str, bool] = {}
    for it in world.items:
        v, d = verdicts.get(it.id, "inconclusive"), world.true_delta(it)
        out["decided"] += v in DECIDED
        if it.kind == "claim":
            families[it.source] = families.get(it.source, False) or (v == "supported" and d <= 0)
            continue
        if abs(d) >= it.margin - 1e-12:
            out["at_or_beyond_delta"] += 1
            out["false_reproduced"] += v == "reproduced"
        if abs(d) < 1e-9:
            out["true_zero"] += 1
            out["false_differs"] += v.startswith("differs")
    out["families"], out["false_supported_families"] = len(families), sum(families.values())
    return out


def setup(plan: Path) -> tuple:
    """The catalog's items, their configurations' datasets, hours per run, the world and the fixed designs."""
    configs = {n: c for n, c in all_configurations().items() if not c.requires}
    items = catalog_items(load_catalog(), keep=lambda n: n in configs)
    configs_of = {c: configs[c].dataset for it in items for c in it.configs}
    hours = {c: h / 3600 for c, h in seconds_per_run(read_plan(plan)).items() if c in configs_of}
    filled = sorted(c for c in configs_of if c not in hours)
    for c in filled:  # configurations newer than the plan: the median of their source's and dataset's
        same = [
            h for o, h in hours.items() if configs[o].source == configs[c].source and configs_of[o] == configs_of[c]
        ]
        hours[c] = float(np.median(same or list(hours.values())))
    source_n = {c: configs[c].n_seeds for c in configs_of}
    designs = {"fixed n = sources' counts": source_n, "fixed n = 5": {c: max(5, n) for c, n in source_n.items()}}
    return items, configs_of, hours, filled, World(items, configs_of), source_n, designs


def simulate(reps: int, plan: Path, max_seeds: int = 10, seed: int = 0, looks: tuple[int, ...] | None = None) -> dict:
    """The design comparison: items decided and hours of (a), (b) and (c), with their error rates."""
    items, configs_of, hours, filled, world, source_n, designs = setup(plan)
    budget = sum(hours[c] * n for c, n in designs["fixed n = 5"].items())
    rows: dict[str, list[dict]] = {k: [] for k in (*designs, "adaptive (budget of fixed n = 5)")}
    for rep in range(reps):
        for name, counts in designs.items():
            t = tally(world, fixed(world, rep + seed * 100_000, counts, configs_of))
            rows[name].append(t | {"hours": sum(hours[c] * n for c, n in counts.items())})
        backend = SimBackend(world, rep + seed * 100_000)
        state = run_adaptive(
            items,
            configs_of,
            backend,
            hours,
            source_n,
            Settings(budget, max_seeds, seed=rep, looks=looks),
            None,
            lambda s: None,
        )
        verdicts = {i: d["verdict"] for i, d in state["decided"].items()}
        spent = sum(hours[c] * n for c, n in backend.done.items())
        rows["adaptive (budget of fixed n = 5)"].append(tally(world, verdicts) | {"hours": spent})
    return summarise(rows, world, reps, plan, budget) | {"hours_filled_from_their_source": filled}


def _first(values: dict, counts: dict[str, int]) -> dict:
    """The first ``counts[c]`` seeds of each configuration's values."""
    return {c: {m: v[: counts.get(c, 0)] for m, v in d.items()} for c, d in values.items()}


EVERY_LOOK = "sequential, every look 1..N (any planner's worst case)"


def error_rates(reps: int, plan: Path, max_seeds: int = 10, seed: int = 0) -> dict:
    """Error rates without the planner, over ``reps`` reproductions of the catalog: the two fixed designs, and the
    sequential rule with every item looked at at every look 1..N (first decision kept). A planner chooses which
    of these looks happen, so every look taken is the worst case of that choice (all configurations advance
    together here, so the pooled spreads differ from a campaign's); the adaptive design's own rates are
    ``simulate``'s."""
    items, configs_of, hours, _, world, _, designs = setup(plan)
    looks = schedule(max_seeds)
    top = max(max_seeds, *(n for d in designs.values() for n in d.values()))
    rows: dict[str, list[dict]] = {k: [] for k in (*designs, EVERY_LOOK)}
    for rep in range(reps):
        backend = SimBackend(world, 1_000_000 + rep + seed * 100_000)  # draws apart from simulate()'s
        backend.run(dict.fromkeys(configs_of, top), 1)
        values = backend.values()
        for name, counts in designs.items():
            judged = judge_items(items, _first(values, counts), configs_of, schedule(1, fixed=1))
            rows[name].append(tally(world, {i: r["verdict"] for i, r in judged.items()}) | {"hours": 0.0})
        decided: dict[str, str] = {}
        for k in looks:
            judged = judge_items(items, _first(values, dict.fromkeys(configs_of, k)), configs_of, looks)
            for i, r in judged.items():
                if i not in decided and r["verdict"] in DECIDED:
                    decided[i] = r["verdict"]
        rows[EVERY_LOOK].append(tally(world, decided) | {"hours": 0.0})
        if (rep + 1) % 200 == 0:
            print(f"error rates: {rep + 1}/{reps} reproductions", file=sys.stderr, flush=True)
    out = summarise(rows, world, reps, plan, 0.0)
    for d in out["designs"].values():
        del d["hours_mean"]  # not a design's cost here: only its error rates
    return {"reps": reps, "max_seeds": max_seeds, "designs": out["designs"]}


def summarise(rows: dict, world: World, reps: int, plan: Path, budget: float) -> dict:
    n_items = len(world.items)
    out = {"reps": reps, "plan": str(plan), "items": n_items, "budget_hours": round(budget, 1), "designs": {}}
    for name, rs in rows.items():
        tot = {k: sum(r[k] for r in rs) for k in rs[0]}
        mc = lambda p, n: round(float(np.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))), 5)  # noqa: E731
        fr = tot["false_reproduced"] / max(tot["at_or_beyond_delta"], 1)
        fd = tot["false_differs"] / max(tot["true_zero"], 1)
        fs = tot["false_supported_families"] / max(tot["families"], 1)
        out["designs"][name] = {
            "decided_share": round(tot["decided"] / (n_items * len(rs)), 4),
            "decided_mean": round(tot["decided"] / len(rs), 2),
            "hours_mean": round(tot["hours"] / len(rs), 1),
            "false_reproduced": round(fr, 5), "false_reproduced_mc_se": mc(fr, tot["at_or_beyond_delta"]),
            "false_differs": round(fd, 5), "false_differs_mc_se": mc(fd, tot["true_zero"]),
            "false_supported_per_source": round(fs, 5), "false_supported_mc_se": mc(fs, tot["families"]),
        }  # fmt: skip
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, d in result["designs"].items():
        ax.scatter(d["hours_mean"], d["decided_mean"], s=60, label=name)
    half = result["designs"]["fixed n = 5"]["hours_mean"] / 2
    ax.axvline(half, color="grey", linestyle="--", linewidth=1)
    ax.text(half, ax.get_ylim()[0], " target: ≤ 50% of fixed n = 5's hours", fontsize=7, va="bottom")
    ax.axhline(result["designs"]["fixed n = 5"]["decided_mean"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("hours of the plan per reproduction (mean)")
    ax.set_ylabel(f"items decided (of {result['items']})")
    ax.set_title(f"Items decided vs hours, {result['reps']} simulated reproductions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="Reproductions for the design comparison (0: skip).")
    ap.add_argument("--error-reps", type=int, default=2000, help="Reproductions for the error rates (0: skip).")
    ap.add_argument("--plan", type=Path, default=Path("benchmarks/plan-cpu.json"))
    ap.add_argument("--max-seeds", type=int, default=10)
    ap.add_argument("--out", type=Path, help="Write the JSON here; a part skipped (0 reps) keeps what --out had.")
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--looks", help="Look schedule, e.g. 1,2,3,5,10 (default: every seed count).")
    ap.add_argument("--replot", type=Path, help="Only draw --plot from this JSON of an earlier run.")
    args = ap.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot)
        return
    looks = tuple(int(x) for x in args.looks.split(",")) if args.looks else None
    result = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    if args.reps:
        result |= simulate(args.reps, args.plan, args.max_seeds, looks=looks) | {"looks": list(looks or [])}
    if args.error_reps:
        result["error_rates"] = error_rates(args.error_reps, args.plan, args.max_seeds)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot and "designs" in result:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
