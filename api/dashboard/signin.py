"""Signing in to the dashboard with a token, and signing out."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bounceback.api import audit
from bounceback.api.auth import ratelimit
from bounceback.api.auth.roles import Role
from bounceback.api.auth.secrets import digest
from bounceback.api.context import Hub
from bounceback.api.dashboard import session as sessions
from bounceback.api.dashboard.web import (
    actor,
    current_session,
    page,
    public_page,
    read_form,
    render,
    session_key,
    session_ttl,
    with_headers,
)

MAX_TOKEN = 512


def safe_next(raw: str | None) -> str:
    """Only a path on this hub: never an open redirect to another site."""
    if not raw:
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    return raw


def _secure(request: Request, hub: Hub) -> bool:
    return request.url.scheme == "https" or hub.settings.public_url.startswith("https://")


@public_page
async def login_form(request: Request) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return await render(
        request, "login.html", {"next": safe_next(request.query_params.get("next"))}
    )


@public_page
async def login(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    form = await read_form(request)
    token = form.get("token")
    target = safe_next(form.get("next"))
    now = hub.clock.now()
    if not token or not token.strip() or len(token) > MAX_TOKEN:
        return await render(
            request, "login.html", {"next": target, "error": "Enter a token."}, status_code=400
        )
    verdict = ratelimit.check(request, token.strip())
    if not verdict.allowed:
        text = f"Too many failed sign-ins from here; try again in {verdict.retry_after} s."
        response = await render(
            request, "login.html", {"next": target, "error": text}, status_code=429
        )
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    found = await hub.credentials.token(token.strip())
    if found is None:
        ratelimit.failed(request, token.strip())
    if found is None or found.role not in sessions.DASHBOARD_ROLES:
        async with hub.db.transaction() as conn:
            await audit.record(
                conn,
                at=now,
                actor="anonymous",
                action="dashboard.sign_in",
                target="dashboard",
                outcome="refused",
                details={"reason": "unknown token" if found is None else "role"},
            )
        text = (
            "That token is unknown or revoked."
            if found is None
            else "Agent and guard tokens cannot sign in to the dashboard."
        )
        return await render(request, "login.html", {"next": target, "error": text}, status_code=401)
    assert found.role is not None
    _, cookie = sessions.open_session(
        await session_key(hub),
        digest(token.strip()),
        found.name,
        found.role,
        now=now,
        ttl=session_ttl(hub),
    )
    async with hub.db.transaction() as conn:
        await audit.record(
            conn,
            at=now,
            actor=found.actor,
            action="dashboard.sign_in",
            target="dashboard",
            details={"role": found.role.value},
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=int(session_ttl(hub).total_seconds()),
        httponly=True,
        secure=_secure(request, hub),
        samesite="strict",
        path="/",
    )
    return with_headers(response)


@page(Role.VIEWER)
async def logout(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    async with hub.db.transaction() as conn:
        await audit.record(
            conn,
            at=hub.clock.now(),
            actor=actor(request),
            action="dashboard.sign_out",
            target="dashboard",
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return with_headers(response)


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
