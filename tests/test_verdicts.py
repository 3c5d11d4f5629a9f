"""Known-answer and simulation tests of the verdict rules (pipeline/report/verdicts.py, issue 17 part 1)."""

import math

import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import DescrStatsW

from pipeline.report.verdicts import (
    SEEDS_CAP,
    PooledSD,
    best_of_runs_verdict,
    binomial_se,
    cell_verdict,
    claim_verdict,
    default_delta,
    max_of_normals,
    pooled_sd,
    seeds_for_power,
    seeds_needed_for_equivalence,
    seeds_needed_to_decide,
)

DRAWS = 2000
# Monte Carlo tolerance for a rate whose true value is at most 5%: SE = sqrt(0.05·0.95/2000) ≈ 0.0049, and
# 0.011 ≈ 2.3 SE (one-sided 1%); the seeds are fixed, so the measured rates are reproducible.
MC_TOL = 0.011

# The "clinic" data of statsmodels' TOST tests (statsmodels/stats/tests/test_tost.py, Josef Perktold), with
# reference values computed by R's equivalence::tost: columns 2 and 3 for patients 1–15 (group 1) and 16–30.
CLINIC_VAR1 = (
    [2.84, 2.51, 2.41, 2.95, 3.14, 3.79, 4.14, 3.85, 3.02, 3.45, 5.37, 3.81, 4.19, 3.16, 3.84],
    [2.60, 2.82, 2.18, 3.46, 4.01, 3.04, 3.47, 4.06, 2.91, 3.59, 4.51, 3.16, 3.86, 3.31, 3.02],
)
CLINIC_VAR2 = (
    [4.00, 3.26, 4.14, 3.42, 3.25, 4.34, 4.97, 4.31, 3.11, 3.41, 5.02, 4.21, 4.59, 5.30, 4.32],
    [3.76, 3.66, 3.65, 3.60, 3.48, 2.87, 3.24, 3.92, 3.99, 4.21, 4.21, 3.31, 3.61, 2.97, 2.73],
)


def _rate(verdicts, which: str) -> float:
    return float(np.mean([v.verdict == which for v in verdicts]))


# ---- margins and spreads ---------------------------------------------------------------------------------


def test_default_delta_from_binomial_se():
    assert binomial_se(95, 10_000) == pytest.approx(0.218, abs=5e-4)  # CIFAR test set at 95%
    assert default_delta(95, 10_000) == 0.5  # 2 × 0.218 < 0.5: the floor of the margin
    assert binomial_se(50, 1_000) == pytest.approx(1.581, abs=5e-4)
    assert default_delta(50, 1_000) == pytest.approx(2 * 1.5811, abs=1e-3)
    assert binomial_se(5, 10_000) == pytest.approx(binomial_se(95, 10_000))  # a 5% error has the SE of a 95% accuracy


def test_pooled_sd_weights_groups_by_degrees_of_freedom():
    # variances 1 (2 df) and 2 (1 df); the single run carries no df
    pool = pooled_sd([[1, 2, 3], [4, 6], [7]])
    assert pool == PooledSD(sd=pytest.approx(math.sqrt(4 / 3)), df=3, groups=2)
    assert pooled_sd([[1.0], [2.0]]) is None


def test_max_of_normals_matches_order_statistics():
    assert max_of_normals(1) == pytest.approx((0.0, 1.0), abs=1e-7)
    mean2, sd2 = max_of_normals(2)  # E = 1/√π, Var = 1 − 1/π
    assert mean2 == pytest.approx(1 / math.sqrt(math.pi), abs=1e-7)
    assert sd2 == pytest.approx(math.sqrt(1 - 1 / math.pi), abs=1e-7)
    assert max_of_normals(3)[0] == pytest.approx(1.5 / math.sqrt(math.pi), abs=1e-7)
    assert max_of_normals(5)[0] == pytest.approx(1.16296, abs=1e-5)  # Harter (1961), expected normal order stats


# ---- the cell rule -----------------------------------------------------------------------------------------


def test_tost_matches_r_equivalence_tost():
    # paired differences against 0 with ε = 0.6 are the one-sample TOST of cell_verdict (reported = 0)
    diff1 = np.subtract(*CLINIC_VAR1)
    v = cell_verdict(diff1, 0.0, 0.6)
    assert v.p_tost == pytest.approx(0.003166881489265175, rel=1e-9)
    assert v.ci90 == pytest.approx((-0.0744336620516462, 0.4037669953849797), rel=1e-9)
    assert v.verdict == "reproduced"

    diff2 = np.subtract(*CLINIC_VAR2)
    v = cell_verdict(diff2, 0.0, 0.6)
    assert v.p_tost == pytest.approx(0.4412034046017588, rel=1e-9)
    assert v.ci90 == pytest.approx((0.1261653305099018, 0.999168002823431), rel=1e-9)
    # the 95% interval excludes 0 but |Δ| = 0.56 < δ: not "differs"
    assert v.ci95[0] > 0 and v.verdict == "inconclusive"


def test_substituted_sd_runs_the_same_tost_as_statsmodels():
    values = [94.1, 94.9, 95.3, 94.6]
    s = float(np.std(values, ddof=1))
    library = DescrStatsW(np.asarray(values)).ttost_mean(94.5, 95.5)[0]
    # a floor just above the seeds' sd switches to the hand-held path with (almost) the same sd
    floored = cell_verdict(values, 95.0, 0.5, floor_sd=s * (1 + 1e-12))
    assert floored.basis.startswith("binomial SE floor")
    assert floored.p_tost == pytest.approx(library, rel=1e-9)


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("sd", [0.3, 0.6])
def test_false_reproduced_rate_at_true_difference_delta(n, sd):
    rng = np.random.default_rng(1700 + n)
    margin = 0.5
    verdicts = [cell_verdict(rng.normal(95.0 + margin, sd, n), 95.0, margin) for _ in range(DRAWS)]
    assert _rate(verdicts, "reproduced") <= 0.05 + MC_TOL


def test_false_reproduced_rate_single_run():
    rng = np.random.default_rng(1701)
    sd, margin = 0.2, 0.5  # sd well below δ, else the second one-sided test makes TOST far below α
    pooled_runs, floored_runs = [], []
    for _ in range(DRAWS):
        pool = pooled_sd([rng.normal(0, sd, 3) for _ in range(3)])  # 3 sibling configurations × 3 seeds
        pooled_runs.append(cell_verdict([rng.normal(95.0 - margin, sd)], 95.0, margin, pooled=pool))
        floored_runs.append(cell_verdict([rng.normal(95.0 - margin, sd)], 95.0, margin, floor_sd=sd))
    assert pooled_runs[0].basis == "pooled seed-to-seed sd of 3 configurations"
    assert _rate(pooled_runs, "reproduced") <= 0.05 + MC_TOL
    assert _rate(floored_runs, "reproduced") <= 0.05 + MC_TOL  # the floor as a known sigma: exactly α


def test_power_at_true_difference_zero():
    rng = np.random.default_rng(1702)
    sd, margin = 0.3, 0.5
    verdicts = [cell_verdict(rng.normal(95.0, sd, 10), 95.0, margin) for _ in range(DRAWS)]
    assert _rate(verdicts, "reproduced") >= 0.95
    # the seed count from the noncentral t gives at least the promised power
    n = seeds_needed_for_equivalence(sd, 0.1, margin)
    assert n is not None and 3 <= n <= 20
    verdicts = [cell_verdict(rng.normal(95.1, sd, n), 95.0, margin) for _ in range(DRAWS)]
    assert _rate(verdicts, "reproduced") >= 0.8 - MC_TOL
    verdicts = [cell_verdict(rng.normal(95.1, sd, n - 1), 95.0, margin) for _ in range(DRAWS)]
    assert _rate(verdicts, "reproduced") < 0.8 + MC_TOL  # and it is not far from the smallest such n


def test_differs_with_direction():
    below = cell_verdict([93.2, 93.5, 93.0, 93.3], 95.0, 0.5)
    assert (below.verdict, below.direction) == ("differs", "below")
    assert below.delta == pytest.approx(-1.75)
    assert below.text() == "differs: 1.75 below (δ 0.50)"
    above = cell_verdict([96.1, 96.4, 95.9], 95.0, 0.5)
    assert (above.verdict, above.direction) == ("differs", "above")
    assert above.reason is None and above.seeds_needed is None


def test_inconclusive_n_too_small_and_seeds_that_decide():
    values, reported, margin = [94.6, 95.3, 94.9], 95.0, 0.5
    v = cell_verdict(values, reported, margin)
    assert v.verdict == "inconclusive" and v.reason == "n too small"
    k = v.seeds_needed
    assert k is not None and v.n < k <= 30
    assert v.text() == f"inconclusive: n too small; {k} seeds would decide"
    # if the observed Δ and sd are the truth, k seeds decide the cell at least 80% of the time
    rng = np.random.default_rng(1703)
    sims = [cell_verdict(rng.normal(reported + v.delta, v.sd, k), reported, margin) for _ in range(DRAWS)]
    assert _rate(sims, "inconclusive") <= 0.2 + MC_TOL
    assert k == seeds_needed_to_decide(v.sd, v.delta, margin)


def test_inconclusive_spread_too_wide_and_close_to_delta():
    wide = cell_verdict([90.0, 99.0, 95.5], 95.0, 0.5)
    assert (wide.verdict, wide.reason, wide.seeds_needed) == ("inconclusive", "spread too wide", None)
    assert wide.text() == f"inconclusive: spread too wide; > {SEEDS_CAP} seeds needed"
    close = cell_verdict([94.2, 95.2, 95.1, 94.5], 95.0, 0.25)  # Δ = −0.25 = −δ
    assert (close.verdict, close.reason) == ("inconclusive", "difference close to δ")


def test_single_run_without_spread_and_identical_seeds():
    alone = cell_verdict([95.0], 95.0, 0.5)
    assert (alone.verdict, alone.reason, alone.sd, alone.seeds_needed) == ("inconclusive", "n too small", None, None)
    assert alone.text() == "inconclusive: n too small"
    # identical seeds: without a floor no verdict; with the binomial floor, never a certain one
    assert cell_verdict([95.0] * 3, 95.0, 0.5).reason == "no spread (identical seeds)"
    floored = cell_verdict([95.0] * 3, 95.0, 0.5, floor_sd=0.218)
    assert floored.verdict == "reproduced" and floored.p_tost > 1e-4 and floored.sd == 0.218
    assert cell_verdict([95.4] * 3, 95.0, 0.5, floor_sd=0.218).verdict == "inconclusive"  # 0.4 ± 0.37 crosses δ
    single = cell_verdict([94.9], 95.0, 0.5, floor_sd=0.218)
    assert single.basis == "binomial SE floor" and single.df is None and single.verdict == "reproduced"


# ---- best of runs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 5])
def test_best_of_runs_from_our_distribution_rarely_differs(n):
    rng = np.random.default_rng(1704 + n)
    mu, sd, margin = 94.0, 0.5, 0.5  # sd = δ: the |Δ| > δ condition alone would not keep "differs" rare
    same = [best_of_runs_verdict(rng.normal(mu, sd, n), rng.normal(mu, sd, 5).max(), 5, margin) for _ in range(DRAWS)]
    assert _rate(same, "differs") <= 0.05 + MC_TOL
    # source's runs δ below ours (true θ = δ): false "reproduced" at most α
    shifted = [
        best_of_runs_verdict(rng.normal(mu, 0.3, n), rng.normal(mu - margin, 0.3, 5).max(), 5, margin)
        for _ in range(DRAWS)
    ]
    assert _rate(shifted, "reproduced") <= 0.05 + MC_TOL


def test_best_of_runs_verdicts():
    ours = [94.5, 94.8, 95.0, 94.6, 94.7]
    far = best_of_runs_verdict(ours, 96.5, 5, 0.5)
    assert (far.verdict, far.direction, far.best_of) == ("differs", "below", 5)
    assert far.value > max(ours) - 0.1  # our typical best of 5 sits near our own max, well above our mean
    # a single-run source compares the mean; with 10 tight seeds that is a plain equivalence
    one = best_of_runs_verdict([94.7, 94.8, 94.75, 94.72, 94.78, 94.71, 94.74, 94.77, 94.76, 94.73], 94.75, 1, 0.5)
    assert one.verdict == "reproduced"
    assert best_of_runs_verdict([94.7], 94.75, 5, 0.5).reason == "n too small"


# ---- claims ------------------------------------------------------------------------------------------------


def test_claim_supported_contradicted_and_power():
    better, worse = [95.0, 95.3, 95.1, 95.2], [94.0, 94.2, 94.5, 94.1]
    c = claim_verdict(better, worse, reported_effect=0.2)
    assert c.verdict == "supported" and c.p < 0.05 and c.ci95[0] > 0
    assert c.advantage == pytest.approx(0.95)
    # Hedges' g = J·d with J = 1 − 3/(4(n1 + n2) − 9) and d on the pooled sd
    sd = pooled_sd([better, worse]).sd
    assert c.hedges_g == pytest.approx((1 - 3 / (4 * 8 - 9)) * 0.95 / sd)
    assert c.g_ci95[0] < c.hedges_g < c.g_ci95[1]
    expected = TTestIndPower().solve_power(effect_size=0.2 / sd, alpha=0.05, power=0.8, alternative="larger")
    assert c.seeds_for_80_power == math.ceil(expected)
    # error rates: lower is better, so the same numbers contradict the claim
    err = claim_verdict(better, worse, higher_is_better=False)
    assert err.verdict == "contradicted" and err.p_reverse < 0.05 and err.advantage == pytest.approx(-0.95)
    assert err.seeds_for_80_power is None  # the observed effect is against the claim


def test_seeds_for_power_matches_statsmodels():
    assert seeds_for_power(0.5) == 51  # one-sided d = 0.5, α = 0.05, 80%: 50.15 per arm (also G*Power)
    for d in (0.3, 0.8, 1.5):
        n = TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8, alternative="larger")
        assert seeds_for_power(d) == math.ceil(n)
    assert seeds_for_power(6.0) == 2 and seeds_for_power(0.0) is None


def test_claim_single_runs():
    assert claim_verdict([95.0], [94.0]).reason == "n too small (single runs, no pooled sd)"
    c = claim_verdict([95.0], [94.0], pooled=PooledSD(0.3, 8, 3))
    assert c.verdict == "supported" and c.basis.startswith("pooled seed-to-seed sd of 3")
    assert c.hedges_g == pytest.approx(1.0 / 0.3)


def test_claim_false_support_rate_without_a_difference():
    # 1000 draws keep the test fast (scipy's ttest_ind is ~1 ms a call); SE ≈ 0.0069, tolerance 2.3 SE
    rng = np.random.default_rng(1705)
    claims = [claim_verdict(rng.normal(95, 0.3, 3), rng.normal(95, 0.3, 3)) for _ in range(1000)]
    assert _rate(claims, "supported") <= 0.05 + 0.016


# ---- ratios (issue 17 part 2) ----------------------------------------------------------------------------


def test_ratio_verdict_is_a_log_scale_tost_with_the_delta_method():
    from pipeline.report.verdicts import ratio_verdict

    num, den = [40.0, 40.4, 39.6], [20.0, 20.1, 19.9]
    v = ratio_verdict(num, den, reported_ratio=2.0, relative_margin=0.1)
    sn, sd = np.std(np.log(num), ddof=1), np.std(np.log(den), ddof=1)
    assert v.value - v.reported == pytest.approx(math.log(np.mean(num) / np.mean(den) / 2.0))
    se = math.sqrt(sn**2 / 3 + sd**2 / 3)
    assert (v.ci95[1] - v.ci95[0]) / 2 > 1.96 * se  # t with Welch-Satterthwaite df is wider than z
    assert v.verdict == "reproduced" and v.margin == pytest.approx(math.log(1.1))
    far = ratio_verdict(num, den, reported_ratio=1.36, relative_margin=0.1)
    assert far.verdict == "differs" and far.direction == "above"
    single = ratio_verdict([40.0], [20.0], 2.0, 0.1)
    assert single.verdict == "inconclusive" and single.reason == "n too small"
    pooled = ratio_verdict([40.0], [20.0], 2.0, 0.1, pooled_log=PooledSD(0.01, 8, 3))
    assert pooled.verdict == "reproduced" and pooled.df == pytest.approx(16.0)
