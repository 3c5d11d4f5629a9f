"""Claims that are not a two-arm test over trained seeds: cited ones (no verdict) and cost ones
(parameter or MAC counts of the built models, checked without training).

Kept apart from ``tables.py`` so that the claim statistics there can change without touching these.
Each result has the ``verdict`` and ``sentence()`` that the claims page prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..catalog import Claim, Source, get_configuration
from ..inventory import input_shape


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


def configuration_count(source: Source, name: str, metric: str) -> int:
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


def evaluate_other(source: Source, claim: Claim) -> CitedClaimResult | CostClaimResult:
    """The result of a cited claim or a cost claim."""
    if claim.cited:
        return CitedClaimResult(claim)
    better = configuration_count(source, claim.better, claim.metric)
    if claim.reference is not None:
        worse = claim.reference
    else:
        worse = configuration_count(source, claim.worse_arms[0], claim.metric)
    return CostClaimResult(claim, better, worse)
