"""``repro seeds``: for every compared figure, ratio and trained claim, the seeds that would decide it and
their GPU-hours (issue 17, seed planning).

A figure with runs: the seeds its verdict says would decide it (``CellVerdict.seeds_needed``: the observed Δ
and sd taken as the truth), or its n when already decided. A figure without runs: the seeds for the TOST to
pass with 80% power if the truth equals the reported value (Δ = 0), with the spread a single run would use
(pooled seed-to-seed sd of its dataset and family, else the binomial SE floor). A claim: seeds per arm for 80%
power of the one-sided Welch test at the reported effect (else the observed one), with the same spread.
Hours: seeds × the plan's ``seconds_per_run`` of the configuration (``repro plan --out``); GPU-hours when
the plan was measured on a GPU.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog import Source
from ..planfile import seconds_per_run
from .claim_kinds import ClaimResult, evaluate_claims
from .judging import Pool, evaluated_images, judge_ratio, margin_for
from .tables import collect, finished_runs
from .verdicts import POWER, SEEDS_CAP, CellVerdict, binomial_se, seeds_for_power


def _planned(sd: float | None, margin: float, n_source: int | None, reported: float) -> int | None:
    """Seeds for the cell rule to decide ("reproduced") with 80% power when the truth is the reported value."""
    if not sd or margin <= 0:
        return None
    stats = CellVerdict(
        "inconclusive", None, reported, reported, 0.0, margin, None, None, None, 1, sd, None, "plan", best_of=n_source
    )
    return stats.seeds_needed


def _spread(pool: Pool, name: str, metric: str, unit: str, reported: float, n_images: int) -> tuple[float | None, str]:
    pooled = pool.for_config(name, metric)
    floor = binomial_se(reported, n_images) if unit == "%" else 0.0
    if pooled is not None and pooled.sd > 0:
        return max(pooled.sd, floor), f"pooled sd {max(pooled.sd, floor):.3g} of {pooled.groups} configurations"
    if floor:
        return floor, f"binomial SE floor {floor:.3g}"
    return None, "no spread estimate (no runs of this metric with n ≥ 2)"


def seed_plan(sources: dict[str, Source], results, plan: dict | None, plan_path: Path | None, profile: str) -> dict:
    """Seeds needed and their hours for every figure, ratio and claim (see the module docstring)."""
    all_runs, pool = finished_runs(sources, results)
    configs = pool.configs
    per_run = seconds_per_run(plan) if plan else {}
    gpu = bool(plan) and plan.get("gpu_hours") is not None

    def hours(config: str, seeds: int | None) -> float | None:
        if seeds is None or config not in per_run:
            return None
        return round(seeds * per_run[config] / 3600, 2)

    figures, ratios, claims = [], [], []
    for source in sources.values():
        runs = all_runs[source.id]
        for (table, row, column), cell in collect(source, runs, profile, pool, configs).items():
            name, rep, judged = cell.config, cell.rep, cell.judged
            if isinstance(rep.value, str) or rep.hardware or rep.unit in ("count", "MACs"):
                continue  # qualitative, other hardware (see ratios) and counts need no seeds
            n_now, cfg = judged.n, configs[name]
            if judged.stats is not None:
                needed = judged.stats.seeds_needed if judged.verdict == "inconclusive" else n_now
                basis = f"observed ({judged.verdict}, n={n_now})"
                known = bool(judged.stats.sd)
            else:
                n_images, where = evaluated_images(cfg, rep.metric, runs.get(name, []))
                margin = margin_for(source, table, rep, n_images, where).value
                sd, how = _spread(pool, name, rep.metric, rep.unit, float(rep.value), n_images)
                best_of = cfg.n_seeds if rep.over_runs == "max" else None
                needed = _planned(sd, margin, best_of, float(rep.value))
                basis = f"planned: truth = reported, {how}, δ {margin:.3g}"
                known = sd is not None
            figures.append(
                {
                    "source": source.id, "table": table, "row": row, "column": column, "config": name,
                    "verdict": judged.verdict, "runs_now": n_now, "catalog_runs": cfg.n_seeds,
                    "seeds_needed": needed, "capped": needed is None and known, "basis": basis,
                    "hours": hours(name, needed), "untimed": [c for c in (name,) if c not in per_run],
                    "extra_hours": hours(name, None if needed is None else max(0, needed - n_now)),
                }
            )  # fmt: skip
        for key, table in source.tables.items():
            for ratio in table.ratios:
                jr = judge_ratio(source, key, ratio, runs, pool, profile)
                (num, den), s = jr.arms, jr.judged.stats
                needed = None if s is None else s.seeds_needed if s.verdict == "inconclusive" else s.n
                h = [hours(num, needed), hours(den, needed)]
                ratios.append(
                    {
                        "source": source.id, "table": key, "ratio": f"{ratio.numerator} / {ratio.denominator}",
                        "configs": [num, den], "verdict": jr.judged.verdict, "seeds_needed": needed,
                        "capped": needed is None and bool(s and s.sd),
                        "basis": "observed" if s is not None else "needs runs: no spread estimate yet",
                        "hours": None if None in h else round(sum(h), 2),
                        "untimed": [c for c in (num, den) if c not in per_run],
                    }
                )  # fmt: skip
        for result in evaluate_claims(source, runs, profile, pool):
            if not isinstance(result, ClaimResult):
                continue  # cited and cost claims need no seeds
            claim, s = result.claim, result.stats
            if s is not None and s.effect_size is not None:
                need, basis = s.seeds_for_80_power, f"{s.basis}; effect {s.effect_size:.2f} sd"
            else:
                effect = result.reported_effect
                figure = next(
                    (float(r.value) for r in configs[claim.better].reported
                     if r.metric == claim.metric and not isinstance(r.value, str)), None
                )  # fmt: skip
                unit = next((r.unit for r in configs[claim.better].reported if r.metric == claim.metric), "%")
                unit = "%" if claim.metric.endswith(("_acc", "_error")) else unit
                n_images, _ = evaluated_images(configs[claim.better], claim.metric, [])
                sd, how = _spread(pool, claim.better, claim.metric, unit, figure or 50.0, n_images)
                if effect is None or not sd:
                    need, basis = None, "unknown: no reported effect and no runs" if effect is None else how
                else:
                    need = seeds_for_power(effect / sd)  # sd of one arm's seeds
                    basis = f"planned: reported effect {effect:+.2f}, {how}"
            h = [hours(claim.better, need), hours(claim.worse, need)]
            claims.append(
                {
                    "source": source.id, "claim": claim.text, "better": claim.better, "worse": claim.worse,
                    "verdict": result.verdict, "seeds_per_arm": need, "basis": basis,
                    "capped": need is None and not basis.startswith(("unknown", "no spread")),
                    "hours": None if None in h else round(sum(h), 2),
                    "untimed": [c for c in (claim.better, claim.worse) if c not in per_run],
                }
            )  # fmt: skip
    extra = [f["extra_hours"] for f in figures if f["extra_hours"] is not None]
    return {
        "plan": str(plan_path) if plan_path else None,
        "device": (plan or {}).get("device_name"),
        "hours_are": "GPU-hours" if gpu else ("hours on this plan's device (not a GPU)" if plan else "no plan given"),
        "power": POWER,
        "seeds_cap": SEEDS_CAP,
        "figures": figures,
        "ratios": ratios,
        "claims": claims,
        "figure_extra_hours": round(sum(extra), 2) if extra else None,
    }


def describe(result: dict) -> str:
    """A readable table for the terminal."""

    def n(v, row):
        return str(v) if v is not None else f"> {result['seeds_cap']}" if row.get("capped") else "unknown"

    def h(row):  # hours; a configuration without a time in the plan says how to get one
        if row["hours"] is not None:
            return f"{row['hours']:,.1f} h"
        return "no time in the plan: run `repro plan`" if row.get("untimed") else "— h"

    lines = [f"plan: {result['plan'] or 'none'} ({result['hours_are']})"]
    if result.get("plan_coverage"):  # a plan older than the catalog: "—" hours where it has no estimate
        lines.append(f"warning: {result['plan_coverage']}")
    lines += ["", "figures:"]
    width = max((len(f"{f['config']} {f['column']}") for f in result["figures"]), default=10)
    for f in result["figures"]:
        label = f"{f['config']} {f['column']}"
        need = n(f["seeds_needed"], f)
        lines.append(f"  {label:<{width}}  {f['verdict']:<16} now {f['runs_now']:>2}  need {need:>5}  {h(f):>10}")
    lines += ["", "ratios:"] + [
        f"  {r['source']} {r['ratio']}: {r['verdict']}, need {n(r['seeds_needed'], r)} ({h(r)})"
        for r in result["ratios"]
    ]
    lines += ["", "claims (seeds per arm for 80% power):"] + [
        f"  {c['better']} > {c['worse']}: {c['verdict']}, {n(c['seeds_per_arm'], c)} per arm ({h(c)})"
        for c in result["claims"]
    ]
    return "\n".join(lines)
