"""Verdicts on reproduced figures and claims (issue 17, part 1): equivalence, best-of-runs, claims, seeds needed.

A figure ("cell") compares our value over seeds with the number the source printed (``reported``):
Δ = ours − reported, judged against an equivalence margin δ (``default_delta`` unless the catalog declares one).

- **reproduced**: the TOST equivalence test passes at α, i.e. the (1 − 2α) = 90% interval of Δ lies inside ±δ;
- **differs**: the (1 − α) = 95% interval of Δ excludes 0 *and* |Δ| > δ; ``direction`` says below or above;
- **inconclusive**: otherwise, with a ``reason`` and the ``seeds_needed`` that would decide it.

The reported number is taken as fixed (most sources print no spread), except for best-of-runs figures, whose
randomness as the maximum of the source's runs is modelled (``best_of_runs_verdict``).

Spread: the sample sd of our seeds (t with n − 1 df), floored at ``floor_sd`` (the test set's binomial SE) so that
identical seeds never give a certain verdict. A single run borrows the pooled seed-to-seed sd of other
configurations (t with the pool's df), or else the floor as a known sigma (z).

Imports only numpy, scipy, statsmodels and the standard library: rendering imports this module, not the reverse.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy import integrate, stats
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import DescrStatsW

ALPHA = 0.05
POWER = 0.8  # probability with which "seeds needed" decides a cell or supports a claim
SEEDS_CAP = 100  # seed counts are searched up to this; None beyond it (shown as "> 100")
MIN_DELTA = 0.5  # points: the smallest default margin


def binomial_se(percent: float, n_test: int) -> float:
    """Standard error in points of an accuracy (or error rate) of ``percent`` % measured on ``n_test`` images."""
    p = percent / 100
    return 100 * math.sqrt(p * (1 - p) / n_test)  # symmetric: an error p has the SE of the accuracy 100 − p


def default_delta(reported_percent: float, n_test: int) -> float:
    """Default margin δ: max(0.5 points, 2 × the binomial SE of the test set at the reported value)."""
    return max(MIN_DELTA, 2 * binomial_se(reported_percent, n_test))


@dataclass(frozen=True)
class PooledSD:
    """A seed-to-seed sd pooled over configurations, with its degrees of freedom and number of groups."""

    sd: float
    df: int
    groups: int


def pooled_sd(groups: Sequence[Sequence[float]]) -> PooledSD | None:
    """Within-group sd pooled over the groups with n ≥ 2, each weighted by its n − 1 df; None if there is none."""
    used = [list(g) for g in groups if len(g) >= 2]
    if not used:
        return None
    df = sum(len(g) - 1 for g in used)
    ss = sum(float(np.var(g)) * len(g) for g in used)  # numpy: the adaptive simulator calls this often
    return PooledSD(math.sqrt(ss / df), df, len(used))


@lru_cache(maxsize=64)
def max_of_normals(m: int) -> tuple[float, float]:
    """Mean and sd of the maximum of ``m`` independent standard normal draws (order statistics, by quadrature).

    The maximum has density m·φ(x)·Φ(x)^(m−1); e.g. m = 5 gives mean 1.16296 (Harter's tables).
    """
    pdf = lambda x: m * stats.norm.pdf(x) * stats.norm.cdf(x) ** (m - 1)  # noqa: E731
    mean = integrate.quad(lambda x: x * pdf(x), -np.inf, np.inf)[0]
    second = integrate.quad(lambda x: x * x * pdf(x), -np.inf, np.inf)[0]
    return mean, math.sqrt(max(second - mean * mean, 0.0))


# ---- power and seed counts -------------------------------------------------------------------------------


def _decide_power(
    se: np.ndarray, df: np.ndarray, delta_true: float, margin: float, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds on P(reproduced) and P(differs) when the true Δ is ``delta_true`` (arrays over seed counts).

    ``se`` is the true standard error of Δ̂. Each one-sided statistic (Δ̂ − c)/ŝe is noncentral t with ``df``
    degrees of freedom and noncentrality (Δ − c)/se; two one-sided events A, B are joined by
    P(A ∩ B) ≥ P(A) + P(B) − 1 (exact TOST power needs Owen's Q), so seed counts err on the high side.
    """
    t_tost = stats.t.ppf(1 - alpha, df)
    t_two = stats.t.ppf(1 - alpha / 2, df)
    # reproduced: (Δ̂ + δ)/ŝe > t and (Δ̂ − δ)/ŝe < −t
    reproduced = stats.nct.sf(t_tost, df, (delta_true + margin) / se) + stats.nct.cdf(
        -t_tost, df, (delta_true - margin) / se
    )
    # differs (on the side of the true Δ): |Δ̂|/ŝe > t(1 − α/2) and |Δ̂| > δ
    d = abs(delta_true)
    differs = stats.nct.sf(t_two, df, d / se) + stats.norm.cdf((d - margin) / se)
    return np.clip(reproduced - 1, 0, 1), np.clip(differs - 1, 0, 1)


def _first_n(power_at: Callable[[np.ndarray], np.ndarray], power: float, cap: int) -> int | None:
    n = np.arange(2, cap + 1)
    hits = np.flatnonzero(power_at(n) >= power)
    return int(n[hits[0]]) if hits.size else None


def seeds_needed_for_equivalence(
    sd: float, delta_true: float, margin: float, alpha: float = ALPHA, power: float = POWER, cap: int = SEEDS_CAP
) -> int | None:
    """Smallest n (2..cap) whose TOST at ±``margin`` passes with probability ≥ ``power``; None if above ``cap``.

    Assumes seeds ~ N(reported + ``delta_true``, ``sd``²); power from the noncentral t (see ``_decide_power``).
    """
    if sd <= 0:
        raise ValueError("sd must be positive")
    return _first_n(lambda n: _decide_power(sd / np.sqrt(n), n - 1, delta_true, margin, alpha)[0], power, cap)


def seeds_needed_to_decide(
    sd: float, delta_true: float, margin: float, alpha: float = ALPHA, power: float = POWER, cap: int = SEEDS_CAP
) -> int | None:
    """Smallest n (2..cap) at which the cell rule gives "reproduced" or "differs" with probability ≥ ``power``.

    Same model as ``seeds_needed_for_equivalence``; None if more than ``cap`` seeds are needed.
    """
    if sd <= 0:
        raise ValueError("sd must be positive")

    def decided(n: np.ndarray) -> np.ndarray:
        reproduced, differs = _decide_power(sd / np.sqrt(n), n - 1, delta_true, margin, alpha)
        return reproduced + differs  # disjoint events: reproduced needs |Δ̂| < δ, differs |Δ̂| > δ

    return _first_n(decided, power, cap)


# ---- cells -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellVerdict:
    """The verdict on one figure; intervals are of Δ = value − reported, in the figure's unit."""

    verdict: str  # "reproduced" | "differs" | "inconclusive"
    direction: str | None  # "below" | "above": our value against the reported one (differs only)
    value: float  # ours: the mean over seeds, or for best-of-runs the expected best of ``best_of`` runs
    reported: float
    delta: float  # value − reported
    margin: float  # δ
    ci90: tuple[float, float] | None
    ci95: tuple[float, float] | None
    p_tost: float | None  # max of the two one-sided p-values
    n: int
    sd: float | None  # the sd used (None: no spread estimate)
    df: float | None  # degrees of freedom of the t intervals; None: z (known sigma)
    basis: str  # which spread was used
    alpha: float = ALPHA
    best_of: int | None = None  # best-of-runs figures: the source's number of runs

    def _se_at(self, n: np.ndarray) -> np.ndarray:
        """Standard error of Δ̂ with n seeds of our own (the model behind ``seeds_needed``); for best-of-runs a
        normal approximation of the pivot: our mean, σ̂'s error times eₘ, and the spread vₘ of one best of m."""
        if self.best_of is None:
            return self.sd / np.sqrt(n)
        e, v = max_of_normals(self.best_of)
        return self.sd * np.sqrt(1 / n + e * e / (2 * (n - 1)) + v * v)

    @cached_property
    def seeds_needed(self) -> int | None:
        """Inconclusive cells: seeds that decide it with probability ≥ POWER if the observed Δ and sd are the
        truth (at least n + 1); None when decided, without a spread estimate, or when more than SEEDS_CAP."""
        if self.verdict != "inconclusive" or not self.sd:
            return None

        def decided(n: np.ndarray) -> np.ndarray:
            return sum(_decide_power(self._se_at(n), n - 1, self.delta, self.margin, self.alpha))

        needed = _first_n(decided, POWER, SEEDS_CAP)
        return None if needed is None else min(max(needed, self.n + 1), SEEDS_CAP)

    @cached_property
    def reason(self) -> str | None:
        """Why a cell is inconclusive: "n too small" (more seeds would decide it), "spread too wide" (not even
        SEEDS_CAP seeds would at Δ = 0), "difference close to δ" (only the margin is in the way), or
        "no spread (identical seeds)" when n ≥ 2 identical values come without a floor."""
        if self.verdict != "inconclusive":
            return None
        if not self.sd:
            return "n too small" if self.n < 2 else "no spread (identical seeds)"
        if self.seeds_needed is not None:
            return "n too small"
        at_zero = sum(_decide_power(self._se_at(np.array([SEEDS_CAP])), SEEDS_CAP - 1, 0.0, self.margin, self.alpha))
        return "spread too wide" if at_zero[0] < POWER else "difference close to δ"

    @property
    def label(self) -> str:
        """The verdict with the direction of a difference: "differs (below)"."""
        return f"differs ({self.direction})" if self.verdict == "differs" else self.verdict

    @property
    def to_decide(self) -> str:
        """What would decide an inconclusive cell: "; N seeds would decide", "; > 100 seeds needed" or ""."""
        if self.seeds_needed is not None:
            return f"; {self.seeds_needed} seeds would decide"
        return f"; > {SEEDS_CAP} seeds needed" if self.sd else ""

    def text(self) -> str:
        """A short phrase for a table cell."""
        if self.verdict == "reproduced":
            return f"reproduced (Δ {self.delta:+.2f} within ±{self.margin:.2f})"
        if self.verdict == "differs":
            return f"differs: {abs(self.delta):.2f} {self.direction} (δ {self.margin:.2f})"
        return f"inconclusive: {self.reason}{self.to_decide}"


def _decide(
    value: float, reported: float, ci90: tuple, ci95: tuple, p_tost: float, margin: float, alpha: float
) -> dict:
    """The three-way rule, given the (1 − 2α) and (1 − α) intervals of Δ and the TOST p-value."""
    diff = value - reported
    if p_tost < alpha:  # ⟺ ci90 inside ±margin
        verdict, direction = "reproduced", None
    elif (ci95[0] > 0 or ci95[1] < 0) and abs(diff) > margin:
        verdict, direction = "differs", "above" if diff > 0 else "below"
    else:
        verdict, direction = "inconclusive", None
    return dict(
        verdict=verdict, direction=direction, value=value, reported=reported, delta=diff,
        ci90=(float(ci90[0]), float(ci90[1])), ci95=(float(ci95[0]), float(ci95[1])), p_tost=float(p_tost),
    )  # fmt: skip


def _three_way(
    value: float,
    reported: float,
    se: float,
    df: float | None,
    margin: float,
    alpha: float,
    p_tost: float | None = None,
) -> dict:
    """TOST (two one-sided tests at ±margin) and intervals of Δ; t with ``df``, or z when df is None."""
    args = () if df is None else (df,)
    dist = stats.norm if df is None else stats.t
    diff = value - reported
    if p_tost is None:  # H0: Δ ≤ −δ and H0: Δ ≥ δ, each one-sided
        p_tost = max(dist.sf((diff + margin) / se, *args), dist.cdf((diff - margin) / se, *args))
    q90, q95 = dist.ppf([1 - alpha, 1 - alpha / 2], *args)
    ci90 = (diff - q90 * se, diff + q90 * se)
    ci95 = (diff - q95 * se, diff + q95 * se)
    return _decide(value, reported, ci90, ci95, p_tost, margin, alpha)


def _spread(
    values: list[float], pooled: PooledSD | None, floor_sd: float | None
) -> tuple[float | None, float | None, str, bool]:
    """(sd, df, basis, own): the spread a cell uses; own is True when it is the seeds' own sample sd."""
    n, floor = len(values), floor_sd or 0.0
    if n >= 2:
        s = statistics.stdev(values)
        if s >= floor and s > 0:
            return s, n - 1, f"seeds (n={n})", True
        if floor > 0:
            return floor, n - 1, f"binomial SE floor (seeds' sd {s:.3g} below it, n={n})", False
        return None, None, f"identical seeds (n={n}), no floor", False
    if pooled is not None and max(pooled.sd, floor) > 0:
        floored = " (floored at the binomial SE)" if pooled.sd < floor else ""
        basis = f"pooled seed-to-seed sd of {pooled.groups} configurations{floored}"
        return max(pooled.sd, floor), pooled.df, basis, False
    if floor > 0:
        return floor, None, "binomial SE floor", False
    return None, None, "single run, no spread estimate", False


def _seeds(values: Sequence[float], pooled: PooledSD | None, floor_sd: float | None):
    """(values as floats, sd, df, basis, own): the seeds and the spread a cell uses (``_spread``)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values")
    return values, *_spread(values, pooled, floor_sd)


def _no_spread(values: list[float], reported: float, margin: float, alpha: float, basis: str, **kw) -> CellVerdict:
    value = kw.pop("value", statistics.fmean(values))
    return CellVerdict(
        "inconclusive", None, value, reported, value - reported, margin, None, None, None,
        len(values), None, None, basis, alpha, **kw,
    )  # fmt: skip


def cell_verdict(
    values: Sequence[float],
    reported: float,
    margin: float,
    pooled: PooledSD | None = None,
    floor_sd: float | None = None,
    alpha: float = ALPHA,
) -> CellVerdict:
    """Three-way verdict on the mean of ``values`` (one per seed) against ``reported``, with margin δ = ``margin``.

    n ≥ 2: TOST on the seeds (statsmodels ``DescrStatsW.ttost_mean``) and t intervals with n − 1 df; the sd is
    floored at ``floor_sd`` (then the same tests use the floor). n = 1: the run's value with the pooled sd of
    other configurations (t with the pool's df: the pool's sd is an estimate, not a known sigma), or else
    ``floor_sd`` as a known sigma (z); with neither, inconclusive ("n too small").
    """
    values, sd, df, basis, own = _seeds(values, pooled, floor_sd)
    if sd is None:
        return _no_spread(values, reported, margin, alpha, basis)
    n = len(values)
    p = None
    if own:  # the library's TOST; _three_way computes the same test when the sd is substituted
        p = float(DescrStatsW(np.asarray(values)).ttost_mean(reported - margin, reported + margin)[0])
    fields = _three_way(statistics.fmean(values), reported, sd / math.sqrt(n), df, margin, alpha, p)
    return CellVerdict(**fields, margin=margin, n=n, sd=sd, df=df, basis=basis, alpha=alpha)


PIVOT_DRAWS = 200_000  # Monte Carlo draws of the best-of-runs pivot (fixed seed): quantile error ≈ 0.01 sd


@lru_cache(maxsize=128)
def _best_of_pivot(m: int, n: int, df: float | None) -> np.ndarray:
    """Sorted draws of Q = (max of m N(0, 1) − mean of n N(0, 1)) / S with S² ~ χ²(df)/df (S = 1 if df is None)."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((PIVOT_DRAWS, m)).max(axis=1) - rng.standard_normal(PIVOT_DRAWS) / math.sqrt(n)
    if df is not None:
        q /= np.sqrt(rng.chisquare(df, PIVOT_DRAWS) / df)
    return np.sort(q)


def best_of_runs_verdict(
    values: Sequence[float],
    reported: float,
    n_source: int,
    margin: float,
    pooled: PooledSD | None = None,
    floor_sd: float | None = None,
    alpha: float = ALPHA,
) -> CellVerdict:
    """Three-way verdict on a figure the source printed as the best (max) of its ``n_source`` runs.

    Rule: every run, ours and the source's, is N(μ, σ²), the source's runs shifted by −θ (θ = our mean − theirs,
    which is also our expected best of m minus theirs). With our mean x̄ and sd s (as in ``cell_verdict``: own sd
    floored, pooled or the floor for a single run) the quantity (reported + θ − x̄)/s is a pivot: it has the law of
    Q = (max of m N(0,1) − mean of n N(0,1)) / S, S² ~ χ²(df)/df, free of μ and σ (drawn by ``_best_of_pivot``).
    Hence exact intervals θ ∈ x̄ − reported + s·[Q_lo, Q_hi], an exact TOST on θ at ±δ, and the rule of
    ``cell_verdict`` on them. ``value`` is x̄ + s·median(Q), our typical best of m (Δ is then median-unbiased).
    The source's single best-of-m draw keeps the intervals wide however many seeds we run.
    """
    if n_source < 1:
        raise ValueError("n_source must be ≥ 1")
    values, sd, df, basis, _ = _seeds(values, pooled, floor_sd)
    basis = f"{basis}; best of {n_source} as the max of normal draws"
    if sd is None:
        return _no_spread(values, reported, margin, alpha, basis, value=max(values), best_of=n_source)
    n, mean = len(values), statistics.fmean(values)
    q = _best_of_pivot(n_source, n, df)
    probs = np.array([alpha, alpha / 2, 0.5, 1 - alpha / 2, 1 - alpha])
    lo90, lo95, med, hi95, hi90 = q[np.rint(probs * (q.size - 1)).astype(int)]  # q is sorted
    base = mean - reported  # θ = base + s·Q
    below = np.searchsorted(q, (reported - margin - mean) / sd) / q.size  # p of H0: θ ≤ −δ
    above = 1 - np.searchsorted(q, (reported + margin - mean) / sd) / q.size  # p of H0: θ ≥ δ
    ci90 = (base + sd * lo90, base + sd * hi90)
    ci95 = (base + sd * lo95, base + sd * hi95)
    fields = _decide(mean + sd * med, reported, ci90, ci95, max(below, above), margin, alpha)
    return CellVerdict(**fields, margin=margin, n=n, sd=sd, df=df, basis=basis, alpha=alpha, best_of=n_source)


# ---- claims ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on "better beats worse"; effects are in the claim's direction (> 0 agrees with the claim)."""

    verdict: str  # "supported" | "contradicted" | "inconclusive"
    reason: str | None  # why inconclusive
    advantage: float  # mean(better) − mean(worse), sign flipped when lower is better
    ci95: tuple[float, float] | None  # Welch 95% interval of the advantage
    p: float | None  # one-sided p of "better beats worse"
    p_reverse: float | None  # one-sided p of "worse beats better"
    hedges_g: float | None  # standardised advantage (bias-corrected with seeds; advantage / pooled sd otherwise)
    g_ci95: tuple[float, float] | None  # approximate (normal, large-sample variance)
    n_better: int
    n_worse: int
    effect_size: float | None  # the reference effect (reported, else observed) over the pooled sd of the arms
    basis: str
    alpha: float = ALPHA

    @cached_property
    def seeds_for_80_power(self) -> int | None:
        """Seeds per arm for 80% power of the one-sided test at ``effect_size`` (see ``seeds_for_power``)."""
        return None if self.effect_size is None else seeds_for_power(self.effect_size, self.alpha, POWER)


def claim_verdict(
    better: Sequence[float],
    worse: Sequence[float],
    higher_is_better: bool = True,
    reported_effect: float | None = None,
    pooled: PooledSD | None = None,
    alpha: float = ALPHA,
) -> ClaimVerdict:
    """Welch's test of a claim "better beats worse" over seeds.

    supported: the one-sided Welch p (scipy ``ttest_ind``, ``equal_var=False``) < α; contradicted: the reverse
    one-sided p < α; inconclusive otherwise. Arms with a single run use the ``pooled`` sd (t with the pool's df);
    without it the claim is inconclusive. ``reported_effect`` is the source's advantage in the claim's direction
    (metric units); the seeds for 80% power (statsmodels ``TTestIndPower``, one-sided) use it, else the observed
    advantage, standardised by the pooled sd of the two arms.
    """
    sign = 1.0 if higher_is_better else -1.0
    b = np.asarray(better, float) * sign  # in the claim's direction, higher is better
    w = np.asarray(worse, float) * sign
    nb, nw = len(b), len(w)
    if not nb or not nw:
        raise ValueError("both arms need values")
    advantage = float(b.mean() - w.mean())
    seeds_arm = nb >= 2 and nw >= 2 and (b.std() > 0 or w.std() > 0)
    g = g_ci = None
    if seeds_arm:
        two = stats.ttest_ind(b, w, equal_var=False)
        ci = two.confidence_interval(1 - alpha)
        ci95 = (float(ci.low), float(ci.high))
        p = float(stats.ttest_ind(b, w, equal_var=False, alternative="greater").pvalue)
        p_rev = 1 - p  # the "less" p-value of a continuous t statistic
        smd, var = effectsize_smd(b.mean(), b.std(ddof=1), nb, w.mean(), w.std(ddof=1), nw)
        g, half = float(smd), float(stats.norm.ppf(1 - alpha / 2) * math.sqrt(var))
        g_ci = (g - half, g + half)
        sd = pooled_sd([b.tolist(), w.tolist()]).sd
        basis = f"Welch t-test over seeds (n={nb}, {nw})"
    elif pooled is not None and pooled.sd > 0:
        sd = pooled.sd
        se = sd * math.sqrt(1 / nb + 1 / nw)
        dist = stats.t(pooled.df)
        p, p_rev = float(dist.sf(advantage / se)), float(dist.cdf(advantage / se))
        half = float(dist.ppf(1 - alpha / 2) * se)
        ci95 = (advantage - half, advantage + half)
        g = advantage / sd
        basis = f"pooled seed-to-seed sd of {pooled.groups} configurations (n={nb}, {nw})"
    else:
        reason = "n too small (single runs, no pooled sd)" if min(nb, nw) < 2 else "no spread (identical seeds)"
        return ClaimVerdict("inconclusive", reason, advantage, None, None, None, None, None, nb, nw, None, "no spread")
    if p < alpha:
        verdict, reason = "supported", None
    elif p_rev < alpha:
        verdict, reason = "contradicted", None
    else:
        verdict, reason = "inconclusive", "difference within the noise"
    effect = advantage if reported_effect is None else reported_effect
    return ClaimVerdict(verdict, reason, advantage, ci95, p, p_rev, g, g_ci, nb, nw, effect / sd, basis, alpha)


def seeds_for_power(effect_size: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per arm for a one-sided two-sample t-test (statsmodels ``TTestIndPower``) to reach ``power`` at the
    standardised effect ``effect_size`` (Cohen's d), rounded up; None when the effect is not in the claim's
    direction."""
    if not effect_size > 0:
        return None
    analysis = TTestIndPower()
    if analysis.power(effect_size=effect_size, nobs1=2, alpha=alpha, alternative="larger") >= power:
        return 2  # the solver does not converge below 2 per arm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed convergence returns nan, handled below
        n = float(analysis.solve_power(effect_size=effect_size, alpha=alpha, power=power, alternative="larger"))
    return math.ceil(n) if math.isfinite(n) else None


# ---- ratios ----------------------------------------------------------------------------------------------


def _log_arm(values: Sequence[float], pooled_log: PooledSD | None) -> tuple[float, float | None, float | None]:
    """(log of the arm's mean, sd of the log values, its df): own seeds (n ≥ 2) or the pooled sd of log values."""
    v = np.asarray(values, float)
    if len(v) >= 2 and np.std(v) > 0:
        return math.log(v.mean()), float(np.std(np.log(v), ddof=1)), len(v) - 1
    if pooled_log is not None and pooled_log.sd > 0:
        return math.log(v.mean()), pooled_log.sd, pooled_log.df
    return math.log(v.mean()), None, None


def ratio_verdict(
    numerator: Sequence[float],
    denominator: Sequence[float],
    reported_ratio: float,
    relative_margin: float,
    pooled_log: PooledSD | None = None,
    alpha: float = ALPHA,
) -> CellVerdict:
    """Three-way verdict on a ratio of two arms (e.g. time per epoch of A92 / A56) against the reported ratio.

    On the log scale: Δ = log(mean num / mean den) − log(reported), margin ±log(1 + ``relative_margin``); the
    standard error by the delta method, √(s²_num/n_num + s²_den/n_den) with s the sd of each arm's log values
    (own seeds, else ``pooled_log``, the pooled sd of log values of other configurations), and Welch-Satterthwaite
    df; then the rule of ``cell_verdict``. ``value``/``reported``/``delta``/intervals are in log units; exp() them
    to print ratios. Without a spread for either arm: inconclusive.
    """
    if not numerator or not denominator:
        raise ValueError("both arms need values")
    if min(min(numerator), min(denominator), reported_ratio) <= 0:
        raise ValueError("ratios need positive values")
    margin = math.log1p(relative_margin)
    ln, sn, dfn = _log_arm(numerator, pooled_log)
    ld, sd_, dfd = _log_arm(denominator, pooled_log)
    nn, nd = len(numerator), len(denominator)
    value, reported = ln - ld, math.log(reported_ratio)
    if sn is None or sd_ is None:
        basis = "no spread estimate for an arm (single run, no pooled sd)"
        return _no_spread([value], reported, margin, alpha, basis, value=value)
    vn, vd = sn * sn / nn, sd_ * sd_ / nd
    se = math.sqrt(vn + vd)
    df = (vn + vd) ** 2 / (vn * vn / dfn + vd * vd / dfd)
    fields = _three_way(value, reported, se, df, margin, alpha)
    own = "seeds" if nn >= 2 and nd >= 2 else "seeds or the pooled sd of log times"
    basis = f"log-ratio, delta method ({own}; n={nn}, {nd})"
    return CellVerdict(
        **fields, margin=margin, n=min(nn, nd), sd=math.sqrt(sn * sn + sd_ * sd_), df=df, basis=basis, alpha=alpha
    )
