"""The public status page's content, as pure functions: component health from open incidents and
degradation, and the Statuspage-style summary document (``/status.json``).

A component is a service the hub's configuration names (a deployment target or a degradation
service), never a name taken from an alert: alerts can carry hostnames. Its status is the worst
of what its open incidents' severities and the degradation level that applies to it say.
Incidents appear only through their public notes (``incidents/public_notes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.incidents.public_notes import PublicIncident, PublicStatus
from bounceback.api.schema import Severity


class ComponentStatus(StrEnum):
    """Statuspage's component statuses, least to most severe."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


RANK = {status: rank for rank, status in enumerate(ComponentStatus)}
LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED: "Degraded",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
}
BY_SEVERITY = {
    Severity.CRITICAL: ComponentStatus.MAJOR_OUTAGE,
    Severity.HIGH: ComponentStatus.PARTIAL_OUTAGE,
    Severity.MEDIUM: ComponentStatus.DEGRADED,
    Severity.LOW: ComponentStatus.OPERATIONAL,
    Severity.INFO: ComponentStatus.OPERATIONAL,
}
BY_LEVEL = {
    DegradationLevel.NORMAL: ComponentStatus.OPERATIONAL,
    DegradationLevel.MINIMAL: ComponentStatus.DEGRADED,
    DegradationLevel.MODERATE: ComponentStatus.DEGRADED,
    DegradationLevel.SEVERE: ComponentStatus.PARTIAL_OUTAGE,
    DegradationLevel.EMERGENCY: ComponentStatus.MAJOR_OUTAGE,
}
# The page's overall indicator, as Statuspage words it.
INDICATOR = {
    ComponentStatus.OPERATIONAL: ("none", "All Systems Operational"),
    ComponentStatus.DEGRADED: ("minor", "Minor Service Outage"),
    ComponentStatus.PARTIAL_OUTAGE: ("major", "Partial System Outage"),
    ComponentStatus.MAJOR_OUTAGE: ("critical", "Major Service Outage"),
}
IMPACT = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "major",
    Severity.MEDIUM: "minor",
    Severity.LOW: "none",
    Severity.INFO: "none",
}


@dataclass(frozen=True)
class ActiveRule:
    service: str | None  # None: the whole fleet
    level: DegradationLevel


@dataclass(frozen=True)
class Component:
    name: str
    status: ComponentStatus

    @property
    def label(self) -> str:
        return LABELS[self.status]


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=RANK.__getitem__, default=ComponentStatus.OPERATIONAL)


def component_health(
    components: Sequence[str],
    open_incidents: Iterable[tuple[str | None, Severity]],
    active_rules: Iterable[ActiveRule],
) -> list[Component]:
    """Each component's status: the worst of its open incidents' severities (by service) and
    of the degradation rules for it or for the whole fleet."""
    found: dict[str, list[ComponentStatus]] = {name: [] for name in components}
    for service, severity in open_incidents:
        if service in found:
            found[service].append(BY_SEVERITY[severity])
    for rule in active_rules:
        for name, statuses in found.items():
            if rule.service in (None, name):
                statuses.append(BY_LEVEL[rule.level])
    return [Component(name, worst(found[name])) for name in components]


def overall(components: Sequence[Component], fleet_level: DegradationLevel) -> ComponentStatus:
    """The page's status: the worst component's, or the fleet's degradation with none listed."""
    return worst([*(c.status for c in components), BY_LEVEL[fleet_level]])


@dataclass(frozen=True)
class ShownIncident:
    """An incident as the public sees it: a name, a status and the public notes."""

    id: int
    name: str
    status: str
    impact: str
    started_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    components: tuple[str, ...]
    updates: tuple[dict[str, Any], ...]  # newest first


def shown(incident: PublicIncident, components: Sequence[str]) -> ShownIncident:
    affected = (incident.service,) if incident.service in components else ()
    titles = [note.title for note in incident.notes if note.title]
    default = f"Service disruption: {affected[0]}" if affected else "Service disruption"
    latest = incident.notes[-1]
    monitoring = [n.at for n in incident.notes if n.status is PublicStatus.MONITORING]
    return ShownIncident(
        id=incident.id,
        name=titles[-1] if titles else default,
        status=latest.status.value,
        impact=IMPACT[incident.severity],
        started_at=incident.created_at,
        updated_at=latest.at,
        monitoring_at=monitoring[0] if latest.status is PublicStatus.MONITORING else None,
        components=tuple(str(name) for name in affected),
        updates=tuple(
            {"id": str(note.id), "status": note.status.value, "body": note.message, "at": note.at}
            for note in reversed(incident.notes)
        ),
    )


def summary(
    *,
    url: str,
    now: datetime,
    components: Sequence[Component],
    status: ComponentStatus,
    incidents: Sequence[ShownIncident],
) -> dict[str, Any]:
    """The document Atlassian Statuspage serves as ``/api/v2/summary.json``, with the fields
    aggregators read (page, status, components, incidents, scheduled_maintenances)."""
    indicator, description = INDICATOR[status]
    by_name: Mapping[str, Component] = {c.name: c for c in components}
    stamp = now.isoformat()
    return {
        "page": {
            "id": "bounceback",
            "name": "Status",
            "url": url,
            "time_zone": "Etc/UTC",
            "updated_at": stamp,
        },
        "status": {"indicator": indicator, "description": description},
        "components": [
            {
                "id": c.name,
                "name": c.name,
                "status": c.status.value,
                "position": position,
                "description": None,
                "group": False,
                "group_id": None,
                "only_show_if_degraded": False,
                "updated_at": stamp,
            }
            for position, c in enumerate(components, start=1)
        ],
        "incidents": [
            {
                "id": str(i.id),
                "name": i.name,
                "status": i.status,
                "impact": i.impact,
                "shortlink": url,
                "created_at": i.started_at.isoformat(),
                "started_at": i.started_at.isoformat(),
                "updated_at": i.updated_at.isoformat(),
                "monitoring_at": i.monitoring_at.isoformat() if i.monitoring_at else None,
                "resolved_at": None,
                "components": [
                    {"id": name, "name": name, "status": by_name[name].status.value}
                    for name in i.components
                ],
                "incident_updates": [
                    {
                        "id": update["id"],
                        "incident_id": str(i.id),
                        "status": update["status"],
                        "body": update["body"],
                        "created_at": update["at"].isoformat(),
                        "updated_at": update["at"].isoformat(),
                        "display_at": update["at"].isoformat(),
                    }
                    for update in i.updates
                ],
            }
            for i in incidents
        ],
        "scheduled_maintenances": [],
    }
