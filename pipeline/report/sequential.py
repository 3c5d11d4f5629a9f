"""Group-sequential verdicts for adaptive seeds (issue 24): a fixed look schedule, repeated p-values, Holm.

Design. An item (figure, best-of-runs figure, ratio, claim) is looked at only when its seed count n (for two-arm
items: the first n seeds of *each* arm) is in the fixed schedule 1, 2, ..., N (N = ``--max-seeds``). The spread
is a pooled seed-to-seed sd σ (treated as known, its estimation error absorbed by mapping t to z with the pool's
df), so at look n the statistic of every one-sided hypothesis is a partial-sum process Z_n = S_n / √n (for
best-of-runs figures, plus the source's single max-of-m draw, which is shared by every look).

Boundary: Pocock-type, a constant critical value c on the z scale for every look, computed once per schedule by
simulation (``null_max``: the max over looks of Z_n under the boundary null, 200,000 draws, fixed seed). The
repeated p-value of an observed z is P(max over all looks ≥ z) (Jennison & Turnbull 2000, ch. 9): rejecting when
it is < α at *any* look, chosen in any data-dependent way, keeps the overall error ≤ α. Hence

- **reproduced**: both TOST repeated p-values < α (false "reproduced" ≤ α when the true |Δ| ≥ δ);
- **differs**: the two-sided repeated p-value < α and |Δ̂| > δ (false "differs" ≤ α when Δ = 0);
- **claims**: one-sided repeated p-values, Holm's step-down over a source's claims (``holm``).

A fixed-n design is the schedule with one look (the usual z/t tests at α).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats

ALPHA = 0.05
DRAWS = 200_000  # null draws per schedule: the boundary's Monte Carlo error is ≈ 0.0005 in α


@lru_cache(maxsize=64)
def null_max(looks: tuple[int, ...], two_sided: bool, best_of: int | None = None, flip: bool = False) -> np.ndarray:
    """Sorted draws of max over ``looks`` (seed counts) of the look statistic under its boundary null.

    Cells/ratios/claims: Z_n = (sum of n N(0,1)) / √n. Best-of-m figures: our mean against the source's max of m
    draws, Z_n = (mean_n − (M_m − e_m)) / √(1/n + v_m²) with (e_m, v_m) the mean and sd of the max of m.
    """
    rng = np.random.default_rng(20240)
    n_max = max(looks)
    steps = rng.standard_normal((DRAWS, n_max)).astype(np.float32)
    sums = np.cumsum(steps, axis=1)[:, np.array(looks) - 1]
    ns = np.array(looks, float)
    if best_of is None:
        z = sums / np.sqrt(ns)
    else:
        src = rng.standard_normal((DRAWS, best_of)).max(axis=1)
        e, v = src.mean(), src.std()
        z = (sums / ns - (src - e)[:, None]) / np.sqrt(1 / ns + v * v)
        z = -z if flip else z
    z = np.abs(z) if two_sided else z
    return np.sort(z.max(axis=1))


def schedule(max_seeds: int, fixed: int | None = None) -> tuple[int, ...]:
    """The looks: every seed count 1..max_seeds; a fixed-n design has the single look ``fixed``."""
    return (fixed,) if fixed is not None else tuple(range(1, max_seeds + 1))


def repeated_p(z, looks: tuple[int, ...], two_sided: bool, best_of: int | None = None, flip: bool = False):
    """Repeated p-value of look statistics ``z``: P(max over the schedule ≥ z) under the null."""
    z = np.asarray(z, float)
    if len(looks) == 1 and best_of is None:  # fixed n: the exact normal tail
        return 2 * stats.norm.sf(np.abs(z)) if two_sided else stats.norm.sf(z)
    draws = null_max(looks, two_sided, best_of, flip and not two_sided)
    zz = np.abs(z) if two_sided else z
    return 1 - np.searchsorted(draws, zz) / draws.size


def t_to_z(t, df):
    """A t statistic with ``df`` degrees of freedom as the z with the same tail (z itself when df is None)."""
    t = np.asarray(t, float)
    if df is None:
        return t
    df = np.broadcast_to(np.asarray(df, float), t.shape)
    out = t.copy()
    fin = np.isfinite(df)
    if fin.any():  # the same tail probability, computed on the side of t's sign (no cancellation)
        tf, d = np.abs(t[fin]), df[fin]
        out[fin] = np.sign(t[fin]) * stats.norm.isf(stats.t.sf(tf, d))
    return out


def holm(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected (family-wise error ≤ α under any dependence)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    m = len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] >= alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


def benjamini_hochberg(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    """Benjamini–Hochberg step-up (false-discovery rate ≤ α under independence or PRDS); for comparison."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    k = max((r + 1 for r, i in enumerate(order) if pvalues[i] <= alpha * (r + 1) / m), default=0)
    rejected = [False] * m
    for i in order[:k]:
        rejected[i] = True
    return rejected


def rule_label(n: int, looks: tuple[int, ...]) -> str:
    """Which rule produced a verdict: "sequential, look 3 of 10" or "fixed n"."""
    if len(looks) == 1:
        return "fixed n"
    k = sum(1 for x in looks if x <= n)
    return f"sequential, look {k} of {len(looks)}"
