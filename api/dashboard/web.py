"""What every dashboard page shares: the session guard, CSRF on forms, rendering, headers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bounceback.api.auth.roles import Role, satisfies
from bounceback.api.context import Hub
from bounceback.api.dashboard import session as sessions
from bounceback.api.dashboard.session import Session

Endpoint = Callable[[Request], Awaitable[Response]]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Everything the pages load comes from the hub itself; nothing inline may run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

NAV = (
    ("/", "Overview", Role.VIEWER),
    ("/incidents", "Incidents", Role.VIEWER),
    ("/recovery", "Recovery", Role.VIEWER),
    ("/health", "System health", Role.VIEWER),
    ("/deployments", "Deployments", Role.VIEWER),
    ("/degradation", "Degradation", Role.VIEWER),
    ("/audit", "Audit log", Role.ADMIN),
)


async def session_key(hub: Hub) -> bytes:
    return sessions.session_key(await hub.dispatcher.link_secret())


def session_ttl(hub: Hub) -> timedelta:
    return timedelta(hours=hub.settings.bounceback_dashboard_session_hours)


async def current_session(request: Request) -> Session | None:
    """The request's session, if its cookie is valid and its token still is."""
    cookie = request.cookies.get(sessions.COOKIE)
    if not cookie:
        return None
    hub: Hub = request.app.state.hub
    try:
        found = sessions.read_session(await session_key(hub), cookie, hub.clock.now())
    except sessions.InvalidSession:
        return None
    token = await hub.credentials.token_by_digest(found.token_hash)
    if token is None or token.role != found.role:
        return None  # revoked, or the name now belongs to another token
    return found


def session_of(request: Request) -> Session:
    found = request.scope.get("dashboard_session")
    assert isinstance(found, Session), "page is not guarded"
    return found


def actor(request: Request) -> str:
    return f"token:{session_of(request).name}"


Form = dict[str, str]


async def read_form(request: Request) -> Form:
    """An HTML form's fields (urlencoded, as browsers send them; the first of repeated names)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def form_of(request: Request) -> Form:
    found = request.scope.get("dashboard_form")
    assert isinstance(found, dict), "not a guarded POST"
    return found


def page(role: Role) -> Callable[[Endpoint], Endpoint]:
    """A dashboard page or form action that needs a session of at least ``role``.

    GET without a session goes to the sign-in page; a POST without one is refused (401), as is a
    POST without the session's CSRF token (403). The form is read here, once."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            found = await current_session(request)
            if found is None:
                if request.method == "GET":
                    target = request.url.path + (
                        f"?{request.url.query}" if request.url.query else ""
                    )
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                return message(request, 401, "Sign in first", "This needs a signed-in session.")
            if not satisfies(found.role, role):
                return message(
                    request,
                    403,
                    "Not allowed",
                    f"This needs the {role.value} role; you signed in as {found.role.value}.",
                    found,
                )
            request.scope["dashboard_session"] = found
            if request.method == "POST":
                form = await read_form(request)
                presented = form.get(sessions.CSRF_FIELD)
                hub: Hub = request.app.state.hub
                key = await session_key(hub)
                if not isinstance(presented, str) or not sessions.csrf_valid(key, found, presented):
                    return message(
                        request,
                        403,
                        "Form refused",
                        "The form's CSRF token is missing or wrong; reload the page and retry.",
                        found,
                    )
                request.scope["dashboard_form"] = form
            return await endpoint(request)

        guarded.dashboard_role = role  # type: ignore[attr-defined]
        return guarded

    return decorate


def public_page(endpoint: Endpoint) -> Endpoint:
    endpoint.dashboard_public = True  # type: ignore[attr-defined]
    return endpoint


def _with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    live: str = "",
) -> Response:
    """A page in the dashboard's frame. ``live``: the change topics that refresh it (SSE)."""
    found = request.scope.get("dashboard_session")
    csrf = ""
    if isinstance(found, Session):
        csrf = sessions.csrf_token(await session_key(request.app.state.hub), found)
    return _with_headers(
        templates.TemplateResponse(
            request,
            template,
            {
                **frame(request, found if isinstance(found, Session) else None, csrf, live),
                **context,
            },
            status_code=status_code,
        )
    )


def frame(request: Request, found: Session | None, csrf: str, live: str) -> dict[str, Any]:
    role = found.role if found else None
    return {
        "session": found,
        "csrf": csrf,
        "csrf_field": sessions.CSRF_FIELD,
        "can_act": role is not None and satisfies(role, Role.OPERATOR),
        "is_admin": role is not None and satisfies(role, Role.ADMIN),
        "nav": [
            (href, label)
            for href, label, needs in NAV
            if role is not None and satisfies(role, needs)
        ],
        "path": request.url.path,
        "live": live,
        "notice": request.query_params.get("notice", "")[:300],
        "problem": request.query_params.get("problem", "")[:300],
    }


def message(
    request: Request, status: int, title: str, text: str, found: Session | None = None
) -> Response:
    body = templates.get_template("message.html").render(
        {**frame(request, found, "", ""), "title": title, "text": text, "request": request}
    )
    return _with_headers(HTMLResponse(body, status_code=status))


def back(path: str, *, notice: str = "", problem: str = "") -> Response:
    """Post/redirect/get: back to ``path`` with a one-line outcome."""
    query = urlencode({k: v for k, v in (("notice", notice), ("problem", problem)) if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def with_headers(response: Response) -> Response:
    return _with_headers(response)
