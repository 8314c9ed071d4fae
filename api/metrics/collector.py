"""The exposition of one scrape: the store's figures as metric families, then this replica's
own counters.

prometheus-client calls ``collect()`` synchronously, and the hub's store is async, so the store
is read first (``snapshot.read``) and this collector only turns that snapshot into families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bounceback.api.agent_wire import BreakerState
from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.metrics.snapshot import Histogram, StoreSnapshot
from bounceback.api.schema import IncidentState, Severity


def _histogram(name: str, doc: str, figures: Histogram) -> HistogramMetricFamily:
    buckets = [("+Inf" if math.isinf(le) else repr(le), n) for le, n in figures.buckets]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=figures.total)


def _grouped(family: GaugeMetricFamily, counts: dict[tuple[str, str], int]) -> GaugeMetricFamily:
    for labels, count in sorted(counts.items()):
        family.add_metric(list(labels), count)
    return family


def store_families(shot: StoreSnapshot) -> Iterator[Metric]:
    # Every (state, severity) pair, zeros included, so a dashboard's series never vanish.
    incidents = {(s.value, v.value): 0 for s in IncidentState for v in Severity}
    incidents.update(shot.incidents)
    yield _grouped(
        GaugeMetricFamily(
            "bounceback_incidents", "Incidents in the store", labels=["state", "severity"]
        ),
        incidents,
    )
    yield _histogram(
        "bounceback_incident_time_to_acknowledge_seconds",
        "From an incident's creation to its acknowledgement (acknowledged incidents)",
        shot.time_to_acknowledge,
    )
    yield _histogram(
        "bounceback_incident_time_to_resolve_seconds",
        "From an incident's creation to its resolution (resolved incidents)",
        shot.time_to_resolve,
    )
    attempts = GaugeMetricFamily(
        "bounceback_recovery_attempts", "Recovery tries in the store", labels=["state"]
    )
    for state, count in sorted(shot.recovery_attempts.items()):
        attempts.add_metric([state], count)
    yield attempts
    durations = CounterMetricFamily(
        "bounceback_recovery_succeeded",
        "Recovery episodes that succeeded",
        labels=[],
    )
    durations.add_metric([], shot.recovery_succeeded)
    yield durations
    seconds = CounterMetricFamily(
        "bounceback_recovery_succeeded_seconds",
        "Summed durations of the recoveries that succeeded (first try to success)",
    )
    seconds.add_metric([], shot.recovery_seconds)
    yield seconds
    mttr = shot.mttr_window_seconds
    yield GaugeMetricFamily(
        "bounceback_recovery_mttr_seconds",
        "Mean time to recovery over the last 24 hours (NaN without a recovery)",
        value=math.nan if mttr is None else mttr,
    )
    healing = GaugeMetricFamily(
        "bounceback_self_healing_attempts",
        "Agents' self-healing attempts in the store",
        labels=["outcome"],
    )
    for outcome, count in sorted(shot.self_healing_attempts.items()):
        healing.add_metric([outcome], count)
    yield healing
    breakers = GaugeMetricFamily(
        "bounceback_breaker_state",
        "1 for each breaker's current state, 0 for the others",
        labels=["host", "dependency", "state"],
    )
    for host, dependency, current in sorted(shot.breakers):
        for state in BreakerState:
            breakers.add_metric([host, dependency, state.value], float(state.value == current))
    yield breakers
    degradation = GaugeMetricFamily(
        "bounceback_degradation_level",
        "1 for the fleet's current degradation level, 0 for the others",
        labels=["level"],
    )
    for level in DegradationLevel:
        degradation.add_metric([level.value], float(level == shot.degradation_level))
    yield degradation
    yield GaugeMetricFamily(
        "bounceback_degradation_rank",
        "The degradation level as a number: 0 normal … 4 emergency",
        value=shot.degradation_rank,
    )
    yield _grouped(
        GaugeMetricFamily(
            "bounceback_notifications",
            "Notifications in the outbox by channel and state (sent, failed, skipped, pending)",
            labels=["channel", "state"],
        ),
        shot.notifications,
    )
    yield GaugeMetricFamily(
        "bounceback_escalations_overdue",
        "Active escalations whose next step is past due",
        value=shot.escalations_overdue,
    )
    yield GaugeMetricFamily(
        "bounceback_escalation_oldest_overdue_seconds",
        "How far past due the most overdue escalation step is (0 when none)",
        value=shot.oldest_overdue_seconds,
    )
    yield GaugeMetricFamily("bounceback_agents", "Agents known to the hub", value=shot.agents)
    yield GaugeMetricFamily(
        "bounceback_agents_silent", "Agents that stopped reporting", value=shot.silent_agents
    )


class _Scrape(Collector):
    def __init__(self, shot: StoreSnapshot, own: CollectorRegistry) -> None:
        self._shot = shot
        self._own = own

    def collect(self) -> Iterable[Metric]:
        yield from store_families(self._shot)
        yield from self._own.collect()


def exposition(shot: StoreSnapshot, own: CollectorRegistry) -> bytes:
    """The text format: a throwaway registry per scrape, so concurrent scrapes never share
    a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(shot, own))
    return generate_latest(registry)
