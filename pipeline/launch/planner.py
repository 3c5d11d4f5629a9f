"""Which extra seeds an adaptive round runs (issue 24): predictive probabilities of deciding, per GPU-hour.

For an undecided item at look n, the probability that k more seeds (per arm) decide it is drawn from the
posterior predictive under the current data, not from the observed effect taken as the truth: the sd from its
posterior given the pool (σ* = s·√(df/χ²_df)), the true effect from N(estimate, σ*²·f/n) (f = 2 for two arms),
the k new seeds' mean from N(true, σ*²·f/k), then the sequential rule at look n + k (``adaptive_items``).

A round greedily adds the runs with the largest gain in expected decided items per hour, a configuration's
extra seed counting for every cell, ratio and claim it moves to a new look, up to the round's share of the
budget; candidates gaining less than ``min_gain`` expected items, or less than ``min_rate`` items per hour, are
not worth their cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..report.adaptive_items import Item, Spread
from ..report.sequential import ALPHA, repeated_p
from ..report.verdicts import max_of_normals

DRAWS = 128


def decide_probability(
    it: Item, st: dict, sp: Spread, k: int, looks: tuple[int, ...], rng, alpha: float = ALPHA
) -> float:
    """P(the item is decided at look n + k | the runs so far), by posterior predictive simulation."""
    n = st["n"]
    if n + k not in looks and n + k < max(looks):
        return 0.0
    f = 1.0 if it.kind in ("cell", "best") else 2.0
    sd = sp.sd * (np.sqrt(sp.df / rng.chisquare(sp.df, DRAWS)) if sp.df else np.ones(DRAWS))
    ests = np.atleast_1d(st.get("ests", [st["est"]]))[None, :]
    truth = ests + rng.standard_normal((DRAWS, ests.shape[1])) * sd[:, None] * math.sqrt(f / n)
    new = truth + rng.standard_normal(truth.shape) * sd[:, None] * math.sqrt(f / k)
    est = (n * ests + k * new) / (n + k)
    m = n + k
    if it.kind == "best":
        se = sp.sd * math.sqrt(1 / m + max_of_normals(it.best_of)[1] ** 2)
    else:
        se = sp.sd * math.sqrt(f / m)
    if it.kind == "claim":
        z = est / se
        p = repeated_p(z, looks, False).max(axis=1)
        p_rev = repeated_p(-z, looks, False).min(axis=1) * z.shape[1]
        level = alpha / max(1, st.get("family", 1))  # Holm's first step: the most stringent level
        return float(np.mean((p < level) | (p_rev < level)))
    e = est[:, 0]
    p_low = repeated_p((e + it.margin) / se, looks, False, it.best_of)
    p_up = repeated_p((it.margin - e) / se, looks, False, it.best_of, flip=True)
    p_two = repeated_p(e / se, looks, True, it.best_of)
    decided = (np.maximum(p_low, p_up) < alpha) | ((p_two < alpha) & (np.abs(e) > it.margin))
    return float(decided.mean())


@dataclass
class Pick:
    config: str
    seeds: tuple[int, ...]  # the seeds it adds
    hours: float
    gain: float  # expected items decided
    why: str


def plan_round(
    open_items: list[tuple[Item, dict, Spread]],
    counts: dict[str, int],
    hours: dict[str, float],
    max_seeds: int,
    share: float,
    looks: tuple[int, ...],
    rng,
    min_gain: float = 0.05,
    min_rate: float = 0.0,
) -> tuple[dict[str, int], list[Pick]]:
    """(new seed targets per configuration, the picks with their reasons) for one round of at most ``share`` hours."""
    target = dict(counts)
    by_config: dict[str, list[int]] = {}
    for i, (it, _, _) in enumerate(open_items):
        for c in set(it.configs):
            by_config.setdefault(c, []).append(i)
    cache: dict[tuple[int, int], float] = {}

    def prob(i: int, tgt: dict) -> float:
        it, st, sp = open_items[i]
        reach = min(tgt[c] for c in it.configs)
        k = max((x for x in looks if x <= reach), default=0) - st["n"]  # the look the targets reach
        if k <= 0:
            return 0.0
        if (i, k) not in cache:
            cache[(i, k)] = decide_probability(it, st, sp, k, looks, rng)
        return cache[(i, k)]

    picks: list[Pick] = []
    spent = 0.0
    while True:
        best = None
        for i, (it, st, _) in enumerate(open_items):
            if prob(i, target) > 0:
                continue  # already gets seeds this round
            for k in [x - st["n"] for x in looks if x > st["n"]][:2]:  # the next two looks
                new = {c: max(target[c], st["n"] + k) for c in it.configs}
                if max(new.values()) > max_seeds:
                    continue
                cost = sum((new[c] - target[c]) * hours[c] for c in new)
                if cost <= 0 or spent + cost > share:
                    continue
                trial = target | new
                touched = {j for c in new for j in by_config[c]}
                gain = sum(prob(j, trial) - prob(j, target) for j in touched)
                if gain >= min_gain and gain / cost >= min_rate and (best is None or gain / cost > best[0]):
                    best = (gain / cost, new, cost, gain, touched, trial)
        if best is None:
            break
        _, new, cost, gain, touched, trial = best
        for c, t in sorted(new.items()):
            if t > target[c]:
                helped = [open_items[j] for j in touched if c in open_items[j][0].configs and prob(j, trial) > 0]
                picks.append(
                    Pick(
                        c,
                        tuple(range(target[c], t)),
                        (t - target[c]) * hours[c],
                        gain,
                        _why(helped, trial, prob, open_items),
                    )
                )
        target, spent = trial, spent + cost
    return target, picks


def _why(helped, trial, prob, open_items) -> str:
    kinds = {"cell": 0, "best": 0, "ratio": 0, "claim": 0}
    ps = []
    for it, _, _ in helped:
        kinds[it.kind] += 1
        ps.append(prob(next(j for j, o in enumerate(open_items) if o[0] is it), trial))
    names = {"cell": "cell", "best": "best-of cell", "ratio": "ratio", "claim": "claim"}
    parts = [f"{v} {names[k]}{'s' if v > 1 else ''}" for k, v in kinds.items() if v]
    return f"decides {' and '.join(parts) or 'nothing'} with p ≈ {max(ps, default=0):.1f}"
