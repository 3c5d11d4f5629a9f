"""The claims page: one result per claim, by kind. Trained claims are two-arm tests over seeds
(``verdicts.claim_verdict``, one result per worse arm); cited ones have no verdict; cost ones compare
parameter or MAC counts of the built models, without training.

Each result has the ``verdict`` and ``sentence()`` that the claims page prints.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cache, cached_property

from ..catalog import Claim, Source, configurations_of, get_configuration
from ..inventory import input_shape
from .judging import Pool, metric_values
from .verdicts import ClaimVerdict, PooledSD, claim_verdict


def reported_effect(source: Source, claim: Claim) -> float | None:
    """The source's advantage of ``better`` over ``worse`` in metric units (> 0 agrees with the claim): the
    catalog's ``reported_effect``, else the difference of both arms' reported figures of the claim's metric."""
    if claim.reported_effect is not None:
        return claim.reported_effect

    def figure(arm: str) -> float | None:
        values = {
            float(r.value) for r in source.configurations[arm].reported
            if r.metric == claim.metric and not isinstance(r.value, str) and r.over_runs == "mean"
        }  # fmt: skip
        return values.pop() if len(values) == 1 else None

    b, w = figure(claim.better), figure(claim.worse_arms[0])
    if b is None or w is None:
        return None
    return (b - w) if claim.higher_is_better else (w - b)


@dataclass
class ClaimResult:
    """A trained claim against one worse arm, over the finished runs of both."""

    claim: Claim
    better: list[float]
    worse: list[float]
    profile: str
    reported_effect: float | None = None
    pooled: PooledSD | None = None  # for single-run arms

    @cached_property
    def stats(self) -> ClaimVerdict | None:
        if not self.better or not self.worse or self.profile == "smoke":
            return None
        return claim_verdict(self.better, self.worse, self.claim.higher_is_better, self.reported_effect, self.pooled)

    @property
    def verdict(self) -> str:
        if not self.better or not self.worse:
            return "not run"
        if self.profile == "smoke":
            return "smoke only"
        return self.stats.verdict

    def sentence(self) -> str:
        c = self.claim
        nb, nw = len(self.better), len(self.worse)
        effect = (
            f"reported effect {self.reported_effect:+.2f}" if self.reported_effect is not None
            else "no reported effect: power at the observed one"
        )  # fmt: skip
        if self.stats is None:
            state = "not run yet" if self.verdict == "not run" else "smoke only"
            return f"{c.text} — {state} ({c.better}: n={nb}, {c.worse}: n={nw}; {effect})."
        s = self.stats
        mb, mw = statistics.fmean(self.better), statistics.fmean(self.worse)
        parts = [f"{c.metric} {mb:.2f} ({c.better}, n={nb}) vs {mw:.2f} ({c.worse}, n={nw})"]
        if s.ci95 is not None:
            parts.append(
                f"difference {s.advantage:+.2f} in the claim's direction, 95% CI [{s.ci95[0]:+.2f}, {s.ci95[1]:+.2f}]"
            )
        else:
            parts.append(f"difference {s.advantage:+.2f} in the claim's direction")
        if s.p is not None:  # g_ci95: set by Welch's test, absent when the pooled sd stood in
            parts.append(f"Welch one-sided p = {s.p:.3g}" if s.g_ci95 else f"one-sided p = {s.p:.3g} ({s.basis})")
        if s.hedges_g is not None:
            ci = f" [{s.g_ci95[0]:.2f}, {s.g_ci95[1]:.2f}]" if s.g_ci95 else ""
            parts.append(("Hedges' g" if s.g_ci95 else "standardised difference") + f" {s.hedges_g:.2f}{ci}")
        if s.effect_size is not None:
            at = "the reported" if self.reported_effect is not None else "the observed"
            need = s.seeds_for_80_power
            parts.append(
                f"80% power at {at} effect ({s.effect_size:.2f} sd): "
                + (f"{need} seeds per arm" if need else "not defined (effect not in the claim's direction)")
            )
        why = f" ({s.reason})" if s.reason else ""
        return f"{c.text} — {self.verdict}{why}: " + "; ".join(parts) + "."


@dataclass
class CitedClaimResult:
    claim: Claim

    @property
    def verdict(self) -> str:
        return "cited, no verdict"

    def sentence(self) -> str:
        return f"{self.claim.text} — cited without a verdict: {self.claim.why}"


@cache
def _counts(name: str) -> dict[str, int]:
    from ..models import model_counts

    config = get_configuration(name)
    return model_counts(config.model, *input_shape(config), **config.model_options)


def configuration_count(name: str, metric: str) -> int:
    """``metric`` (params, non_trainable_params or macs) of configuration ``name``'s built model."""
    return _counts(name)[metric]


@dataclass
class CostClaimResult:
    claim: Claim
    better: float
    worse: float  # the other arm's count, or the source's printed reference figure

    @property
    def measured_ratio(self) -> float:
        return self.better / self.worse

    @property
    def verdict(self) -> str:
        c = self.claim
        return "holds" if abs(self.measured_ratio - c.ratio) <= c.ratio_tolerance else "does not hold"

    def sentence(self) -> str:
        c = self.claim
        other = c.worse if c.worse is not None else "the figure the source printed"
        return (
            f"{c.text} — {self.verdict} (counted, no training): {c.metric} {self.better:,.0f} ({c.better}) / "
            f"{self.worse:,.0f} ({other}) = {self.measured_ratio:.4f}; stated {c.ratio:g} ± {c.ratio_tolerance:g}."
            + (f" {c.why}" if c.why else "")
        )


def evaluate_other(claim: Claim) -> CitedClaimResult | CostClaimResult:
    """The result of a cited claim or a cost claim."""
    if claim.cited:
        return CitedClaimResult(claim)
    better = configuration_count(claim.better, claim.metric)
    worse = claim.reference if claim.reference is not None else configuration_count(claim.worse_arms[0], claim.metric)
    return CostClaimResult(claim, better, worse)


def evaluate_claims(
    source: Source, runs: dict[str, list[dict]], profile: str, pool: Pool | None = None
) -> list[ClaimResult | CitedClaimResult | CostClaimResult]:
    """One result per (better, worse) pair of a trained claim, one per cited or cost claim."""
    pool = pool or Pool(runs, configurations_of(source))
    out = []
    for c in source.claims:
        if c.kind != "trained" or c.cited:
            out.append(evaluate_other(c))
            continue
        for p in c.pairs():
            better, worse = (metric_values(runs.get(arm, []), p.metric) for arm in (p.better, p.worse))
            pooled = pool.for_pair(p.better, p.worse, p.metric) if min(len(better), len(worse)) < 2 else None
            out.append(ClaimResult(p, better, worse, profile, reported_effect(source, p), pooled))
    return out
