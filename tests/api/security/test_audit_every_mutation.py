"""Every mutating call of the API leaves an audit record: its actor, action, target, outcome and
the request's id, for a call that succeeds and for one the design refuses.

The mutating routes (POST, PUT, PATCH, DELETE in ``bounceback.api.app.ROUTES``) are read from
the route table, so a new one fails ``test_every_mutating_route_has_a_call_here`` until it gets
a call in CALLS (or a reason in NOT_MUTATING). One hub is set up once with what the calls act on
(incidents under escalation, an agent with an action and a breaker, a degradation rule, a
tracked deployment, a signed link) and the calls run in the table's order. The dashboard's
form routes (api/dashboard) are not in ``ROUTES`` and not in this table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route

from bounceback.api.app import ROUTES
from bounceback.api.settings import HubSettings
from tests.api.security.audit_world import (
    AGENT,
    ANN_PHONE,
    REPORT,
    Call,
    World,
    audited,
    build_world,
)

pytestmark = pytest.mark.anyio

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POSTs that change nothing: they only answer a question.
NOT_MUTATING = {
    "POST /ofrep/v1/evaluate/flags": "evaluates flags (OFREP uses POST for the context)",
    "POST /ofrep/v1/evaluate/flags/{key}": "evaluates one flag",
}
ACTION = "custom-cleanup"
A = "/api/auto-recovery"


def recovery_action(name: str = "Custom cleanup") -> dict[str, Any]:
    return {
        "id": ACTION,
        "name": name,
        "conditions": {"metricThresholds": {"memory_percent": 90}, "duration": 5},
        "actions": {"immediate": [{"type": "agent_action", "target": "cleanup"}]},
    }


PERSON = {"id": "zoe", "name": "Zoe", "email": "zoe@example.com", "channels": ["email"]}
TEAM = {"id": "web-team", "name": "Web", "members": ["ann"]}
SCHEDULE = {
    "id": "primary",
    "name": "Primary",
    "layers": [{"start": "2025-01-06T09:00:00", "handoff": "weekly", "people": ["ann"]}],
}
POLICY = {
    "id": "web",
    "name": "Web",
    "levels": [{"name": "L1", "timeout_minutes": 5, "targets": ["person:ann"]}],
}
ALERTMANAGER = {
    "version": "4",
    "groupKey": "{}:{alertname='DiskFull'}",
    "status": "firing",
    "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1"}}],
}
PAGERDUTY = {
    "event_action": "trigger",
    "payload": {"summary": "queue backlog", "source": "mq-1", "severity": "warning"},
}


def slack_command(text: str) -> dict[str, str]:
    return {"command": "/bounceback", "text": text, "user_id": "U0ANN"}


def slack_press(action_id: str, incident: str) -> dict[str, str]:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ANN"},
        "actions": [{"action_id": action_id, "value": incident}],
    }
    return {"payload": json.dumps(payload)}


GATHER = "/api/integrations/twilio/voice/gather?incident={incident.phone}&notification=1&person=ann"

# In order: what a call needs exists by then (an action is created before it is updated).
CALLS: dict[str, Call] = {
    "POST /api/alerts": Call(
        "/api/alerts",
        "alert.generic",
        {"source": "t", "summary": "generic alert", "fingerprint": "g1"},
        auth="key:generic",
        outcome="created",
    ),
    "POST /api/integrations/alertmanager": Call(
        "/api/integrations/alertmanager",
        "alert.alertmanager",
        ALERTMANAGER,
        auth="key:alertmanager",
        outcome="created",
    ),
    "POST /api/integrations/pagerduty/v2/enqueue": Call(
        "/api/integrations/pagerduty/v2/enqueue",
        "alert.pagerduty",
        {**PAGERDUTY, "routing_key": "{key.pagerduty}"},
        auth="none",
        outcome="created",
        actor="integration:test-pagerduty",
    ),
    "POST /api/auto-recovery/disable": Call(f"{A}/disable", "recovery.disable"),
    "POST /api/auto-recovery/enable": Call(f"{A}/enable", "recovery.enable"),
    "POST /api/auto-recovery/actions": Call(
        f"{A}/actions", "recovery.action.create", recovery_action()
    ),
    "PUT /api/auto-recovery/actions/{action_id}": Call(
        f"{A}/actions/{ACTION}", "recovery.action.update", recovery_action("Renamed")
    ),
    "POST /api/auto-recovery/test/{action_id}": Call(
        f"{A}/test/{ACTION}?execute=true",
        "recovery.test.execute",
        {"host": AGENT},
        auth="operator",
    ),
    "DELETE /api/auto-recovery/actions/{action_id}": Call(
        f"{A}/actions/{ACTION}", "recovery.action.delete"
    ),
    "POST /api/incidents/{id}/acknowledge": Call(
        "/api/incidents/{incident.api}/acknowledge", "incident.acknowledge", auth="operator"
    ),
    "POST /api/incidents/{id}/silence": Call(
        "/api/incidents/{incident.api}/silence",
        "incident.silence",
        {"duration": 600},
        auth="operator",
    ),
    "POST /api/incidents/{id}/public-note": Call(
        "/api/incidents/{incident.api}/public-note",
        "incident.public_note",
        {"message": "We are looking into slow checkouts."},
        auth="operator",
    ),
    "POST /api/incidents/{id}/escalate": Call(
        "/api/incidents/{incident.escalate}/escalate", "escalation.escalate_now", auth="operator"
    ),
    "POST /api/incidents/{id}/resolve": Call(
        "/api/incidents/{incident.api}/resolve", "incident.resolve", auth="operator"
    ),
    "POST /api/agents/{agent_id}/reports": Call(
        f"/api/agents/{AGENT}/reports",
        "agent.report",
        REPORT,
        auth="agent",
    ),
    "POST /api/auto-recovery/self-healing/disable": Call(
        f"{A}/self-healing/disable", "self_healing.disable", {"host": AGENT}
    ),
    "POST /api/auto-recovery/self-healing/enable": Call(
        f"{A}/self-healing/enable", "self_healing.enable", {"host": AGENT}
    ),
    "POST /api/auto-recovery/self-healing/force": Call(
        f"{A}/self-healing/force",
        "self_healing.force",
        {"host": AGENT, "action": "restart-nginx", "dry_run": True},
        auth="operator",
    ),
    "POST /api/auto-recovery/circuit-breaker/circuits/{id}/force-open": Call(
        f"{A}/circuit-breaker/circuits/{AGENT}:postgres/force-open",
        "circuit.force_open",
        auth="operator",
    ),
    "POST /api/auto-recovery/circuit-breaker/circuits/{id}/reset": Call(
        f"{A}/circuit-breaker/circuits/{AGENT}:postgres/reset", "circuit.reset", auth="operator"
    ),
    "POST /api/auto-recovery/circuit-breaker/circuits/reset-all": Call(
        f"{A}/circuit-breaker/circuits/reset-all", "circuit.reset_all", {}, auth="operator"
    ),
    "POST /api/auto-recovery/deployment/gate": Call(
        f"{A}/deployment/gate",
        "deployment.gate",
        {"target": "shop"},
        auth="operator",
        outcome="allowed",
    ),
    "POST /api/auto-recovery/deployment/track": Call(
        f"{A}/deployment/track",
        "deployment.track",
        {"target": "web", "version": "v2", "previous_version": "v1"},
        auth="operator",
    ),
    "POST /api/auto-recovery/deployment/{id:int}/deployed": Call(
        f"{A}/deployment/{{deployment}}/deployed", "deployment.deployed", {}, auth="operator"
    ),
    "POST /api/auto-recovery/deployment/{id:int}/finish": Call(
        f"{A}/deployment/{{deployment}}/finish",
        "deployment.finish",
        {"outcome": "succeeded"},
        auth="operator",
    ),
    "POST /api/auto-recovery/deployment/{target:path}/rollback": Call(
        f"{A}/deployment/web/rollback", "deployment.rollback", {"reason": "bad"}, auth="operator"
    ),
    "POST /api/auto-recovery/deployment/freeze/override": Call(
        f"{A}/deployment/freeze/override",
        "deployment.freeze_override",
        {"target": "web", "reason": "hotfix for checkout"},
        auth="operator",
    ),
    "POST /api/auto-recovery/deployment/auto-rollback/disable": Call(
        f"{A}/deployment/auto-rollback/disable", "deployment.auto_rollback.disable"
    ),
    "POST /api/auto-recovery/deployment/auto-rollback/enable": Call(
        f"{A}/deployment/auto-rollback/enable", "deployment.auto_rollback.enable"
    ),
    "POST /api/auto-recovery/degradation/rules/{id}/activate": Call(
        f"{A}/degradation/rules/read-only/activate", "degradation.activated", auth="operator"
    ),
    "POST /api/auto-recovery/degradation/rules/{id}/revert": Call(
        f"{A}/degradation/rules/read-only/revert", "degradation.reverted", auth="operator"
    ),
    "POST /api/auto-recovery/degradation/disable": Call(
        f"{A}/degradation/disable", "degradation.disable"
    ),
    "POST /api/auto-recovery/degradation/enable": Call(
        f"{A}/degradation/enable", "degradation.enable"
    ),
    "POST /api/oncall/people": Call("/api/oncall/people", "oncall.person.create", PERSON),
    "PUT /api/oncall/people/{oid}": Call(
        "/api/oncall/people/zoe", "oncall.person.update", {**PERSON, "name": "Zoe Q"}
    ),
    "POST /api/oncall/teams": Call("/api/oncall/teams", "oncall.team.create", TEAM),
    "PUT /api/oncall/teams/{oid}": Call(
        "/api/oncall/teams/web-team", "oncall.team.update", {**TEAM, "name": "Web!"}
    ),
    "POST /api/oncall/schedules": Call("/api/oncall/schedules", "oncall.schedule.create", SCHEDULE),
    "PUT /api/oncall/schedules/{oid}": Call(
        "/api/oncall/schedules/primary", "oncall.schedule.update", {**SCHEDULE, "name": "P"}
    ),
    "POST /api/auto-recovery/escalation/policies": Call(
        f"{A}/escalation/policies", "oncall.policy.create", POLICY
    ),
    "PUT /api/auto-recovery/escalation/policies/{oid}": Call(
        f"{A}/escalation/policies/web", "oncall.policy.update", {**POLICY, "name": "Web!"}
    ),
    "DELETE /api/auto-recovery/escalation/policies/{oid}": Call(
        f"{A}/escalation/policies/web", "oncall.policy.delete"
    ),
    "DELETE /api/oncall/schedules/{oid}": Call(
        "/api/oncall/schedules/primary", "oncall.schedule.delete"
    ),
    "DELETE /api/oncall/teams/{oid}": Call("/api/oncall/teams/web-team", "oncall.team.delete"),
    "DELETE /api/oncall/people/{oid}": Call("/api/oncall/people/zoe", "oncall.person.delete"),
    "POST /api/auto-recovery/escalation/channels/{channel}/test": Call(
        f"{A}/escalation/channels/slack/test",
        "escalation.channel_test",
        {"person": "ann"},
        auth="operator",
    ),
    "POST /api/auto-recovery/escalation/{id}/acknowledge": Call(
        f"{A}/escalation/{{incident.escalation}}/acknowledge",
        "escalation.acknowledge",
        auth="operator",
    ),
    "POST /api/auto-recovery/escalation/{id}/resolve": Call(
        f"{A}/escalation/{{incident.escalation}}/resolve", "escalation.resolve", auth="operator"
    ),
    "POST /api/escalation/links/{token}": Call(
        "/api/escalation/links/{link}", "escalation.acknowledge", auth="none", actor="person:ann"
    ),
    "POST /api/integrations/slack/interactions": Call(
        "/api/integrations/slack/interactions",
        "escalation.acknowledge",
        slack_press("acknowledge", "{incident.slack}"),
        auth="slack",
    ),
    "POST /api/integrations/slack/commands": Call(
        "/api/integrations/slack/commands",
        "escalation.resolve",
        slack_command("resolve {incident.slack}"),
        auth="slack",
    ),
    "POST /api/integrations/twilio/sms": Call(
        "/api/integrations/twilio/sms",
        "escalation.acknowledge",
        {"From": ANN_PHONE, "To": "+15005550006", "Body": "ACK {incident.phone}"},
        auth="twilio",
    ),
    "POST /api/integrations/twilio/voice/gather": Call(
        GATHER, "escalation.resolve", {"CallSid": "CA" + "2" * 32, "Digits": "2"}, auth="twilio"
    ),
}


def mutating_routes() -> Iterator[str]:
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in sorted((route.methods or set()) & MUTATING):
            yield f"{method} {route.path}"


def test_every_mutating_route_has_a_call_here() -> None:
    routes = set(mutating_routes())
    missing = sorted(routes - CALLS.keys() - NOT_MUTATING.keys())
    assert not missing, (
        "mutating routes without an audited call in tests/api/security/"
        f"test_audit_every_mutation.py CALLS (or a reason in NOT_MUTATING): {missing}"
    )
    assert not (CALLS.keys() | NOT_MUTATING.keys()) - routes, "entries for routes that are gone"


async def test_every_mutating_call_leaves_an_audit_record(
    db_settings: HubSettings,
) -> None:
    problems = []
    async with AsyncExitStack() as stack:
        world = await build_world(stack, db_settings)
        for name, call in CALLS.items():
            problem = await audited(world, name.split()[0], call)
            if problem is not None:
                problems.append(f"{name}: {problem}")
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Refusal:
    """Calls that set the scene (``before``), then one the design refuses and audits."""

    call: Call
    method: str = "POST"
    before: tuple[Call, ...] = ()
    prepare: Callable[[World], None] | None = None


def refused(path: str, action: str, outcome: str, status: int, **fields: Any) -> Call:
    return Call(path, action, outcome=outcome, statuses=(status,), **fields)


ACK = "/api/incidents/{incident.api}/acknowledge"
ESC_ACK = f"{A}/escalation/{{incident.escalation}}/acknowledge"
FORCE = f"{A}/self-healing/force"
LINK = Call(
    "/api/escalation/links/{link}", "escalation.acknowledge", auth="none", actor="person:ann"
)
REFUSALS: dict[str, Refusal] = {
    "an incident acknowledged twice": Refusal(
        refused(ACK, "incident.acknowledge", "refused", 409, auth="operator"),
        before=(Call(ACK, "incident.acknowledge", auth="operator"),),
    ),
    "an incident that does not exist": Refusal(
        refused("/api/incidents/999999/resolve", "incident.resolve", "not_found", 404)
    ),
    "an escalation acknowledged twice": Refusal(
        refused(ESC_ACK, "escalation.acknowledge", "refused", 409, auth="operator"),
        before=(Call(ESC_ACK, "escalation.acknowledge", auth="operator"),),
    ),
    "escalating a resolved incident": Refusal(
        refused(
            "/api/incidents/{incident.escalate}/escalate",
            "escalation.escalate_now",
            "refused",
            409,
            auth="operator",
        ),
        before=(
            Call("/api/incidents/{incident.escalate}/resolve", "incident.resolve", auth="operator"),
        ),
    ),
    "a public note on an incident that does not exist": Refusal(
        refused(
            "/api/incidents/999999/public-note",
            "incident.public_note",
            "not_found",
            404,
            body={"message": "m"},
        )
    ),
    "a deployment gate blocked by an open critical incident": Refusal(
        refused(f"{A}/deployment/gate", "deployment.gate", "blocked", 200, body={"target": "web"})
    ),
    "forcing an action the agent does not declare": Refusal(
        refused(FORCE, "self_healing.force", "refused", 422, body={"host": AGENT, "action": "x"})
    ),
    "forcing an action on an unknown host": Refusal(
        refused(
            FORCE, "self_healing.force", "not_found", 404, body={"host": "nowhere", "action": "x"}
        )
    ),
    "a channel test the provider refuses": Refusal(
        refused(
            f"{A}/escalation/channels/slack/test",
            "escalation.channel_test",
            "failed",
            502,
            body={"person": "ann"},
        ),
        prepare=lambda world: world.slack.fail("chat.postMessage", "channel_not_found"),
    ),
    "a Slack acknowledgement of a resolved incident": Refusal(
        refused(
            "/api/integrations/slack/commands",
            "escalation.acknowledge",
            "refused",
            200,
            body=slack_command("ack {incident.slack}"),
            auth="slack",
        ),
        before=(
            Call("/api/incidents/{incident.slack}/resolve", "incident.resolve", auth="operator"),
        ),
    ),
    "an SMS acknowledgement of a resolved incident": Refusal(
        refused(
            "/api/integrations/twilio/sms",
            "escalation.acknowledge",
            "refused",
            200,
            body={"From": ANN_PHONE, "To": "+15005550006", "Body": "ACK {incident.phone}"},
            auth="twilio",
        ),
        before=(
            Call("/api/incidents/{incident.phone}/resolve", "incident.resolve", auth="operator"),
        ),
    ),
    "a one-click link used twice": Refusal(
        refused(LINK.path, LINK.action, "refused", 409, auth="none", actor="person:ann"),
        before=(LINK,),
    ),
}


async def test_refusals_the_design_audits_leave_a_record_with_their_outcome(
    db_settings: HubSettings,
) -> None:
    problems = []
    async with AsyncExitStack() as stack:
        world = await build_world(stack, db_settings)
        for name, refusal in REFUSALS.items():
            if refusal.prepare is not None:
                refusal.prepare(world)
            for step in refusal.before:
                problem = await audited(world, "POST", step)
                assert problem is None, f"{name}, setting the scene: {problem}"
            problem = await audited(world, refusal.method, refusal.call)
            if problem is not None:
                problems.append(f"{name}: {problem}")
    assert not problems, "\n".join(problems)
