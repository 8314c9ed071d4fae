"""Reference values: Hollander & Wolfe's permeability example (Nonparametric Statistical Methods,
ch. 4) and figures computed once with SciPy 1.x (mannwhitneyu, binom, binomtest)."""

from __future__ import annotations

import math

import pytest

from bounceback.api.deployments.sequential import Spending, look_alpha, spent
from bounceback.api.deployments.stats import (
    Alternative,
    binomial_sf,
    hodges_lehmann,
    mann_whitney,
    normal_sf,
    rate_ratio_test,
    u_distribution,
)

AT_TERM = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
WEEKS_12_26 = [1.15, 0.88, 0.90, 0.74, 1.21]


def test_u_distribution_counts_the_arrangements() -> None:
    assert u_distribution(3, 2) == [1, 1, 2, 2, 2, 1, 1]
    assert sum(u_distribution(10, 5)) == math.comb(15, 5)


def test_exact_mann_whitney_matches_the_textbook_example() -> None:
    result = mann_whitney(WEEKS_12_26, AT_TERM, Alternative.GREATER)
    assert result.exact
    assert result.u == 35
    assert result.p_value == pytest.approx(0.1272061272061272, rel=1e-12)


def test_exact_two_sided_doubles_the_smaller_tail() -> None:
    baseline = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    current = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.07, 3.14, 1.28]
    assert mann_whitney(baseline, current, Alternative.TWO_SIDED).p_value == pytest.approx(
        0.13591114767585355, rel=1e-12
    )
    assert mann_whitney(baseline, current).p_value == pytest.approx(0.943253805018511, rel=1e-12)


def test_ties_use_the_corrected_normal_approximation() -> None:
    baseline = [1.0, 2, 2, 3, 3, 3, 4, 4, 5, 6] * 3
    current = [2.0, 3, 3, 4, 4, 5, 5, 6, 6, 7] * 3
    result = mann_whitney(baseline, current)
    assert not result.exact
    assert result.u == 639
    assert result.p_value == pytest.approx(0.00229063583367491, rel=1e-9)


def test_all_tied_values_give_no_evidence() -> None:
    assert mann_whitney([1.0] * 30, [1.0] * 30).p_value == 1.0


def test_hodges_lehmann_interval_matches_the_textbook_example() -> None:
    shift = hodges_lehmann(WEEKS_12_26, AT_TERM, confidence=0.95)
    assert shift.estimate == pytest.approx(0.305)
    assert shift.lower == pytest.approx(-0.15)
    assert shift.upper == pytest.approx(0.76)


def test_hodges_lehmann_recovers_a_known_shift() -> None:
    baseline = [float(v) for v in range(100)]
    shift = hodges_lehmann(baseline, [v + 30.5 for v in baseline], confidence=0.98)
    assert shift.estimate == pytest.approx(30.5)
    assert shift.lower < 30.5 < shift.upper


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney([], [1.0])


def test_binomial_tail_matches_reference_values() -> None:
    assert binomial_sf(10, 20, 0.3) == pytest.approx(0.04796189733134342, rel=1e-10)
    assert binomial_sf(0, 5, 0.3) == 1.0
    assert binomial_sf(6, 5, 0.3) == 0.0


def test_rate_ratio_test_is_the_conditional_binomial_test() -> None:
    # 12 of 20 events after, equal exposures, H0 ratio ≤ 2/3 → p0 = 0.4
    result = rate_ratio_test(12, 100.0, 8, 100.0, ratio0=2 / 3)
    assert result.p_value == pytest.approx(0.056526367034253025, rel=1e-9)


def test_rate_ratio_interval_is_clopper_pearson_on_the_share() -> None:
    result = rate_ratio_test(30, 50.0, 10, 50.0, confidence=0.95)
    low, high = 0.5880380198484636, 0.8730852010671533
    assert result.ratio.estimate == pytest.approx(3.0)
    assert result.ratio.lower == pytest.approx(low / (1 - low), rel=1e-6)
    assert result.ratio.upper == pytest.approx(high / (1 - high), rel=1e-6)


def test_rate_ratio_without_events_has_no_evidence() -> None:
    result = rate_ratio_test(0, 10.0, 0, 10.0)
    assert result.p_value == 1.0
    assert result.ratio.upper == math.inf


def test_normal_tail_is_accurate_far_out() -> None:
    assert normal_sf(1.959963984540054) == pytest.approx(0.025)
    assert normal_sf(8.0) == pytest.approx(6.22096057427178e-16, rel=1e-9)


@pytest.mark.parametrize("spending", list(Spending))
def test_alpha_spent_over_all_looks_adds_up_to_alpha(spending: Spending) -> None:
    levels = [look_alpha(0.05, k, 6, spending) for k in range(1, 7)]
    assert sum(levels) == pytest.approx(0.05)
    assert all(level > 0 for level in levels)


def test_obrien_fleming_keeps_early_looks_strict() -> None:
    levels = [look_alpha(0.05, k, 5) for k in range(1, 6)]
    assert levels == sorted(levels)
    assert levels[0] < 1e-4 < levels[-1]
    assert spent(0.05, 1.0) == 0.05


def test_a_look_outside_the_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="look must be between 1 and max_looks=5"):
        look_alpha(0.05, 6, 5)
