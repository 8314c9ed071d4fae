"""The seed's escalation endpoints, channel tests, policies, and the signed email links."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bounceback.api import audit
from bounceback.api.auth.guard import principal, public, require
from bounceback.api.auth.roles import Role
from bounceback.api.context import Hub
from bounceback.api.errors import ApiError, Conflict, NotFound
from bounceback.api.escalation import links
from bounceback.api.escalation.directory import Kind
from bounceback.api.escalation.queries import active, escalation_detail, status_counts
from bounceback.api.notify.channel import Message, NotifyError, Purpose, Recipient
from bounceback.api.notify.registry import KNOWN, SWITCHES
from bounceback.api.routes.body import parse_json
from bounceback.api.routes.objects import crud_routes
from bounceback.api.routes.params import id_param

BASE = "/api/auto-recovery/escalation"


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(max_length=4000)] | None = None


class TestBody(BaseModel):
    """Send to a configured person, or straight to an address (an email address, a Slack
    user id or an E.164 number, as the channel expects)."""

    model_config = ConfigDict(extra="forbid")
    person: str | None = Field(None, max_length=64)
    address: str | None = Field(None, min_length=3, max_length=254)

    @model_validator(mode="after")
    def _one_of(self) -> TestBody:
        if (self.person is None) == (self.address is None):
            raise ValueError("give exactly one of 'person' or 'address'")
        return self


class ChannelFailed(ApiError):
    status = 502
    code = "channel_failed"


@require(Role.VIEWER)
async def status_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    settings = hub.settings
    async with hub.db.read() as conn:
        directory = await hub.directories.load(conn)
        counts = await status_counts(conn)
    channels = {
        name: {
            "available": name in hub.channels.channels,
            "enabled": hub.channels.usable(name) is not None,
            "switch": SWITCHES[name].upper() if name in SWITCHES else None,
        }
        for name in sorted({*KNOWN, *hub.channels.channels})
    }
    seed = [
        settings.l1_timeout_minutes,
        settings.l2_timeout_minutes,
        settings.l3_timeout_minutes,
        settings.l4_timeout_minutes,
        settings.l5_timeout_minutes,
    ]
    return JSONResponse(
        {
            "enabled": settings.escalation_enabled,
            "levels": [
                {"name": f"L{i + 1}", "timeout_minutes": minutes} for i, minutes in enumerate(seed)
            ],
            "escalations": counts["escalations"],
            "outbox": counts["outbox"],
            "channels": channels,
            "policies": len(directory.policies),
            "people": len(directory.people),
            "schedules": len(directory.schedules),
        }
    )


@require(Role.VIEWER)
async def active_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.read() as conn:
        items = await active(conn)
    return JSONResponse({"items": items})


async def _detail(hub: Hub, incident_id: int) -> Response:
    async with hub.db.read() as conn:
        found = await escalation_detail(conn, incident_id)
    return JSONResponse(found)


@require(Role.OPERATOR)
async def acknowledge_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    await hub.escalation.acknowledge(incident_id, principal(request).actor, via="api")
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def resolve_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    incident_id = id_param(request)
    body = await parse_json(request, ResolveBody, empty_ok=True)
    await hub.escalation.resolve(incident_id, principal(request).actor, via="api", note=body.note)
    return await _detail(hub, incident_id)


@require(Role.OPERATOR)
async def test_channel_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    name = request.path_params["channel"]
    body = await parse_json(request, TestBody)
    if name not in hub.channels.channels:
        raise NotFound(hub.channels.why_not(name), {"field": "channel"})
    channel = hub.channels.usable(name)
    if channel is None:
        raise Conflict(hub.channels.why_not(name), {"field": "channel"})
    if body.person is not None:
        async with hub.db.read() as conn:
            person = (await hub.directories.load(conn)).people.get(body.person)
        address = channel.address(person) if person is not None else None
        if person is None or address is None:
            raise NotFound(
                f"no person {body.person!r} with a {name} address",
                [{"field": "person", "message": "unknown, or no address on this channel"}],
            )
        recipient = Recipient(person.id, person.name, address)
    else:
        assert body.address is not None
        recipient = Recipient("test", "test recipient", body.address)
    message = Message(
        notification_id=0,
        purpose=Purpose.TEST,
        incident_id=None,
        summary=f"Bounceback test of the {name} channel",
        severity="info",
        state="test",
    )
    actor = principal(request).actor
    try:
        receipt = await channel.send(recipient, message)
    except NotifyError as exc:
        await _audit(hub, actor, name, "failed", {"error": str(exc)})
        raise ChannelFailed(
            f"the {name} channel failed: {exc}", {"permanent": exc.permanent}
        ) from None
    await _audit(hub, actor, name, "ok", {"answer": receipt.answer})
    return JSONResponse({"channel": name, "sent": True, "answer": receipt.answer})


async def _audit(hub: Hub, actor: str, channel: str, outcome: str, details: dict[str, Any]) -> None:
    async with hub.db.transaction() as conn:
        await audit.record(
            conn,
            at=hub.clock.now(),
            actor=actor,
            action="escalation.channel_test",
            target=f"channel:{channel}",
            outcome=outcome,
            details=details,
        )


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta name='robots' content='noindex'>"
        f"<title>{escape(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h2>{escape(title)}</h2>{body}</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def _claim(request: Request) -> links.LinkClaim | HTMLResponse:
    hub: Hub = request.app.state.hub
    try:
        return links.verify(
            await hub.dispatcher.link_secret(), request.path_params["token"], hub.clock.now()
        )
    except links.LinkError as exc:
        return _page("This link does not work", f"<p>{escape(str(exc))}</p>", 403)


@public
async def link_get_route(request: Request) -> Response:
    """A confirmation page only: mail scanners open every link, so a GET never acts."""
    claim = await _claim(request)
    if isinstance(claim, HTMLResponse):
        return claim
    verb = claim.action.value
    form = (
        f"<p>{escape(verb.capitalize())} incident #{claim.incident_id} as "
        f"{escape(claim.person_id)}?</p><form method='post'>"
        f"<button type='submit'>{escape(verb.capitalize())}</button></form>"
    )
    return _page(f"{verb.capitalize()} incident #{claim.incident_id}", form)


@public
async def link_post_route(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    claim = await _claim(request)
    if isinstance(claim, HTMLResponse):
        return claim
    try:
        await hub.escalation.by_link(claim)
    except ApiError as exc:
        return _page("Nothing was changed", f"<p>{escape(exc.message)}</p>", exc.status)
    done = "acknowledged" if claim.action == links.LinkAction.ACKNOWLEDGE else "resolved"
    return _page(f"Incident #{claim.incident_id} {done}", "<p>Thank you.</p>")


routes = [
    Route(f"{BASE}/status", status_route, methods=["GET"]),
    Route(f"{BASE}/active", active_route, methods=["GET"]),
    *crud_routes(f"{BASE}/policies", Kind.POLICY),
    Route(f"{BASE}/channels/{{channel}}/test", test_channel_route, methods=["POST"]),
    Route(f"{BASE}/{{id}}/acknowledge", acknowledge_route, methods=["POST"]),
    Route(f"{BASE}/{{id}}/resolve", resolve_route, methods=["POST"]),
    Route("/api/escalation/links/{token}", link_get_route, methods=["GET"]),
    Route("/api/escalation/links/{token}", link_post_route, methods=["POST"]),
]
