"""The query strings each operation takes: their schemas (the OpenAPI document shows these) and
the check every route that takes one makes first: an unknown parameter is a 422 naming it, so
that a misspelt filter never answers with everything unfiltered."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from starlette.requests import Request

from bounceback.api.agent_wire import AGENT_ID_PATTERN, BreakerState, HealingOutcome
from bounceback.api.agents.delivery import MAX_WAIT_SECONDS
from bounceback.api.deployment_wire import DeploymentState
from bounceback.api.errors import Invalid
from bounceback.api.pagination import MAX_LIMIT
from bounceback.api.routes.params import MAX_TEXT
from bounceback.api.schema import IncidentState, Severity

Schema = dict[str, Any]
Query = Mapping[str, Schema]

# As strict as the parsers that read them (routes/params.py, pagination.py): an empty value
# means "no filter" where the route reads it so.
TEXT: Schema = {"type": "string", "maxLength": MAX_TEXT}
TIME: Schema = {"type": "string", "description": "ISO 8601 time; UTC when it has no offset"}


def choice(values: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": ["", *(v.value for v in values)]}


PAGE: Query = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "cursor": {"type": "string", "description": "next_cursor of the previous page"},
}
HOST: Query = {"host": {"type": "string", "pattern": f"^$|{AGENT_ID_PATTERN}"}}
INCIDENTS: Query = {
    "state": choice(IncidentState),
    "severity": choice(Severity),
    "service": TEXT,
    "source": TEXT,
    "integration": TEXT,
    **PAGE,
}
AUDIT: Query = {
    "actor": TEXT,
    "action": TEXT,
    "target": TEXT,
    "outcome": TEXT,
    "since": TIME,
    "until": TIME,
    **PAGE,
}
RECOVERY: Query = {
    "action": TEXT,
    "target": TEXT,
    "state": TEXT,
    "trigger": TEXT,
    **PAGE,
}
HEALING: Query = {
    **HOST,
    "action": TEXT,
    "outcome": choice(HealingOutcome),
    "since": TIME,
    "until": TIME,
    **PAGE,
}
DEPLOYMENTS: Query = {
    "target": TEXT,
    "environment": TEXT,
    "state": choice(DeploymentState),
    **PAGE,
}
CIRCUITS: Query = {"state": choice(BreakerState), **HOST, "kind": TEXT}
STATS: Query = {"window": {"type": "string", "pattern": r"^\d{1,5}[mhd]$"}}
TEST: Query = {"execute": {"type": "string", "description": "1, true or yes: run it for real"}}
COMMANDS: Query = {"wait": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS}}
SHIFTS: Query = {"from": TIME, "to": TIME}


def only(request: Request, declared: Query) -> None:
    """Refuse a query parameter the operation does not take."""
    unknown = sorted(name for name in request.query_params if name not in declared)
    if unknown:
        takes = ", ".join(declared) or "none"
        raise Invalid(
            f"unknown query parameter {unknown[0]!r} (this operation takes: {takes})",
            [{"field": name, "message": "unknown query parameter"} for name in unknown],
        )
