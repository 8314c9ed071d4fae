"""What Starlette's routes do not say about themselves: each operation's summary, request and
response models and its particular errors. Who may call it is read from the endpoint's guard
(``auth/guard.py``), so it cannot drift from what the route enforces. A test fails on any route
missing here."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from bounceback.api.agent_wire import AgentReport
from bounceback.api.deployment_wire import (
    DeployedRequest,
    DeploymentDetail,
    FinishRequest,
    FreezeOverrideRequest,
    GateRequest,
    RollbackRequest,
    TrackRequest,
)
from bounceback.api.escalation.models import Policy
from bounceback.api.intake.alertmanager import AlertmanagerWebhook
from bounceback.api.intake.pagerduty import PagerDutyEvent
from bounceback.api.oncall.models import Person, Schedule, Team
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.routes import circuits, degradation, escalation, incidents, recovery
from bounceback.api.routes import self_healing as healing
from bounceback.api.schema import GenericAlert, IntakeResult


@dataclass(frozen=True)
class Op:
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None: a JSON object described in the docs
    errors: tuple[int, ...] = ()  # beyond those every operation of its kind can answer
    form: bool = False  # a provider's form-encoded webhook
    text: bool = False  # a text/plain (or HTML) answer
    status: int = 200  # the success status


AR = "/api/auto-recovery"
DEP = f"{AR}/deployment"
DEG = f"{AR}/degradation"
ESC = f"{AR}/escalation"
CB = f"{AR}/circuit-breaker"
SH = f"{AR}/self-healing"


def _objects(
    base: str, noun: str, model: type[BaseModel], key: str = "oid"
) -> dict[tuple[str, str], Op]:
    return {
        ("GET", base): Op(f"List {noun}s"),
        ("POST", base): Op(f"Create a {noun}", model, model, (409,), status=201),
        ("GET", f"{base}/{{{key}}}"): Op(f"One {noun}", response=model),
        ("PUT", f"{base}/{{{key}}}"): Op(f"Replace a {noun}", model, model),
        ("DELETE", f"{base}/{{{key}}}"): Op(f"Delete a {noun}", errors=(409,), status=204),
    }


OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op("The process answers"),
    ("GET", "/openapi.json"): Op("This document (OpenAPI 3.1)"),
    ("GET", "/docs"): Op("The operations as an HTML page", text=True),
    ("GET", "/readyz"): Op("Store reachable and loops alive", errors=(503,)),
    ("GET", "/metrics"): Op("Prometheus metrics (docs/metrics.md)", text=True),
    ("GET", f"{AR}/overview"): Op("Every subsystem's status and counts"),
    ("GET", f"{AR}/status"): Op("Recovery engine status"),
    ("GET", f"{AR}/stats"): Op("Recovery success rate and MTTR over a window"),
    ("GET", f"{AR}/active"): Op("Recovery attempts in progress"),
    ("GET", f"{AR}/history"): Op("Finished recovery attempts"),
    ("POST", f"{AR}/enable"): Op("Switch automatic recovery on"),
    ("POST", f"{AR}/disable"): Op("Switch automatic recovery off"),
    ("POST", f"{AR}/test/{{action_id}}"): Op("Dry-run or run a recovery action", recovery.TestBody),
    **_objects(f"{AR}/actions", "recovery action", RecoveryAction, "action_id"),
    ("POST", "/api/alerts"): Op(
        "Send an alert (Bounceback's format)", GenericAlert, IntakeResult, status=202
    ),
    ("POST", "/api/integrations/alertmanager"): Op(
        "Alertmanager webhook", AlertmanagerWebhook, IntakeResult, status=202
    ),
    ("POST", "/api/integrations/pagerduty/v2/enqueue"): Op(
        "PagerDuty Events v2", PagerDutyEvent, status=202
    ),
    ("GET", "/api/incidents"): Op("List incidents (filtered, paginated)"),
    ("GET", "/api/incidents/{id}"): Op("An incident and its timeline"),
    ("POST", "/api/incidents/{id}/acknowledge"): Op("Acknowledge an incident", errors=(409,)),
    ("POST", "/api/incidents/{id}/resolve"): Op(
        "Resolve an incident", incidents.ResolveBody, errors=(409,)
    ),
    ("POST", "/api/incidents/{id}/silence"): Op(
        "Silence an incident's notifications", incidents.SilenceBody, errors=(409,)
    ),
    ("GET", f"{AR}/audit"): Op("The audit log"),
    ("GET", "/api/agents"): Op("Agents and their health"),
    ("GET", "/api/agents/{agent_id}"): Op("One agent"),
    ("POST", "/api/agents/{agent_id}/reports"): Op("An agent's report", AgentReport),
    ("GET", "/api/agents/{agent_id}/commands"): Op("An agent's pending commands (long poll)"),
    ("GET", f"{SH}/status"): Op("Self-healing status"),
    ("GET", f"{SH}/health"): Op("Hosts' health"),
    ("GET", f"{SH}/history"): Op("Self-healing attempts"),
    ("GET", f"{SH}/active"): Op("Self-healing attempts in progress"),
    ("POST", f"{SH}/enable"): Op("Switch self-healing on", healing.SwitchBody),
    ("POST", f"{SH}/disable"): Op("Switch self-healing off", healing.SwitchBody),
    ("POST", f"{SH}/force"): Op("Run a self-healing action now", healing.ForceBody, status=202),
    ("GET", f"{CB}/status"): Op("Circuit breakers' summary"),
    ("GET", f"{CB}/circuits"): Op("Every breaker"),
    ("POST", f"{CB}/circuits/reset-all"): Op("Reset breakers", circuits.ResetAllBody, status=202),
    ("GET", f"{CB}/circuits/{{id}}"): Op("One breaker"),
    ("POST", f"{CB}/circuits/{{id}}/reset"): Op("Reset a breaker", circuits.ReasonBody, status=202),
    ("POST", f"{CB}/circuits/{{id}}/force-open"): Op(
        "Open a breaker", circuits.ReasonBody, status=202
    ),
    ("GET", f"{DEP}/status"): Op("Deployment monitoring status"),
    ("GET", f"{DEP}/active"): Op("Deployments being watched"),
    ("GET", f"{DEP}/history"): Op("Finished deployments"),
    ("POST", f"{DEP}/track"): Op("Track a deployment", TrackRequest, DeploymentDetail, (409,)),
    ("POST", f"{DEP}/gate"): Op("Ask whether a deployment may proceed", GateRequest),
    ("POST", f"{DEP}/freeze/override"): Op("Override a freeze window", FreezeOverrideRequest),
    ("POST", f"{DEP}/auto-rollback/enable"): Op("Switch automatic rollback on"),
    ("POST", f"{DEP}/auto-rollback/disable"): Op("Switch automatic rollback off"),
    ("GET", f"{DEP}/{{id}}"): Op("One deployment", response=DeploymentDetail),
    ("POST", f"{DEP}/{{id}}/deployed"): Op(
        "The deployment is live", DeployedRequest, DeploymentDetail, (409,)
    ),
    ("POST", f"{DEP}/{{id}}/finish"): Op(
        "The deployment finished", FinishRequest, DeploymentDetail, (409,)
    ),
    ("POST", f"{DEP}/{{target}}/rollback"): Op("Roll a target back", RollbackRequest),
    ("GET", f"{DEG}/status"): Op("Degradation status and level"),
    ("GET", f"{DEG}/active"): Op("Active degradation rules"),
    ("GET", f"{DEG}/features"): Op("Feature flags under degradation"),
    ("GET", f"{DEG}/rules"): Op("Degradation rules and their state"),
    ("POST", f"{DEG}/rules/{{id}}/activate"): Op("Activate a rule", degradation.ReasonBody),
    ("POST", f"{DEG}/rules/{{id}}/revert"): Op("Revert a rule", degradation.ReasonBody),
    ("POST", f"{DEG}/enable"): Op("Switch degradation on"),
    ("POST", f"{DEG}/disable"): Op("Switch degradation off"),
    ("POST", "/ofrep/v1/evaluate/flags"): Op("OpenFeature (OFREP): evaluate every flag"),
    ("POST", "/ofrep/v1/evaluate/flags/{key}"): Op("OpenFeature (OFREP): evaluate one flag"),
    ("GET", f"{ESC}/status"): Op("Escalation status"),
    ("GET", f"{ESC}/active"): Op("Escalations in progress"),
    **_objects(f"{ESC}/policies", "escalation policy", Policy),
    ("POST", f"{ESC}/channels/{{channel}}/test"): Op(
        "Send a test notification", escalation.TestBody
    ),
    ("POST", f"{ESC}/{{id}}/acknowledge"): Op("Acknowledge an escalation", errors=(409,)),
    ("POST", f"{ESC}/{{id}}/resolve"): Op(
        "Resolve an escalated incident", escalation.ResolveBody, errors=(409,)
    ),
    ("GET", "/api/escalation/links/{token}"): Op("A signed email link's page", text=True),
    ("POST", "/api/escalation/links/{token}"): Op("Act on a signed email link", text=True),
    ("GET", "/api/oncall/now"): Op("Who is on call now"),
    ("GET", "/api/oncall/schedules/{sid}/shifts"): Op("A schedule's shifts over a window"),
    **_objects("/api/oncall/people", "person", Person),
    **_objects("/api/oncall/teams", "team", Team),
    **_objects("/api/oncall/schedules", "schedule", Schedule),
    ("POST", "/api/integrations/slack/interactions"): Op("Slack interactivity", form=True),
    ("POST", "/api/integrations/slack/commands"): Op("Slack slash commands", form=True),
    ("POST", "/api/integrations/twilio/sms"): Op("Twilio inbound SMS", form=True, text=True),
    ("POST", "/api/integrations/twilio/voice/gather"): Op(
        "Twilio voice keypad answer", form=True, text=True
    ),
}
