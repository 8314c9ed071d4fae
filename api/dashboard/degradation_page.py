"""The Degradation page: the level per service, the rules (state, condition, what they switch),
every flag's value, the history; operators activate and revert rules, admins switch the
subsystem. Actions call the engine's functions, as ``routes/degradation.py`` does, so the audit
log and the rule's history read the same as when the API is used."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.dashboard.web import actor, back, form_of, page, render
from bounceback.api.degradation import store
from bounceback.api.degradation.config import (
    CircuitCondition,
    Condition,
    IncidentCondition,
    RuleConfig,
)
from bounceback.api.degradation.evaluate import RuleState
from bounceback.api.degradation.flags import degraded_value, flag_key, highest
from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.errors import ApiError

HERE = "/degradation"
MAX_REASON = 500


def describe(condition: Condition) -> str:
    """One condition in words, e.g. ``circuit of kind database open on ≥ 50% of hosts``."""
    if isinstance(condition, IncidentCondition):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(condition.labels.items()))
        return (
            f"≥ {condition.count} open {condition.severity}-or-worse incident"
            f"{'s' if condition.count > 1 else ''}" + (f" labelled {labels}" if labels else "")
        )
    share = f"on ≥ {condition.fraction:.0%} of hosts"
    if isinstance(condition, CircuitCondition):
        which = condition.dependency or f"of kind {condition.dependency_kind}"
        state = condition.state.replace("_", "-")
        return f"circuit {which} {state} {share}"
    return f"{condition.metric} {condition.op} {condition.threshold:g} {share}"


def conditions_text(rule: RuleConfig) -> str:
    if not rule.conditions:
        return "manual only"
    joiner = " and " if rule.match == "all" else " or "
    return joiner.join(describe(condition) for condition in rule.conditions)


def switches(rule: RuleConfig) -> list[str]:
    """What the rule switches while active: ``flag = degraded value``."""
    return [f"{flag_key(action)} = {json.dumps(degraded_value(action))}" for action in rule.actions]


def service_levels(
    rules: Sequence[RuleConfig],
    services: Sequence[str],
    states: Mapping[str, RuleState],
    *,
    enabled: bool,
) -> list[tuple[str, DegradationLevel]]:
    """Each service's level: the highest of the active rules for it or for the whole fleet."""
    active = [r for r in rules if enabled and states.get(r.id, RuleState()).active]
    return [
        (service, highest([r.level for r in active if r.service in (None, service)]))
        for service in services
    ]


def _rules(rules: Sequence[RuleConfig], states: Mapping[str, RuleState]) -> list[dict[str, Any]]:
    return [
        {
            "rule": rule,
            "state": states.get(rule.id, RuleState()),
            "conditions": conditions_text(rule),
            "switches": switches(rule),
        }
        for rule in rules
    ]


@page(Role.VIEWER)
async def degradation_page(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    engine = hub.degradation
    async with hub.db.read() as conn:
        states = await store.states(conn)
        switch = await engine.switch(conn)
        shot = await engine.snapshot(conn)
        events = await store.recent_events(conn, limit=50)
    rules = engine.config.rules
    services = sorted(
        set(engine.config.services) | {r.service for r in rules if r.service is not None}
    )
    return await render(
        request,
        "degradation.html",
        {
            "title": "Degradation",
            "switch": switch,
            "level": shot.level.value,
            "levels": service_levels(rules, services, states, enabled=switch.enabled),
            "rules": _rules(rules, states),
            "flags": [shot.flags[key] for key in sorted(shot.flags)],
            "events": events,
            "interval": hub.settings.degradation_check_interval,
            "hold": engine.config.hold_seconds,
        },
        live="degradation",
    )


def _reason(request: Request, default: str) -> str:
    return form_of(request).get("reason", "").strip()[:MAX_REASON] or default


async def _rule_change(request: Request, *, activate: bool) -> Response:
    hub: Hub = request.app.state.hub
    rule_id = str(request.path_params["id"])
    try:
        if activate:
            await hub.degradation.activate(
                rule_id, _reason(request, "activated by hand"), actor(request)
            )
        else:
            await hub.degradation.revert(
                rule_id, _reason(request, "reverted by hand"), actor(request)
            )
    except ApiError as exc:
        return back(HERE, problem=exc.message)
    return back(HERE, notice=f"Rule {rule_id} {'activated' if activate else 'reverted'}.")


@page(Role.OPERATOR)
async def activate_action(request: Request) -> Response:
    return await _rule_change(request, activate=True)


@page(Role.OPERATOR)
async def revert_action(request: Request) -> Response:
    return await _rule_change(request, activate=False)


async def _switch(request: Request, enabled: bool) -> Response:
    hub: Hub = request.app.state.hub
    await hub.degradation.set_enabled(enabled, actor(request))
    return back(HERE, notice=f"Degradation {'enabled' if enabled else 'disabled'}.")


@page(Role.ADMIN)
async def enable_action(request: Request) -> Response:
    return await _switch(request, True)


@page(Role.ADMIN)
async def disable_action(request: Request) -> Response:
    return await _switch(request, False)


routes = [
    Route(HERE, degradation_page, methods=["GET"]),
    Route(f"{HERE}/enable", enable_action, methods=["POST"]),
    Route(f"{HERE}/disable", disable_action, methods=["POST"]),
    Route(f"{HERE}/rules/{{id}}/activate", activate_action, methods=["POST"]),
    Route(f"{HERE}/rules/{{id}}/revert", revert_action, methods=["POST"]),
]
