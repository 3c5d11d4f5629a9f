"""Adaptive seeds (issue 24): the sequential design's error rates under optional stopping (simulation, fixed
seed), Holm and BH on known answers, and the round loop on the simulator's backend (budget, Ctrl-C, --max-seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.adaptive_sim import EVERY_LOOK, SimBackend, World, error_rates
from pipeline.catalog import all_configurations, load_catalog
from pipeline.launch.adaptive import Settings, run_adaptive
from pipeline.report.adaptive_items import Item, Spread, catalog_items, item_pvalues
from pipeline.report.sequential import benjamini_hochberg, holm, rule_label, schedule
from pipeline.report.verdicts import max_of_normals

ALPHA = 0.05
REPS = 8_000  # per case: MC standard error of a 5% rate ≈ 0.0024
LOOKS = schedule(10)


def _verdicts_over_looks(
    item: Item, true_delta: float, sd: float, rng, looks=LOOKS, rule=None
) -> dict[str, np.ndarray]:
    """Per reproduction, whether any look of the schedule says reproduced / differs / supported: the worst
    case of optional stopping (every look taken). Seeds ~ N(reported + true Δ, sd²), σ known."""
    n_max = max(looks)
    arms = 1 if item.kind in ("cell", "best") else 2
    draws = rng.standard_normal((REPS, arms, n_max)) * sd
    if item.kind == "best":  # the source's number: its max of m draws, fixed over looks
        src = rng.standard_normal((REPS, item.best_of)).max(axis=1) * sd
    hits = {"reproduced": np.zeros(REPS, bool), "differs": np.zeros(REPS, bool), "supported": np.zeros(REPS, bool)}
    for n in looks:
        means = draws[:, :, :n].mean(axis=2)
        if item.kind == "cell":
            ests, se = means[:, 0] + true_delta, sd / np.sqrt(n)
        elif item.kind == "best":
            e = max_of_normals(item.best_of)[0]  # the verdict's own e_m: our expected best of m
            ests, se = means[:, 0] + sd * e - src + true_delta, None
        else:
            ests, se = means[:, 0] - means[:, 1] + true_delta, sd * np.sqrt(2 / n)
        sts = [
            {"n": n, "est": float(x), "ests": [float(x)], "se": se or sd * np.sqrt(1 / n + _v(item.best_of) ** 2)}
            for x in ests
        ]
        ps = item_pvalues([item] * REPS, sts, [Spread(sd, None)] * REPS, rule or looks)
        if item.kind == "claim":
            hits["supported"] |= np.array([p["p"] < ALPHA for p in ps])
            continue
        p_low, p_up, p_two = (np.array([p[k] for p in ps]) for k in ("p_low", "p_up", "p_two"))
        hits["reproduced"] |= np.maximum(p_low, p_up) < ALPHA
        hits["differs"] |= (p_two < ALPHA) & (np.abs(ests) > item.margin)
    return hits


def _v(m):
    return max_of_normals(m)[1]


def _bound(rate: float) -> float:
    return ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / REPS)  # α plus three Monte Carlo standard errors


CELL = Item("s/t/r/c", "s", "cell", ("a",), "top1_acc", "cifar10", 90.0, 0.5)
BEST = Item("s/t/r/best", "s", "best", ("a",), "top1_acc", "cifar10", 90.0, 0.5, best_of=5)
RATIO = Item("s/t/r1÷r2", "s", "ratio", ("a", "b"), "t", "cifar10", 0.0, np.log1p(0.1))
CLAIM = Item("s/claim1", "s", "claim", ("a", "b"), "top1_acc", "cifar10", 1.0, 0.0)


@pytest.mark.parametrize("item, sd", [(CELL, 0.05), (CELL, 0.3), (BEST, 0.1), (RATIO, 0.02)])
def test_false_reproduced_at_delta_stays_below_alpha_over_ten_looks(item, sd):
    rng = np.random.default_rng(1)
    for sign in (1, -1):
        rate = _verdicts_over_looks(item, sign * item.margin, sd, rng)["reproduced"].mean()
        assert rate <= _bound(rate), (item.kind, sd, sign, rate)
    if item is CELL and sd == 0.05:  # the fixed-n TOST taken at each of the ten looks would not hold α
        naive = _verdicts_over_looks(item, item.margin, sd, np.random.default_rng(1), rule=(1,))["reproduced"]
        assert naive.mean() > 2 * ALPHA, naive.mean()


@pytest.mark.parametrize("item, sd", [(CELL, 2.0), (BEST, 2.0), (RATIO, 0.5)])
def test_false_differs_at_zero_stays_below_alpha_over_ten_looks(item, sd):
    # a wide spread makes |Δ̂| > δ common, so the two-sided boundary alone is what guards it
    rate = _verdicts_over_looks(item, 0.0, sd, np.random.default_rng(2))["differs"].mean()
    assert rate <= _bound(rate), (item.kind, rate)


def test_false_supported_at_zero_stays_below_alpha_and_fixed_n_rules_would_not():
    rng = np.random.default_rng(3)
    rate = _verdicts_over_looks(CLAIM, 0.0, 1.0, rng)["supported"].mean()
    assert rate <= _bound(rate)
    naive = _verdicts_over_looks(CLAIM, 0.0, 1.0, np.random.default_rng(3), looks=(1,))  # one look: exact α
    assert abs(naive["supported"].mean() - ALPHA) < 4 * np.sqrt(ALPHA * (1 - ALPHA) / REPS)
    # the fixed-n test taken at each of ten looks: optional stopping inflates it well past α
    z = np.cumsum(np.random.default_rng(4).standard_normal((REPS, 10)), axis=1) / np.sqrt(np.arange(1, 11))
    assert (z > 1.6449).any(axis=1).mean() > 0.15


def test_simulator_error_rates_over_the_catalog_with_every_look_taken():
    # whole-catalog reproductions (fixed seed; the committed figures use 2,000): every item looked at at every look
    plan = Path(__file__).parents[1] / "benchmarks" / "plan-cpu.json"
    got = error_rates(12, plan, max_seeds=10, seed=5)
    assert got["reps"] == 12 and set(got["designs"]) == {"fixed n = sources' counts", "fixed n = 5", EVERY_LOOK}
    for name, d in got["designs"].items():
        for rate, se in (("false_reproduced", "false_reproduced_mc_se"), ("false_differs", "false_differs_mc_se"),
                         ("false_supported_per_source", "false_supported_mc_se")):  # fmt: skip
            assert d[rate] <= ALPHA + 3 * d[se], (name, rate, d)
    every, five = got["designs"][EVERY_LOOK], got["designs"]["fixed n = 5"]
    assert every["decided_mean"] > five["decided_mean"] > got["designs"]["fixed n = sources' counts"]["decided_mean"]


def test_holm_and_bh_known_answers():
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p) == [True, False, False, True]  # 0.005 < .0125, 0.01 < .0167, 0.03 ≥ .025 stops
    assert benjamini_hochberg(p) == [True, True, True, True]  # 0.04 ≤ 4/4 × .05
    assert holm([0.03, 0.04]) == [False, False] and benjamini_hochberg([0.03, 0.04]) == [True, True]
    assert holm([0.2, 0.001, 0.024]) == [False, True, True]  # 0.001 < .0167, 0.024 < .025, 0.2 stops
    assert rule_label(3, schedule(5)) == "sequential, look 3 of 5" and rule_label(3, schedule(5, fixed=3)) == "fixed n"


@pytest.fixture(scope="module")
def jay():
    configs = {n: c for n, c in all_configurations().items() if not c.requires and c.source == "jay4869-keras"}
    items = catalog_items(load_catalog(), keep=lambda n: n in configs)
    configs_of = {c: configs[c].dataset for it in items for c in it.configs}
    hours = {c: 1.0 + i % 3 for i, c in enumerate(sorted(configs_of))}
    return items, configs_of, hours, {c: configs[c].n_seeds for c in configs_of}


def test_round_loop_stops_at_the_budget_and_never_past_max_seeds(jay, tmp_path):
    items, configs_of, hours, planned = jay
    world = World(items, configs_of)
    backend = SimBackend(world, rep=7)
    budget = sum(hours[c] * n for c, n in planned.items()) + 9.5
    lines = []
    state = run_adaptive(
        items, configs_of, backend, hours, planned, Settings(budget, 3), tmp_path / "a.json", lines.append
    )
    spent = sum(hours[c] * n for c, n in backend.done.items())
    assert spent <= budget and state["rounds"][-1]["spent"] == pytest.approx(spent)
    assert max(backend.done.values()) <= 3
    assert len(set(backend.executed)) == len(backend.executed)
    assert lines[0].startswith("round 1: ") and "h spent" in lines[0] and "stopped:" in lines[-1]
    assert any(" s1: decides " in line and "with p ≈ " in line for line in lines), lines


def test_ctrl_c_then_rerun_resumes_without_repeating_a_run(jay, tmp_path):
    items, configs_of, hours, planned = jay
    world, path = World(items, configs_of), tmp_path / "adaptive.json"
    budget = sum(hours[c] * n for c, n in planned.items()) + 12
    settings = Settings(budget, 4)
    first = SimBackend(world, rep=11, interrupt_after=len(planned) + 2)  # stops inside round 2
    with pytest.raises(KeyboardInterrupt):
        run_adaptive(items, configs_of, first, hours, planned, settings, path, lambda s: None)
    second = SimBackend(world, rep=11)
    second.done = dict(first.done)  # the finished runs stay on disk
    state = run_adaptive(items, configs_of, second, hours, planned, settings, path, lambda s: None)
    executed = first.executed + second.executed
    assert len(set(executed)) == len(executed) and second.executed  # resumed, no run twice
    assert sum(hours[c] * n for c, n in second.done.items()) <= budget
    assert max(second.done.values()) <= 4 and state["rounds"][0]["round"] == 1
