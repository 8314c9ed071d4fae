from __future__ import annotations

import random

import pytest

from bounceback.api.deployments.judge import judge
from bounceback.api.deployments.verdict import (
    Counts,
    JudgePolicy,
    MetricKind,
    Outcome,
    Samples,
)

POLICY = JudgePolicy()


def latencies(center: float, n: int = 60, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(center, center * 0.08) for _ in range(n)]


def errors(events: int, requests: float = 20_000.0) -> Samples:
    return Samples(rates={"errors": Counts(events, requests)})


def test_a_clear_3x_error_rate_regression_fails_with_the_numbers() -> None:
    verdict = judge(errors(100), errors(300), POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.rollback
    [metric] = verdict.metrics
    assert metric.kind is MetricKind.RATE
    assert metric.effect is not None
    assert metric.effect.estimate == pytest.approx(3.0)
    assert metric.effect.lower > POLICY.rate_ratio_limit
    assert metric.p_value is not None and metric.alpha is not None
    assert metric.p_value < metric.alpha
    assert metric.current is not None and metric.current.value == pytest.approx(0.015)
    assert "1.500% after vs 0.500% before" in verdict.explanation
    assert "above the 1.3x limit" in verdict.explanation


def test_noise_alone_passes() -> None:
    baseline = Samples(
        rates={"errors": Counts(50, 10_000.0)}, distributions={"latency": latencies(100, seed=1)}
    )
    current = Samples(
        rates={"errors": Counts(55, 10_000.0)}, distributions={"latency": latencies(100, seed=2)}
    )
    verdict = judge(baseline, current, POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.PASS
    assert [m.outcome for m in verdict.metrics] == [Outcome.PASS, Outcome.PASS]


@pytest.mark.parametrize("look", [1, 2, 3, 4, 5])
def test_sparse_errors_below_the_absolute_floor_never_fail(look: int) -> None:
    # from zero to 8 errors in 100,000 requests: an infinite ratio, but 0.008 % < the 0.1 % floor
    verdict = judge(errors(0, 100_000.0), errors(8, 100_000.0), POLICY, look=look, max_looks=5)
    assert verdict.outcome is Outcome.PASS
    assert "below the floor" in verdict.explanation


def test_few_events_never_fail_even_above_the_floor() -> None:
    verdict = judge(errors(0, 1_000.0), errors(3, 1_000.0), POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.PASS


def test_too_little_data_is_nodata() -> None:
    baseline = Samples(distributions={"latency": latencies(100, n=5)})
    current = Samples(distributions={"latency": latencies(100, n=5, seed=3)})
    verdict = judge(baseline, current, POLICY, look=3, max_looks=5)
    assert verdict.outcome is Outcome.NODATA
    assert "fewer than the 20 needed" in verdict.explanation
    assert not verdict.rollback


def test_no_current_exposure_is_nodata() -> None:
    verdict = judge(errors(10), errors(0, 0.0), POLICY, look=1, max_looks=5)
    assert verdict.outcome is Outcome.NODATA


def test_early_looks_need_stronger_evidence() -> None:
    baseline, current = errors(100, 50_000.0), errors(190, 50_000.0)
    early = judge(baseline, current, POLICY, look=1, max_looks=5)
    final = judge(baseline, current, POLICY, look=5, max_looks=5)
    assert early.outcome is Outcome.INCONCLUSIVE
    assert not early.rollback
    assert final.outcome is Outcome.FAIL
    assert early.metrics[0].alpha is not None and final.metrics[0].alpha is not None
    assert early.metrics[0].alpha < final.metrics[0].alpha / 100


def test_latency_shift_within_tolerance_passes() -> None:
    baseline = Samples(distributions={"latency": latencies(100, seed=1)})
    current = Samples(distributions={"latency": latencies(110, seed=2)})
    verdict = judge(baseline, current, POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.PASS
    [metric] = verdict.metrics
    assert metric.effect is not None and metric.effect.unit == "shift"
    assert 5 < metric.effect.estimate < 15
    assert metric.threshold == pytest.approx(0.2 * metric.baseline.value)  # type: ignore[union-attr]


def test_latency_shift_beyond_tolerance_fails() -> None:
    baseline = Samples(distributions={"latency": latencies(100, seed=1)})
    current = Samples(distributions={"latency": latencies(160, seed=2)})
    verdict = judge(baseline, current, POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.FAIL
    assert "the whole interval is above the tolerance" in verdict.explanation


def test_a_per_metric_tolerance_overrides_the_default() -> None:
    baseline = Samples(distributions={"cpu": latencies(50, seed=1)})
    current = Samples(distributions={"cpu": latencies(70, seed=2)})
    lenient = JudgePolicy(tolerances={"cpu": 0.6})
    assert judge(baseline, current, POLICY, look=5, max_looks=5).outcome is Outcome.FAIL
    assert judge(baseline, current, lenient, look=5, max_looks=5).outcome is Outcome.PASS


def test_health_down_after_the_deploy_fails_by_rule() -> None:
    baseline = Samples(health={"health_url": True}, rates={"errors": Counts(10, 10_000.0)})
    current = Samples(health={"health_url": False}, rates={"errors": Counts(10, 10_000.0)})
    verdict = judge(baseline, current, POLICY, look=1, max_looks=5)
    assert verdict.outcome is Outcome.FAIL
    assert "health_url: down after the deploy (was up before)" in verdict.explanation


def test_an_unproven_rise_at_the_last_look_is_inconclusive_not_a_rollback() -> None:
    verdict = judge(errors(10, 5_000.0), errors(20, 5_000.0), POLICY, look=5, max_looks=5)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert not verdict.rollback


def test_policy_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="alpah"):
        JudgePolicy.model_validate({"alpah": 0.05})
