"""Signing in, the session cookie, CSRF and roles, against a real hub."""

from __future__ import annotations

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.dashboard.signin import safe_next
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub
from tests.api.dashboard.signin import csrf_of, signed_in

pytestmark = pytest.mark.anyio


async def test_a_page_without_a_session_sends_the_browser_to_sign_in(hub: RunningHub) -> None:
    response = await hub.client.get("/?tab=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/%3Ftab%3Dall"


async def test_signing_in_sets_an_httponly_strict_session_cookie(hub: RunningHub) -> None:
    response = await hub.client.post(
        "/login", data={"token": hub.tokens[Role.VIEWER], "next": "/recovery"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/recovery"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("bb_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert hub.tokens[Role.VIEWER] not in cookie
    assert "content-security-policy" in response.headers


async def test_the_cookie_is_secure_when_the_hub_is_reached_over_https(hub: RunningHub) -> None:
    # A TLS proxy on the same host says so (uvicorn trusts X-Forwarded-* from 127.0.0.1).
    behind_tls = await hub.client.post(
        "/login", data={"token": hub.tokens[Role.VIEWER]}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in behind_tls.headers["set-cookie"]
    plain = await hub.client.post("/login", data={"token": hub.tokens[Role.VIEWER]})
    assert "Secure" not in plain.headers["set-cookie"]


async def test_an_unknown_token_is_refused_and_audited(hub: RunningHub) -> None:
    response = await hub.client.post("/login", data={"token": "bbt_nope"})
    assert response.status_code == 401
    assert "unknown or revoked" in response.text
    assert "set-cookie" not in response.headers
    audit = await hub.client.get(
        "/api/auto-recovery/audit?action=dashboard.sign_in", headers=hub.auth(Role.ADMIN)
    )
    assert [item["outcome"] for item in audit.json()["items"]] == ["refused"]


@pytest.mark.parametrize("role", [Role.AGENT, Role.GUARD])
async def test_machine_tokens_cannot_sign_in(hub: RunningHub, role: Role) -> None:
    response = await hub.client.post("/login", data={"token": hub.tokens[role]})
    assert response.status_code == 401
    assert "cannot sign in" in response.text


async def test_an_empty_token_is_a_clear_400(hub: RunningHub) -> None:
    response = await hub.client.post("/login", data={"token": "  "})
    assert response.status_code == 400
    assert "Enter a token" in response.text


async def test_a_forged_or_altered_cookie_is_no_session(hub: RunningHub) -> None:
    async with signed_in(hub, Role.ADMIN) as client:
        value = client.cookies["bb_session"]
        payload, _, mac = value.partition(".")
        client.cookies.set("bb_session", payload + "." + mac[:-2] + "AA")
        response = await client.get("/")
        assert response.status_code == 303


async def test_revoking_the_token_ends_its_sessions(hub: RunningHub) -> None:
    async with signed_in(hub, Role.OPERATOR) as client:
        assert (await client.get("/")).status_code == 200
        assert await hub.hub.credentials.revoke_token("test-operator")
        assert (await client.get("/")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused(hub: RunningHub) -> None:
    async with signed_in(hub, Role.ADMIN) as client:
        response = await client.post("/logout", data={})
        assert response.status_code == 403
        assert "CSRF" in response.text
        response = await client.post("/logout", data={"csrf": "forged"})
        assert response.status_code == 403


async def test_a_post_without_a_session_is_401(hub: RunningHub) -> None:
    response = await hub.client.post("/logout", data={"csrf": "x"})
    assert response.status_code == 401


async def test_signing_out_clears_the_cookie(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        csrf = await csrf_of(client)
        response = await client.post("/logout", data={"csrf": csrf})
        assert response.status_code == 303
        assert (await client.get("/")).status_code == 303
    audit = await hub.client.get(
        "/api/auto-recovery/audit?action=dashboard.sign_out", headers=hub.auth(Role.ADMIN)
    )
    assert [item["actor"] for item in audit.json()["items"]] == ["token:test-viewer"]


async def test_the_overview_shows_every_subsystem(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        page = await client.get("/")
    for name in ("incidents", "recovery", "escalation", "deployments", "degradation"):
        assert f"<h2>{name}</h2>" in page.text
    assert 'href="/audit"' not in page.text  # a viewer has no audit log in the navigation


async def test_assets_ship_with_the_hub(hub: RunningHub) -> None:
    for path, kind in (("/static/app.css", "text/css"), ("/static/app.js", "javascript")):
        response = await hub.client.get(path)
        assert response.status_code == 200
        assert kind in response.headers["content-type"]


def test_next_only_leads_to_a_path_on_this_hub() -> None:
    assert safe_next("/incidents/4?x=1") == "/incidents/4?x=1"
    for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""):
        assert safe_next(hostile) == "/"


async def test_the_event_stream_says_hello_then_reports_changes(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client, client.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await _next_event(lines) == "hello"
        alert = {"summary": "disk full", "severity": "critical", "source": "test"}
        sent = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
        assert sent.status_code in (200, 201, 202), sent.text
        assert await _next_event(lines) == "change"


async def _next_event(lines: object) -> str:
    async for line in lines:  # type: ignore[attr-defined]
        if line.startswith("event: "):
            return str(line.removeprefix("event: "))
    raise AssertionError("the stream ended")


async def test_an_event_stream_needs_a_session(hub: RunningHub) -> None:
    response = await hub.client.get("/events")
    assert response.status_code == 303


async def test_viewers_get_403_on_admin_pages(hub: RunningHub) -> None:
    async with signed_in(hub, Role.VIEWER) as client:
        response = await client.get("/audit")
    assert response.status_code in (403, 404)  # the audit page arrives with its own module


async def test_repeated_failed_sign_ins_are_limited_and_say_when_to_retry(
    db_settings: HubSettings,
) -> None:
    settings = db_settings.model_copy(update={"bounceback_auth_failure_limit": 3})
    async with running_hub(settings) as hub:
        for _ in range(3):
            assert (await hub.client.post("/login", data={"token": "bbt_guess"})).status_code == 401
        refused = await hub.client.post("/login", data={"token": hub.tokens[Role.ADMIN]})
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert "set-cookie" not in refused.headers
