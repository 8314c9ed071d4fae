"""What Starlette's routes do not say about themselves: each operation's summary, request and
response models and its particular errors. Who may call it is read from the endpoint's guard
(``auth/guard.py``), so it cannot drift from what the route enforces. A test fails on any route
missing here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, create_model

from bounceback.api.agent_wire import (
    AGENT_ID_PATTERN,
    AgentReport,
)
from bounceback.api.deployment_wire import (
    DeployedRequest,
    Deployment,
    DeploymentDetail,
    FinishRequest,
    FreezeOverrideRequest,
    GateRequest,
    RollbackRequest,
    TrackRequest,
)
from bounceback.api.escalation.models import Policy
from bounceback.api.incidents.public_notes import PublicNoteBody
from bounceback.api.intake.alertmanager import AlertmanagerWebhook
from bounceback.api.intake.pagerduty import PagerDutyEvent
from bounceback.api.oncall.models import Person, Schedule, Team
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.routes import circuits, degradation, escalation, incidents, query, recovery
from bounceback.api.routes import self_healing as healing
from bounceback.api.schema import (
    MAX_ID,
    GenericAlert,
    IntakeResult,
)


@dataclass(frozen=True)
class Op:
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None: a JSON object described in the docs
    errors: tuple[int, ...] = ()  # beyond those every operation of its kind can answer
    form: bool = False  # a provider's form-encoded webhook
    text: str | None = None  # the media type of an answer that is not JSON
    status: int = 200  # the success status
    # Path parameters the route checks itself (a malformed one is a 422), with their schema.
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The content of this operation's own errors when they are not the hub's JSON Error.
    error_content: Mapping[str, Any] | None = None
    # Optional query-string parameters and their schema (a bad one is a 422 naming it).
    query: query.Query = field(default_factory=dict)


def _shown(model: type[BaseModel]) -> type[BaseModel]:
    """A directory object as the API shows it: with whether hub.toml provisioned it."""
    shown: type[BaseModel] = create_model(
        f"{model.__name__}Shown",
        __base__=model,
        __doc__=model.__doc__,
        provisioned=(bool, ...),
    )
    return shown


AR = "/api/auto-recovery"
DEP = f"{AR}/deployment"
DEG = f"{AR}/degradation"
ESC = f"{AR}/escalation"
CB = f"{AR}/circuit-breaker"
SH = f"{AR}/self-healing"
# id_param (routes/params.py): up to 18 digits
# id_param (routes/params.py) and the deployment routes: the store's INTEGER ids
INCIDENT_ID = {"id": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}
DEPLOYMENT_ID = INCIDENT_ID
AGENT_ID = {"agent_id": {"type": "string", "pattern": AGENT_ID_PATTERN}}
CIRCUIT_ID = {"id": {"type": "string", "pattern": AGENT_ID_PATTERN[:-1] + ":[^/]{1,200}$"}}
HTML = "text/html"
TWIML = "application/xml"
PAGE = {HTML: {"schema": {"type": "string"}}}
OFREP_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["errorCode"],
            "properties": {
                "key": {"type": "string"},
                "errorCode": {"type": "string"},
                "errorDetails": {"type": "string"},
            },
        }
    }
}


def _objects(
    base: str,
    noun: str,
    model: type[BaseModel],
    key: str = "oid",
    shown: type[BaseModel] | None = None,
) -> dict[tuple[str, str], Op]:
    shown = shown or model
    return {
        ("GET", base): Op(f"List {noun}s"),
        ("POST", base): Op(f"Create a {noun}", model, shown, (409,), status=201),
        ("GET", f"{base}/{{{key}}}"): Op(f"One {noun}", response=shown),
        ("PUT", f"{base}/{{{key}}}"): Op(f"Replace a {noun}", model, shown),
        ("DELETE", f"{base}/{{{key}}}"): Op(f"Delete a {noun}", errors=(409,), status=204),
    }


OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("The process answers"),
    ("GET", "/openapi.json"): Op("This document (OpenAPI 3.1)"),
    ("GET", "/docs"): Op("The operations as an HTML page", text=HTML),
    ("GET", "/readyz"): Op("Store reachable and loops alive", errors=(503,)),
    ("GET", "/metrics"): Op("Prometheus metrics (docs/metrics.md)", text="text/plain"),
    ("GET", f"{AR}/overview"): Op("Every subsystem's status and counts"),
    ("GET", f"{AR}/status"): Op("Recovery engine status"),
    ("GET", f"{AR}/stats"): Op(
        "Recovery success rate and MTTR over a window",
        query=query.STATS,
    ),
    ("GET", f"{AR}/active"): Op("Recovery attempts in progress", query=query.RECOVERY),
    ("GET", f"{AR}/history"): Op("Finished recovery attempts", query=query.RECOVERY),
    ("POST", f"{AR}/enable"): Op("Switch automatic recovery on"),
    ("POST", f"{AR}/disable"): Op("Switch automatic recovery off"),
    ("POST", f"{AR}/test/{{action_id}}"): Op(
        "Dry-run or run a recovery action",
        recovery.TestBody,
        query=query.TEST,
    ),
    **_objects(
        f"{AR}/actions", "recovery action", RecoveryAction, "action_id", _shown(RecoveryAction)
    ),
    ("POST", "/api/alerts"): Op(
        "Send an alert (Bounceback's format)", GenericAlert, IntakeResult, status=202
    ),
    ("POST", "/api/integrations/alertmanager"): Op(
        "Alertmanager webhook", AlertmanagerWebhook, IntakeResult, status=202
    ),
    ("POST", "/api/integrations/pagerduty/v2/enqueue"): Op(
        "PagerDuty Events v2", PagerDutyEvent, status=202
    ),
    ("GET", "/api/incidents"): Op("List incidents (filtered, paginated)", query=query.INCIDENTS),
    ("GET", "/api/incidents/{id}"): Op("An incident and its timeline", params=INCIDENT_ID),
    ("POST", "/api/incidents/{id}/acknowledge"): Op(
        "Acknowledge an incident", errors=(409,), params=INCIDENT_ID
    ),
    ("POST", "/api/incidents/{id}/resolve"): Op(
        "Resolve an incident", incidents.ResolveBody, errors=(409,), params=INCIDENT_ID
    ),
    ("POST", "/api/incidents/{id}/silence"): Op(
        "Silence an incident's notifications",
        incidents.SilenceBody,
        errors=(409,),
        params=INCIDENT_ID,
    ),
    ("POST", "/api/incidents/{id}/public-note"): Op(
        "Publish a note on the public status page", PublicNoteBody, params=INCIDENT_ID
    ),
    ("POST", "/api/incidents/{id}/escalate"): Op(
        "Page the next escalation level now", errors=(409,), status=202, params=INCIDENT_ID
    ),
    ("GET", f"{AR}/audit"): Op("The audit log", query=query.AUDIT),
    ("GET", "/api/agents"): Op("Agents and their health"),
    ("GET", "/api/agents/{agent_id}"): Op("One agent", params=AGENT_ID),
    ("POST", "/api/agents/{agent_id}/reports"): Op(
        "An agent's report", AgentReport, params=AGENT_ID
    ),
    ("GET", "/api/agents/{agent_id}/commands"): Op(
        "An agent's pending commands (long poll)",
        params=AGENT_ID,
        query=query.COMMANDS,
    ),
    ("GET", f"{SH}/status"): Op("Self-healing status"),
    ("GET", f"{SH}/health"): Op("Hosts' health", errors=(404,), query=query.HOST),
    ("GET", f"{SH}/history"): Op("Self-healing attempts", query=query.HEALING),
    ("GET", f"{SH}/active"): Op("Self-healing attempts in progress", query=query.HOST),
    ("POST", f"{SH}/enable"): Op("Switch self-healing on", healing.SwitchBody, errors=(404,)),
    ("POST", f"{SH}/disable"): Op("Switch self-healing off", healing.SwitchBody, errors=(404,)),
    ("POST", f"{SH}/force"): Op(
        "Run a self-healing action now", healing.ForceBody, errors=(404,), status=202
    ),
    ("GET", f"{CB}/status"): Op("Circuit breakers' summary"),
    ("GET", f"{CB}/circuits"): Op(
        "Every breaker",
        query=query.CIRCUITS,
    ),
    ("POST", f"{CB}/circuits/reset-all"): Op("Reset breakers", circuits.ResetAllBody, status=202),
    ("GET", f"{CB}/circuits/{{id}}"): Op("One breaker", params=CIRCUIT_ID),
    ("POST", f"{CB}/circuits/{{id}}/reset"): Op(
        "Reset a breaker", circuits.ReasonBody, status=202, params=CIRCUIT_ID
    ),
    ("POST", f"{CB}/circuits/{{id}}/force-open"): Op(
        "Open a breaker", circuits.ReasonBody, status=202, params=CIRCUIT_ID
    ),
    ("GET", f"{DEP}/status"): Op("Deployment monitoring status"),
    ("GET", f"{DEP}/active"): Op("Deployments being watched", query=query.PAGE),
    ("GET", f"{DEP}/history"): Op("Finished deployments", query=query.DEPLOYMENTS),
    ("POST", f"{DEP}/track"): Op(
        "Track a deployment", TrackRequest, Deployment, (409,), status=201
    ),
    ("POST", f"{DEP}/gate"): Op("Ask whether a deployment may proceed", GateRequest),
    ("POST", f"{DEP}/freeze/override"): Op(
        "Override a freeze window", FreezeOverrideRequest, status=201
    ),
    ("POST", f"{DEP}/auto-rollback/enable"): Op("Switch automatic rollback on"),
    ("POST", f"{DEP}/auto-rollback/disable"): Op("Switch automatic rollback off"),
    ("GET", f"{DEP}/{{id}}"): Op("One deployment", response=DeploymentDetail, params=DEPLOYMENT_ID),
    ("POST", f"{DEP}/{{id}}/deployed"): Op(
        "The deployment is live", DeployedRequest, Deployment, (409,), params=DEPLOYMENT_ID
    ),
    ("POST", f"{DEP}/{{id}}/finish"): Op(
        "The deployment finished", FinishRequest, Deployment, (409,), params=DEPLOYMENT_ID
    ),
    ("POST", f"{DEP}/{{target}}/rollback"): Op(
        "Roll a target back", RollbackRequest, errors=(409,)
    ),
    ("GET", f"{DEG}/status"): Op("Degradation status and level"),
    ("GET", f"{DEG}/active"): Op("Active degradation rules"),
    ("GET", f"{DEG}/features"): Op("Feature flags under degradation"),
    ("GET", f"{DEG}/rules"): Op("Degradation rules and their state"),
    ("POST", f"{DEG}/rules/{{id}}/activate"): Op("Activate a rule", degradation.ReasonBody),
    ("POST", f"{DEG}/rules/{{id}}/revert"): Op("Revert a rule", degradation.ReasonBody),
    ("POST", f"{DEG}/enable"): Op("Switch degradation on"),
    ("POST", f"{DEG}/disable"): Op("Switch degradation off"),
    ("POST", "/ofrep/v1/evaluate/flags"): Op(
        "OpenFeature (OFREP): evaluate every flag", errors=(400,), error_content=OFREP_ERROR
    ),
    ("POST", "/ofrep/v1/evaluate/flags/{key}"): Op(
        "OpenFeature (OFREP): evaluate one flag", errors=(400,), error_content=OFREP_ERROR
    ),
    ("GET", f"{ESC}/status"): Op("Escalation status"),
    ("GET", f"{ESC}/active"): Op("Escalations in progress"),
    **_objects(f"{ESC}/policies", "escalation policy", Policy, shown=_shown(Policy)),
    ("POST", f"{ESC}/channels/{{channel}}/test"): Op(
        "Send a test notification", escalation.TestBody
    ),
    ("POST", f"{ESC}/{{id}}/acknowledge"): Op(
        "Acknowledge an escalation", errors=(409,), params=INCIDENT_ID
    ),
    ("POST", f"{ESC}/{{id}}/resolve"): Op(
        "Resolve an escalated incident", escalation.ResolveBody, errors=(409,), params=INCIDENT_ID
    ),
    ("GET", "/api/escalation/links/{token}"): Op(
        "A signed email link's page", errors=(403,), text=HTML, error_content=PAGE
    ),
    ("POST", "/api/escalation/links/{token}"): Op(
        "Act on a signed email link", errors=(403, 409), text=HTML, error_content=PAGE
    ),
    ("GET", "/api/oncall/now"): Op("Who is on call now"),
    ("GET", "/api/oncall/schedules/{sid}/shifts"): Op(
        "A schedule's shifts over a window", query=query.SHIFTS
    ),
    **_objects("/api/oncall/people", "person", Person, shown=_shown(Person)),
    **_objects("/api/oncall/teams", "team", Team, shown=_shown(Team)),
    **_objects("/api/oncall/schedules", "schedule", Schedule, shown=_shown(Schedule)),
    # Signed by the provider: a missing or bad signature (or no secret set) is refused.
    ("POST", "/api/integrations/slack/interactions"): Op(
        "Slack interactivity", errors=(401,), form=True
    ),
    ("POST", "/api/integrations/slack/commands"): Op(
        "Slack slash commands", errors=(401,), form=True
    ),
    ("POST", "/api/integrations/twilio/sms"): Op(
        "Twilio inbound SMS", errors=(403,), form=True, text=TWIML
    ),
    ("POST", "/api/integrations/twilio/voice/gather"): Op(
        "Twilio voice keypad answer", errors=(403,), form=True, text=TWIML
    ),
}
