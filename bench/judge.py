"""Deployment judge: false rollbacks and detection on simulated deployments, ours vs two peers.

Each deployment has a 60-interval pre-deploy baseline and a watch of 5 looks x 12 intervals.
Half are healthy: per-interval noise, overdispersed errors, occasional spikes, a small drift
after the deploy (latency -5 % … +8 %, error rate -15 % … +20 %), and a quarter of them with
sparse errors (0.001 %-0.03 %). The other half regress by 1.2x, 1.5x, 2x, 3x or 5x in error
rate or in p95 latency. Error regressions are drawn on services whose regressed rate clears the
0.1 % floor: below it a rise is, by policy, not worth a rollback.

Three judges see the same data, in the same run; each rolls back at its first failing look:

- ours: `bounceback.api.deployments.judge` (rate-ratio test + MW/HL, alpha spent across looks);
- threshold (Argo-style): per look, error rate > max(1.5 x baseline, 0.1 %) or mean p95 latency
  > 1.2 x baseline counts as a failed measurement; rollback after 2 (failureLimit 1);
- mann_whitney (Kayenta-style): per look, two-sided MW at 98 % on the per-interval error-rate and
  latency series, a metric is High when p < 0.02 and the HL interval is above 0; any High look
  fails (score below marginal), with no correction for the repeated looks.

    .venv/bin/python bench/judge.py [--quick] [--deployments N] [--seed S]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bounceback.api.deployments.judge import judge
from bounceback.api.deployments.stats import Alternative, hodges_lehmann, mann_whitney
from bounceback.api.deployments.verdict import Counts, JudgePolicy, Outcome, Samples

BASELINE_INTERVALS = 60
LOOKS = 5
PER_LOOK = 12
SIZES = (1.2, 1.5, 2.0, 3.0, 5.0)
FLOOR = 0.001


@dataclass(frozen=True, slots=True)
class Deployment:
    requests: list[int]  # per interval, baseline then post
    errors: list[int]
    latency: list[float]  # p95 per interval
    size: float  # 1.0 = healthy
    kind: str  # "healthy", "error" or "latency"


def poisson(rng: random.Random, lam: float) -> int:
    if lam < 30:
        limit, k, product = math.exp(-lam), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def simulate(rng: random.Random, kind: str, size: float) -> Deployment:
    traffic = math.exp(rng.uniform(math.log(300), math.log(5000)))
    sparse = kind == "healthy" and rng.random() < 0.25
    if sparse:
        error_rate = math.exp(rng.uniform(math.log(1e-5), math.log(3e-4)))
    else:
        low = FLOOR / size if kind == "error" else 0.002
        error_rate = math.exp(rng.uniform(math.log(max(low, 0.002)), math.log(0.02)))
    latency = rng.uniform(40, 400)
    error_drift, latency_drift = rng.uniform(0.85, 1.2), rng.uniform(0.95, 1.08)
    trend = rng.uniform(-0.03, 0.03)
    total = BASELINE_INTERVALS + LOOKS * PER_LOOK
    requests, errors, p95 = [], [], []
    for i in range(total):
        after = i >= BASELINE_INTERVALS
        progress = (i - BASELINE_INTERVALS) / (LOOKS * PER_LOOK) if after else 0.0
        spike = rng.random() < 0.02
        n = poisson(rng, traffic * rng.uniform(0.8, 1.2))
        rate = error_rate * math.exp(rng.gauss(0, 0.25)) * (3.0 if spike else 1.0)
        value = latency * math.exp(rng.gauss(0, 0.1)) * (1.5 if spike else 1.0)
        if after:
            rate *= error_drift * (1 + trend * progress)
            value *= latency_drift * (1 + trend * progress)
            if kind == "error":
                rate *= size
            elif kind == "latency":
                value *= size
        requests.append(n)
        errors.append(poisson(rng, n * min(rate, 1.0)))
        p95.append(value)
    return Deployment(requests, errors, p95, size, kind)


def split(d: Deployment, look: int) -> tuple[slice, slice]:
    return slice(0, BASELINE_INTERVALS), slice(
        BASELINE_INTERVALS, BASELINE_INTERVALS + look * PER_LOOK
    )


def ours(d: Deployment) -> bool:
    policy = JudgePolicy()
    pre, _ = split(d, 0)
    baseline = Samples(
        rates={"errors": Counts(sum(d.errors[pre]), float(sum(d.requests[pre])))},
        distributions={"latency_p95": d.latency[pre]},
    )
    for look in range(1, LOOKS + 1):
        _, post = split(d, look)
        current = Samples(
            rates={"errors": Counts(sum(d.errors[post]), float(sum(d.requests[post])))},
            distributions={"latency_p95": d.latency[post]},
        )
        if judge(baseline, current, policy, look=look, max_looks=LOOKS).outcome is Outcome.FAIL:
            return True
    return False


def threshold(d: Deployment) -> bool:
    pre, _ = split(d, 0)
    max_rate = max(1.5 * sum(d.errors[pre]) / max(1, sum(d.requests[pre])), FLOOR)
    max_latency = 1.2 * sum(d.latency[pre]) / BASELINE_INTERVALS
    failed = 0
    for look in range(1, LOOKS + 1):
        window = slice(
            BASELINE_INTERVALS + (look - 1) * PER_LOOK, BASELINE_INTERVALS + look * PER_LOOK
        )
        rate = sum(d.errors[window]) / max(1, sum(d.requests[window]))
        latency = sum(d.latency[window]) / PER_LOOK
        failed += rate > max_rate or latency > max_latency
        if failed > 1:
            return True
    return False


def _kayenta_high(before: list[float], after: list[float]) -> bool:
    if len(set(before) | set(after)) < 2:  # identical or single-valued data passes
        return False
    test = mann_whitney(before, after, Alternative.TWO_SIDED)
    return test.p_value < 0.02 and hodges_lehmann(before, after, 0.98).lower > 0


def kayenta(d: Deployment) -> bool:
    rates = [e / n if n else 0.0 for e, n in zip(d.errors, d.requests, strict=True)]
    pre, _ = split(d, 0)
    for look in range(1, LOOKS + 1):
        _, post = split(d, look)
        if _kayenta_high(rates[pre], rates[post]) or _kayenta_high(d.latency[pre], d.latency[post]):
            return True
    return False


JUDGES: dict[str, Callable[[Deployment], bool]] = {
    "ours": ours,
    "threshold": threshold,
    "mann_whitney": kayenta,
}


def summarize(rollbacks: list[bool], deployments: list[Deployment]) -> dict[str, object]:
    healthy = [r for r, d in zip(rollbacks, deployments, strict=True) if d.kind == "healthy"]
    by_size: dict[str, float] = {}
    for size in SIZES:
        hits = [r for r, d in zip(rollbacks, deployments, strict=True) if d.size == size]
        by_size[f"{size:g}x"] = round(sum(hits) / max(1, len(hits)), 4)
    big = [r for r, d in zip(rollbacks, deployments, strict=True) if d.size >= 2.0]
    return {
        "false_rollback_rate": round(sum(healthy) / max(1, len(healthy)), 4),
        "detection_2x": round(sum(big) / max(1, len(big)), 4),
        "detection_by_size": by_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 deployments instead of 2,000")
    parser.add_argument("--deployments", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    count = args.deployments or (400 if args.quick else 2000)
    rng = random.Random(args.seed)
    deployments = []
    for i in range(count):
        if i % 2 == 0:
            deployments.append(simulate(rng, "healthy", 1.0))
        else:
            regression = i // 2
            size = SIZES[regression % len(SIZES)]
            kind = "error" if (regression // len(SIZES)) % 2 == 0 else "latency"
            deployments.append(simulate(rng, kind, size))

    results: dict[str, dict[str, object]] = {}
    for name, rolls_back in JUDGES.items():
        start = time.perf_counter()
        results[name] = summarize([rolls_back(d) for d in deployments], deployments)
        results[name]["seconds"] = round(time.perf_counter() - start, 2)

    print(f"{count} simulated deployments ({count // 2} healthy, {count - count // 2} regressed)")
    print(f"{'judge':<14}{'false rb':>10}{'det ≥2x':>10}" + "".join(f"{s:>8g}x" for s in SIZES))
    for name, r in results.items():
        sizes = r["detection_by_size"]
        assert isinstance(sizes, dict)
        print(
            f"{name:<14}{r['false_rollback_rate']:>10.2%}{r['detection_2x']:>10.2%}"
            + "".join(f"{sizes[f'{s:g}x']:>9.1%}" for s in SIZES)
            + f"   ({r['seconds']} s)"
        )
    summary = {
        "bench": "judge",
        "deployments": count,
        "seed": args.seed,
        "quick": args.quick,
        **results["ours"],
        "peers": {name: r for name, r in results.items() if name != "ours"},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
