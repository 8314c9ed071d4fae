"""The hub's event-driven figures: counted in this process as things happen.

Each hub has its own registry, so several hubs in one process (tests, benchmarks) never share
a figure. With several replicas behind a load balancer these counters are per replica; sum them
in PromQL. Figures the store knows are read at scrape time instead (``snapshot.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.clock import Clock
from bounceback.api.work.policy import Outcome
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import TransactionalHandler

# Lateness of scheduled work is normally well under a second; minutes mean a stuck worker.
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class AlertsAccepted(Collector):
    """Alerts accepted, by integration kind and intake action. Counted on every intake request,
    so a plain dict (the event loop is the only writer) rather than a labelled ``Counter``, whose
    lock and label look-up cost more per request than the rest of the count."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bounceback_alerts_accepted",
            "Alerts accepted by the intake routes of this replica",
            labels=["integration", "action"],
        )
        for labels, count in sorted(self.counts.items()):
            family.add_metric(list(labels), count)
        yield family


class HubMetrics:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.alerts_accepted = AlertsAccepted()
        self.registry.register(self.alerts_accepted)
        self.escalation_step_lateness = Histogram(
            "bounceback_escalation_step_lateness_seconds",
            "How long after its due time this replica took up an escalation step",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )

        self.retention_deleted = Counter(
            "bounceback_retention_deleted_rows",
            "Rows this replica's retention passes deleted, by kind of record",
            ["kind"],
            registry=self.registry,
        )

    def pruned(self, deleted: dict[str, int]) -> None:
        for kind, rows in deleted.items():
            self.retention_deleted.labels(kind).inc(rows)

    def alert_accepted(self, integration: str, action: str) -> None:
        counts = self.alerts_accepted.counts
        key = (integration, action)
        counts[key] = counts.get(key, 0) + 1

    def timed_step(self, step: TransactionalHandler) -> TransactionalHandler:
        """``step`` (the escalation worker's handler), observing how late each item runs."""

        async def observed(item: WorkItem, conn: AsyncConnection) -> Outcome:
            late = (self._clock.now() - item.due_at).total_seconds()
            self.escalation_step_lateness.observe(max(late, 0.0))
            return await step(item, conn)

        return observed
