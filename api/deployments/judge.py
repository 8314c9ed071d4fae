"""The deployment judge: pre-deploy baseline vs after-deploy data → pass|fail|inconclusive|nodata.

Pure: samples, policy and the look number in, a `Verdict` out. Per guard.md §6:

- binary health signals fail by rule when down after the deploy;
- error counts: exact conditional rate-ratio test of H0 λ_post/λ_pre ≤ rho0, plus an absolute floor
  and a minimum event count, so sparse errors on a tiny base never roll back;
- latency, CPU, memory: one-sided Mann-Whitney with a Hodges-Lehmann interval, failing only when
  the whole interval sits above the tolerated shift.

alpha is Bonferroni-split over the tested metrics, then spent across looks (`sequential.py`), so
judging every interval keeps the false-rollback chance of the whole watch at most alpha. A metric
fails only if its test rejects at this look's level AND its effect clears the tolerance or floor;
before the last look, evidence that is not enough either way is inconclusive, never a rollback.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bounceback.api.deployments.sequential import look_alpha
from bounceback.api.deployments.stats import (
    Alternative,
    hodges_lehmann,
    mann_whitney,
    rate_ratio_test,
)
from bounceback.api.deployments.verdict import (
    Counts,
    Effect,
    JudgePolicy,
    MetricKind,
    MetricResult,
    Outcome,
    Samples,
    Summary,
    Verdict,
)


def judge(
    baseline: Samples, current: Samples, policy: JudgePolicy, *, look: int, max_looks: int
) -> Verdict:
    rate_names = sorted(set(baseline.rates) | set(current.rates))
    distribution_names = sorted(set(baseline.distributions) | set(current.distributions))
    health_names = sorted(set(baseline.health) | set(current.health))
    tested = max(1, len(rate_names) + len(distribution_names))
    level = look_alpha(policy.alpha / tested, look, max_looks, policy.spending)
    last = look == max_looks

    results = [_health(n, baseline.health.get(n), current.health.get(n)) for n in health_names]
    results += [
        _rate(n, baseline.rates.get(n), current.rates.get(n), policy, level, last)
        for n in rate_names
    ]
    results += [
        _distribution(
            n, baseline.distributions.get(n), current.distributions.get(n), policy, level, last
        )
        for n in distribution_names
    ]
    outcome = _overall(results)
    return Verdict(
        outcome, look, max_looks, tuple(results), _explain(outcome, results, look, max_looks)
    )


def _overall(results: Sequence[MetricResult]) -> Outcome:
    outcomes = [r.outcome for r in results]
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    if Outcome.INCONCLUSIVE in outcomes:
        return Outcome.INCONCLUSIVE
    # Kayenta's rule: with half the metrics missing, a pass would mostly mean "nothing measured".
    if not outcomes or 2 * outcomes.count(Outcome.NODATA) >= len(outcomes):
        return Outcome.NODATA
    return Outcome.PASS


def _explain(outcome: Outcome, results: Sequence[MetricResult], look: int, max_looks: int) -> str:
    shown = [r for r in results if r.outcome is outcome] or list(results)
    reasons = "; ".join(r.explanation for r in shown) or "no metrics were given"
    return f"{outcome.value} at look {look}/{max_looks}: {reasons}"


def _num(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.4g}"


def _health(name: str, before: bool | None, after: bool | None) -> MetricResult:
    kind = MetricKind.BINARY
    base = None if before is None else Summary(1, 1.0 if before else 0.0)
    if after is None:
        return MetricResult(
            name, kind, Outcome.NODATA, f"{name}: no health reading after the deploy", base
        )
    was = {None: "unknown", True: "up", False: "down"}[before]
    if after:
        return MetricResult(
            name, kind, Outcome.PASS, f"{name}: up (was {was} before)", base, Summary(1, 1.0)
        )
    return MetricResult(
        name,
        kind,
        Outcome.FAIL,
        f"{name}: down after the deploy (was {was} before); health signals fail by rule",
        base,
        Summary(1, 0.0),
    )


def _rate(
    name: str,
    before: Counts | None,
    after: Counts | None,
    policy: JudgePolicy,
    level: float,
    last: bool,
) -> MetricResult:
    kind = MetricKind.RATE
    limit = policy.rate_ratio_limit
    if before is None or after is None or before.exposure <= 0 or after.exposure <= 0:
        side = "baseline" if before is None or before.exposure <= 0 else "current"
        return MetricResult(
            name,
            kind,
            Outcome.NODATA,
            f"{name}: no {side} exposure to compare",
            baseline=_counts(before),
            current=_counts(after),
            alpha=level,
            threshold=limit,
        )
    test = rate_ratio_test(
        after.events, after.exposure, before.events, before.exposure, limit, 1 - 2 * level
    )
    ratio = test.ratio
    rate_before, rate_after = before.events / before.exposure, after.events / after.exposure
    numbers = (
        f"{name}: {rate_after:.3%} after vs {rate_before:.3%} before "
        f"({after.events} vs {before.events} events), ratio {_num(ratio.estimate)}x "
        f"[{_num(ratio.lower)}, {_num(ratio.upper)}], p={test.p_value:.2g} vs alpha={level:.2g} "
        f"for H0 ratio ≤ {limit:g}"
    )
    rejects = test.p_value < level
    below_floor = rate_after < policy.error_rate_floor or after.events < policy.min_events
    if rejects and not below_floor:
        outcome, why = Outcome.FAIL, f"above the {limit:g}x limit"
    elif below_floor:
        outcome = Outcome.PASS
        why = (
            f"below the floor ({policy.error_rate_floor:.3%} and ≥{policy.min_events} events), "
            "too sparse to roll back for"
        )
    elif ratio.upper <= limit:
        outcome, why = Outcome.PASS, f"a rise beyond {limit:g}x is ruled out"
    elif last and ratio.estimate <= limit:
        outcome, why = Outcome.PASS, f"no evidence of a rise beyond {limit:g}x by the last look"
    elif last:
        outcome, why = Outcome.INCONCLUSIVE, "estimate above the limit but not significant"
    else:
        outcome, why = Outcome.INCONCLUSIVE, "not enough evidence either way yet"
    effect = Effect(ratio.estimate, ratio.lower, ratio.upper, "ratio")
    return MetricResult(
        name,
        kind,
        outcome,
        f"{numbers} - {why}",
        baseline=_counts(before),
        current=_counts(after),
        effect=effect,
        p_value=test.p_value,
        alpha=level,
        threshold=limit,
    )


def _counts(counts: Counts | None) -> Summary | None:
    if counts is None:
        return None
    rate = counts.events / counts.exposure if counts.exposure > 0 else math.nan
    return Summary(counts.events, rate, counts.exposure)


def _clean(values: Sequence[float] | None, keep: int) -> list[float]:
    # nanStrategy "remove" (Kayenta's default); the most recent values bound the m·n pair count
    if values is None:
        return []
    return [v for v in values if not math.isnan(v)][-keep:]


def _distribution(
    name: str,
    before_values: Sequence[float] | None,
    after_values: Sequence[float] | None,
    policy: JudgePolicy,
    level: float,
    last: bool,
) -> MetricResult:
    kind = MetricKind.DISTRIBUTION
    before = _clean(before_values, policy.max_samples)
    after = _clean(after_values, policy.max_samples)
    base = Summary(len(before), statistics.median(before)) if before else None
    post = Summary(len(after), statistics.median(after)) if after else None
    if len(before) < policy.min_samples or len(after) < policy.min_samples:
        return MetricResult(
            name,
            kind,
            Outcome.NODATA,
            f"{name}: {len(before)} baseline and {len(after)} current values, "
            f"fewer than the {policy.min_samples} needed on each side",
            baseline=base,
            current=post,
            alpha=level,
        )
    assert base is not None and post is not None
    tolerated = policy.tolerance_for(name) * abs(base.value)
    test = mann_whitney(before, after, Alternative.GREATER)
    shift = hodges_lehmann(before, after, confidence=1 - 2 * level)
    numbers = (
        f"{name}: median {_num(post.value)} after vs {_num(base.value)} before, shift "
        f"{_num(shift.estimate)} [{_num(shift.lower)}, {_num(shift.upper)}], "
        f"tolerance {_num(tolerated)}, p={test.p_value:.2g} vs alpha={level:.2g}"
    )
    if test.p_value < level and shift.lower > tolerated:
        outcome, why = Outcome.FAIL, "the whole interval is above the tolerance"
    elif shift.upper <= tolerated:
        outcome, why = Outcome.PASS, "a shift beyond the tolerance is ruled out"
    elif last and shift.estimate <= tolerated:
        outcome, why = Outcome.PASS, "no evidence of a shift beyond the tolerance by the last look"
    elif last:
        outcome, why = Outcome.INCONCLUSIVE, "estimate above the tolerance but not significant"
    else:
        outcome, why = Outcome.INCONCLUSIVE, "not enough evidence either way yet"
    effect = Effect(shift.estimate, shift.lower, shift.upper, "shift")
    return MetricResult(
        name,
        kind,
        outcome,
        f"{numbers} - {why}",
        baseline=base,
        current=post,
        effect=effect,
        p_value=test.p_value,
        alpha=level,
        threshold=tolerated,
    )
