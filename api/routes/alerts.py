"""Alert intake: Bounceback's own format, Alertmanager's webhook, PagerDuty Events v2."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bounceback.api.auth.guard import intake, intake_principal
from bounceback.api.auth.principal import Principal
from bounceback.api.context import Hub
from bounceback.api.errors import ApiError, BadRequest, Unavailable
from bounceback.api.incidents.ingest import IngestClosed
from bounceback.api.intake import alertmanager, generic, pagerduty
from bounceback.api.intake.event import AlertEvent
from bounceback.api.routes.body import parse_json
from bounceback.api.schema import GenericAlert, IntakeResult


def _accepted(result: IntakeResult) -> Response:
    # The same bytes as JSONResponse(result.model_dump(mode="json")), serialised by pydantic.
    return Response(result.model_dump_json(), status_code=202, media_type="application/json")


def _integration(caller: Principal) -> str | None:
    return caller.name if caller.integration_kind is not None else None


async def _submit(request: Request, event: AlertEvent, action: str) -> IntakeResult:
    hub: Hub = request.app.state.hub
    try:
        [result] = await hub.ingest.submit([event], actor=event.actor, action=action)
    except IngestClosed:
        raise Unavailable("the hub is shutting down; retry against another replica") from None
    hub.metrics.alert_accepted(action.removeprefix("alert."), result.action.value)
    return result


@intake("generic")
async def post_alert(request: Request) -> Response:
    caller = await intake_principal(request, "generic")
    alert = await parse_json(request, GenericAlert)
    result = await _submit(
        request, generic.to_event(alert, caller.actor, _integration(caller)), "alert.generic"
    )
    return _accepted(result)


@intake("alertmanager")
async def post_alertmanager(request: Request) -> Response:
    caller = await intake_principal(request, "alertmanager")
    hook = await parse_json(request, alertmanager.AlertmanagerWebhook)
    event = alertmanager.to_event(hook, caller.actor, _integration(caller))
    result = await _submit(request, event, "alert.alertmanager")
    return _accepted(result)


@intake("pagerduty")
async def post_pagerduty(request: Request) -> Response:
    """Answers in PagerDuty's shape (status, message, dedup_key / errors) plus our error object."""
    try:
        # Authenticate before validating: the key is inside the body.
        caller = await intake_principal(
            request, "pagerduty", pagerduty.routing_key_of(await request.body())
        )
        event = await parse_json(request, pagerduty.PagerDutyEvent)
        if caller.integration_kind is None and event.routing_key:
            # An operator token with a routing key acts for that integration, when it exists.
            keyed = await request.app.state.hub.credentials.integration(event.routing_key)
            if keyed is None:
                raise BadRequest("unknown routing_key", [{"field": "routing_key"}])
            caller = Principal(name=keyed.name, integration_kind=keyed.integration_kind)
        result = await _submit(
            request,
            pagerduty.to_event(event, caller.actor, _integration(caller)),
            "alert.pagerduty",
        )
    except ApiError as exc:
        details = exc.details if isinstance(exc.details, list) else []
        messages = [f"{d.get('field')}: {d.get('message')}" for d in details if d]
        refused = {
            "status": "invalid event" if exc.status < 500 else "error",
            "message": exc.message,
            "errors": messages or [exc.message],
            "error": {"code": exc.code, "message": exc.message, "details": exc.details},
        }
        status = 400 if exc.status == 422 else exc.status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return JSONResponse(refused, status_code=status, headers=headers | exc.headers)
    body: dict[str, Any] = {
        "status": "success",
        "message": "Event processed",
        "dedup_key": result.dedup_key,
        "incident_id": result.incident_id,
        "action": result.action.value,
    }
    return JSONResponse(body, status_code=202)


routes = [
    Route("/api/alerts", post_alert, methods=["POST"]),
    Route("/api/integrations/alertmanager", post_alertmanager, methods=["POST"]),
    Route("/api/integrations/pagerduty/v2/enqueue", post_pagerduty, methods=["POST"]),
]
