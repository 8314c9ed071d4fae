"""Host health from the agents' latest samples and check readings, and the fleet's summary.

Pure: the hub's thresholds (MEMORY_THRESHOLD, CPU_THRESHOLD, DISK_THRESHOLD) mark a metric as
high; a failing check makes a host unhealthy, an erroring or pending one or a high metric makes
it degraded; an agent that went silent is ``silent`` whatever it said last.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bounceback.api.agent_wire import CheckStatus
from bounceback.api.agents.store import AgentRow


class HostHealth(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    SILENT = "silent"


_RANK = {HostHealth.HEALTHY: 0, HostHealth.DEGRADED: 1, HostHealth.UNHEALTHY: 2}


@dataclass(frozen=True)
class Thresholds:
    memory_percent: float
    cpu_percent: float
    disk_percent: float

    def for_metric(self, name: str) -> float | None:
        if name == "memory_percent":
            return self.memory_percent
        if name == "cpu_percent":
            return self.cpu_percent
        if name == "disk_percent" or name.startswith("disk_percent:"):
            return self.disk_percent
        return None


def high_metrics(metrics: dict[str, float | None], thresholds: Thresholds) -> list[str]:
    found = []
    for name, value in sorted(metrics.items()):
        limit = thresholds.for_metric(name)
        if limit is not None and value is not None and value >= limit:
            found.append(name)
    return found


def classify(silent: bool, checks: list[dict[str, Any]], high: list[str]) -> HostHealth:
    if silent:
        return HostHealth.SILENT
    statuses = {reading.get("status") for reading in checks}
    if CheckStatus.FAILING.value in statuses:
        return HostHealth.UNHEALTHY
    if high or statuses & {CheckStatus.ERROR.value, CheckStatus.PENDING.value}:
        return HostHealth.DEGRADED
    return HostHealth.HEALTHY


def _disk(metrics: dict[str, float | None]) -> float | None:
    values = [
        value
        for name, value in metrics.items()
        if (name == "disk_percent" or name.startswith("disk_percent:")) and value is not None
    ]
    return max(values) if values else None


def host(agent: AgentRow, thresholds: Thresholds) -> dict[str, Any]:
    high = high_metrics(agent.last_metrics, thresholds)
    status = classify(agent.silent_since is not None, agent.last_checks, high)
    return {
        "host": agent.id,
        "hostname": agent.hostname,
        "status": status.value,
        "last_seen": agent.last_seen.isoformat(),
        "silent_since": agent.silent_since.isoformat() if agent.silent_since else None,
        "memory_percent": agent.last_metrics.get("memory_percent"),
        "cpu_percent": agent.last_metrics.get("cpu_percent"),
        "disk_percent": _disk(agent.last_metrics),
        "high_metrics": high,
        "metrics": agent.last_metrics,
        "metrics_at": agent.last_metrics_at.isoformat() if agent.last_metrics_at else None,
        "checks": agent.last_checks,
        "checks_at": agent.last_checks_at.isoformat() if agent.last_checks_at else None,
        "failing_checks": sorted(
            str(reading.get("check"))
            for reading in agent.last_checks
            if reading.get("status") == CheckStatus.FAILING.value
        ),
    }


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"avg": None, "max": None}
    return {"avg": round(sum(values) / len(values), 2), "max": max(values)}


def fleet(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """The fleet's status is its worst reporting host's; silent hosts count as unhealthy."""
    by_status = {status.value: 0 for status in HostHealth}
    for entry in hosts:
        by_status[entry["status"]] += 1
    if not hosts:
        overall = "unknown"
    elif by_status[HostHealth.SILENT.value]:
        overall = HostHealth.UNHEALTHY.value
    else:
        overall = max((HostHealth(e["status"]) for e in hosts), key=_RANK.__getitem__).value
    reporting = [entry for entry in hosts if entry["status"] != HostHealth.SILENT.value]
    metrics = {
        name: _spread([entry[name] for entry in reporting if entry[name] is not None])
        for name in ("memory_percent", "cpu_percent", "disk_percent")
    }
    return {"status": overall, "hosts": len(hosts), "by_status": by_status, "metrics": metrics}
