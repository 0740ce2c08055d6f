"""Comparison statistics against hand-computed values and published reference numbers."""

from __future__ import annotations

import math
import random
import statistics
from fractions import Fraction

import pytest

from replay.errors import InvalidInput
from replay.stats import (
    binomial_two_sided_p,
    change_counts,
    chi2_sf_1df,
    classify_change,
    classify_changes,
    latency_percentiles,
    mcnemar,
    metric_deltas,
    paired,
    paired_bootstrap,
    percentile,
)


# -- percentiles ----------------------------------------------------------------------------------------------
def test_percentile_matches_numpys_linear_method() -> None:
    # numpy.percentile([1, 2, 3, 4], q) with the default method: 2.5, 3.7, 1.0, 4.0
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert (percentile([1, 2, 3, 4], 0), percentile([1, 2, 3, 4], 100)) == (1.0, 4.0)
    # numpy.percentile([15, 20, 35, 40, 50], 40) == 29.0 (h = 1.6: 20 + 0.6 * 15)
    assert percentile([15, 20, 35, 40, 50], 40) == pytest.approx(29.0)
    assert percentile([7], 99) == 7.0


def test_latency_percentiles() -> None:
    latencies = [float(ms) for ms in range(1, 101)]  # 1..100 ms
    assert latency_percentiles(latencies) == {
        "p50": pytest.approx(50.5),
        "p90": pytest.approx(90.1),
        "p99": pytest.approx(99.01),
    }
    assert latency_percentiles([], quantiles=(50, 95)) == {"p50": None, "p95": None}
    assert list(latency_percentiles([1.0], quantiles=(99.9,))) == ["p99.9"]


@pytest.mark.parametrize(
    ("values", "q", "message"),
    [
        ([], 50, "a percentile of no values is undefined"),
        ([1.0], 101, "between 0 and 100"),
        ([1.0, math.nan], 50, "percentile values must be finite numbers; found nan"),
        ([1.0, "2"], 50, "found '2'"),
    ],
)
def test_percentile_rejects_bad_input(values: list[float], q: float, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        percentile(values, q)


# -- changes and deltas ---------------------------------------------------------------------------------------
def test_per_example_changes() -> None:
    assert classify_change(0.0, 1.0) == "improved"
    assert classify_change(1.0, 0.0) == "regressed"
    assert classify_change(0.5, 0.5 + 1e-12) == "unchanged"
    assert classify_change(0.5, 0.55, tolerance=0.1) == "unchanged"
    baseline = {"a": 1.0, "b": 0.0, "c": 0.5, "d": 1.0}
    candidate = {"b": 1.0, "a": 0.0, "c": 0.5, "e": 1.0}
    assert paired(baseline, candidate) == (["a", "b", "c"], [1.0, 0.0, 0.5], [0.0, 1.0, 0.5])
    changes = classify_changes(baseline, candidate)
    assert changes == {"a": "regressed", "b": "improved", "c": "unchanged"}
    assert change_counts(changes) == {"improved": 1, "regressed": 1, "unchanged": 1}
    assert change_counts(["improved", "improved"]) == {"improved": 2, "regressed": 0, "unchanged": 0}
    with pytest.raises(InvalidInput, match="candidate scores must be finite numbers; found inf"):
        classify_changes({"a": 1.0}, {"a": math.inf})


def test_metric_deltas() -> None:
    deltas = metric_deltas(
        {"pass_rate": 0.8, "p50_ms": 200.0, "errors": 0.0, "old": 1.0},
        {"pass_rate": 0.9, "p50_ms": 150.0, "errors": 2.0, "new": 3.0},
    )
    assert list(deltas) == ["pass_rate", "p50_ms", "errors", "old", "new"]
    assert deltas["pass_rate"].delta == pytest.approx(0.1) and deltas["pass_rate"].relative == pytest.approx(0.125)
    assert (deltas["p50_ms"].delta, deltas["p50_ms"].relative) == (-50.0, -0.25)
    assert (deltas["errors"].delta, deltas["errors"].relative) == (2.0, None)  # relative to 0 is undefined
    assert (deltas["old"].candidate, deltas["old"].delta) == (None, None)
    assert (deltas["new"].baseline, deltas["new"].candidate) == (None, 3.0)


# -- paired bootstrap -----------------------------------------------------------------------------------------
def test_bootstrap_tiny_cases_computed_by_hand() -> None:
    # deltas [0, 1]: resampled means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4, so the 95% CI is [0, 1]
    two = paired_bootstrap([0, 0], [0, 1], resamples=4000)
    assert (two.mean_delta, two.low, two.high, two.n) == (0.5, 0.0, 1.0, 2)
    assert not two.significant
    # deltas [0, 0, 1]: P(mean = 1) = 1/27 > 2.5%, P(mean = 0) = 8/27 > 2.5%, so again [0, 1]
    three = paired_bootstrap([0, 0, 0], [0, 0, 1], resamples=4000)
    assert (three.low, three.high) == (0.0, 1.0) and three.mean_delta == pytest.approx(1 / 3)
    # identical deltas: every resample has the same mean
    constant = paired_bootstrap([0.2] * 5, [0.7] * 5)
    assert (constant.low, constant.high) == pytest.approx((0.5, 0.5)) and constant.significant


def test_bootstrap_agrees_with_the_normal_approximation() -> None:
    # for n = 400 the bootstrap CI of a mean is close to mean ± 1.96 * sd / sqrt(n)
    rng = random.Random(42)
    baseline = [rng.random() for _ in range(400)]
    candidate = [b + rng.gauss(0.05, 0.2) for b in baseline]
    deltas = [c - b for b, c in zip(baseline, candidate, strict=True)]
    half_width = 1.96 * statistics.stdev(deltas) / math.sqrt(len(deltas))
    interval = paired_bootstrap(baseline, candidate, resamples=4000, seed=7)
    assert interval.mean_delta == pytest.approx(statistics.fmean(deltas))
    assert interval.low == pytest.approx(interval.mean_delta - half_width, abs=0.1 * half_width)
    assert interval.high == pytest.approx(interval.mean_delta + half_width, abs=0.1 * half_width)
    assert interval.significant
    # pairing matters: the same scores shuffled against each other give a much wider interval
    unpaired = paired_bootstrap(baseline, sorted(candidate, key=lambda _: rng.random()), resamples=4000)
    assert unpaired.high - unpaired.low > 1.3 * (interval.high - interval.low)


def test_bootstrap_is_reproducible_by_seed_and_sized_by_confidence() -> None:
    rng = random.Random(3)
    baseline = [float(rng.random() < 0.6) for _ in range(60)]
    candidate = [float(rng.random() < 0.7) for _ in range(60)]
    first = paired_bootstrap(baseline, candidate, resamples=2000, seed=11)
    assert paired_bootstrap(baseline, candidate, resamples=2000, seed=11) == first
    assert paired_bootstrap(baseline, candidate, resamples=2000, seed=12) != first
    wide = paired_bootstrap(baseline, candidate, resamples=2000, seed=11, confidence=0.99)
    assert wide.low <= first.low and wide.high >= first.high
    assert (first.resamples, first.confidence, first.seed) == (2000, 0.95, 11)


@pytest.mark.parametrize(
    ("baseline", "candidate", "options", "message"),
    [
        ([1.0], [1.0, 0.0], {}, "paired scores differ in length: 1 baseline, 2 candidate"),
        ([], [], {}, "at least one paired example"),
        ([1.0], [1.0], {"confidence": 1.0}, "confidence must be between 0 and 1"),
        ([1.0], [1.0], {"resamples": 0}, "resamples must be a positive integer"),
        ([math.nan], [1.0], {}, "baseline scores must be finite numbers; found nan"),
        ([None], [1.0], {}, "found None"),
    ],
)
def test_bootstrap_rejects_bad_input(
    baseline: list[float], candidate: list[float], options: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        paired_bootstrap(baseline, candidate, **options)  # type: ignore[arg-type]


# -- McNemar --------------------------------------------------------------------------------------------------
def outcomes(both_passed: int, regressed: int, improved: int, both_failed: int) -> tuple[list[bool], list[bool]]:
    baseline = [True] * both_passed + [True] * regressed + [False] * improved + [False] * both_failed
    candidate = [True] * both_passed + [False] * regressed + [True] * improved + [False] * both_failed
    return baseline, candidate


def test_exact_binomial_p_values_by_hand() -> None:
    # scipy.stats.binomtest(1, 10).pvalue == 0.021484375 == 2 * (C(10,0) + C(10,1)) / 2**10
    assert binomial_two_sided_p(1, 10) == 0.021484375
    assert binomial_two_sided_p(9, 10) == 0.021484375
    assert binomial_two_sided_p(2, 12) == float(Fraction(2 * (1 + 12 + 66), 2**12))  # 0.0385742...
    assert binomial_two_sided_p(5, 10) == 1.0 and binomial_two_sided_p(0, 0) == 1.0
    assert binomial_two_sided_p(0, 5) == 0.0625
    # a large n stays exact (integers), no overflow: 400 of 1000 is far in the tail
    assert 0 < binomial_two_sided_p(400, 1000) < 1e-9


def test_chi_square_survival_function_matches_the_table() -> None:
    # chi-square critical values with 1 degree of freedom (scipy.stats.chi2.ppf(1 - alpha, 1))
    assert chi2_sf_1df(3.841458820694124) == pytest.approx(0.05, rel=1e-12)
    assert chi2_sf_1df(6.6348966010212145) == pytest.approx(0.01, rel=1e-12)
    assert chi2_sf_1df(10.827566170662733) == pytest.approx(0.001, rel=1e-12)
    assert chi2_sf_1df(0.0) == 1.0


def test_mcnemar_exact_for_few_discordant_pairs() -> None:
    result = mcnemar(*outcomes(both_passed=40, regressed=1, improved=9, both_failed=10))
    assert (result.regressed, result.improved, result.both_passed, result.both_failed) == (1, 9, 40, 10)
    assert (result.method, result.statistic, result.p_value) == ("exact", None, 0.021484375)
    unchanged = mcnemar(*outcomes(both_passed=5, regressed=0, improved=0, both_failed=5))
    assert unchanged.p_value == 1.0


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    # b = 10, c = 25: X^2 = (|10 - 25| - 1)^2 / 35 = 5.6; p = P(|Z| >= sqrt(5.6)) for a standard normal Z
    result = mcnemar(*outcomes(both_passed=50, regressed=10, improved=25, both_failed=15))
    assert result.method == "chi2" and result.statistic == pytest.approx(5.6)
    normal_tail = 2 * (1 - statistics.NormalDist().cdf(math.sqrt(5.6)))
    assert result.p_value == pytest.approx(normal_tail, rel=1e-9)
    assert result.p_value == pytest.approx(0.017960, abs=1e-6)
    # equal discordant counts give no evidence either way
    assert mcnemar(*outcomes(0, 20, 20, 0)).p_value == 1.0
    # forcing a method
    forced = mcnemar(*outcomes(50, 10, 25, 15), method="exact")
    assert forced.method == "exact" and forced.p_value == binomial_two_sided_p(10, 35)
    small = mcnemar(*outcomes(0, 1, 9, 0), method="chi2")
    assert small.statistic == pytest.approx(4.9) and small.p_value == pytest.approx(chi2_sf_1df(4.9))  # (8 - 1)^2 / 10
    assert mcnemar([], [], method="chi2").p_value == 1.0


def test_mcnemar_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="paired outcomes differ in length: 2 baseline, 1 candidate"):
        mcnemar([True, False], [True])
    with pytest.raises(InvalidInput, match="takes pass/fail booleans; found 1"):
        mcnemar([1], [True])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="method must be auto, exact or chi2"):
        mcnemar([True], [True], method="fisher")  # type: ignore[arg-type]
