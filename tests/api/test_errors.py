"""Bad input gets a 4xx JSON error naming the problem, never a 500, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

AM = "/api/integrations/alertmanager"


def error_of(response_json: dict[str, object]) -> dict[str, object]:
    error = response_json["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "details"}
    return error


async def stored_incidents(hub: RunningHub) -> int:
    response = await hub.client.get("/api/incidents", headers=hub.auth(Role.VIEWER))
    return len(response.json()["items"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"source": "x", "summary":', 400, "body"),
        (b"[1, 2, 3]", 400, "body"),
        (b'"just a string"', 400, "body"),
        (b"", 400, None),
        (b'{"source": 5, "summary": "s"}', 422, "source"),
        (b'{"source": "s", "summary": "s", "severity": "apocalyptic"}', 422, "severity"),
        (b'{"source": "s", "summary": "s", "status": "maybe"}', 422, "status"),
        (b'{"source": "s", "summary": "s", "labels": {"a": 1}}', 422, "labels.a"),
        (b'{"source": "s", "summary": "s", "labels": []}', 422, "labels"),
        (b'{"summary": "s"}', 422, "source"),
        (b'{"source": "", "summary": "s"}', 422, "source"),
        (b'{"source": "s", "summary": "s", "colour": "red"}', 422, "colour"),
    ],
)
async def test_invalid_generic_alerts_are_refused_with_the_field(
    hub: RunningHub, body: bytes, status: int, field: str | None
) -> None:
    response = await hub.client.post(
        "/api/alerts",
        content=body,
        headers={**hub.key("generic"), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = error_of(response.json())
    if field is not None:
        assert field in json.dumps(error["details"])
        if status == 422:
            assert field in str(error["message"])
    assert await stored_incidents(hub) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"groupKey": "g", "status": "burning", "alerts": []}, "status"),
        ({"status": "firing", "alerts": []}, "groupKey"),
        ({"groupKey": "g", "status": "firing", "alerts": [{"status": "x"}]}, "alerts[0].status"),
        ({"groupKey": "g", "status": "firing", "alerts": "none"}, "alerts"),
    ],
)
async def test_invalid_alertmanager_webhooks_name_the_field(
    hub: RunningHub, body: dict[str, object], field: str
) -> None:
    response = await hub.client.post(AM, json=body, headers=hub.key("alertmanager"))
    assert response.status_code == 422
    assert field in json.dumps(error_of(response.json())["details"])


async def test_an_announced_oversized_body_gets_413(hub: RunningHub) -> None:
    body = b'{"source": "s", "summary": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await hub.client.post("/api/alerts", content=body, headers=hub.key("generic"))
    assert response.status_code == 413
    assert error_of(response.json())["code"] == "payload_too_large"


async def test_a_streamed_oversized_body_gets_413(hub: RunningHub) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    response = await hub.client.post("/api/alerts", content=chunks(), headers=hub.key("generic"))
    assert response.status_code == 413
    assert error_of(response.json())["code"] == "payload_too_large"


async def test_unknown_routes_are_json_404(hub: RunningHub) -> None:
    response = await hub.client.get("/api/nothing-here", headers=hub.auth(Role.ADMIN))
    assert response.status_code == 404
    assert error_of(response.json())["code"] == "not_found"


async def test_wrong_methods_are_json_405(hub: RunningHub) -> None:
    response = await hub.client.delete("/api/incidents", headers=hub.auth(Role.ADMIN))
    assert response.status_code == 405
    assert error_of(response.json())["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=sleeping", "state"),
        ("severity=huge", "severity"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_parameter(
    hub: RunningHub, query: str, field: str
) -> None:
    response = await hub.client.get(f"/api/incidents?{query}", headers=hub.auth(Role.VIEWER))
    assert response.status_code == 422
    assert error_of(response.json())["details"][0]["field"] == field  # type: ignore[index]


async def test_non_numeric_incident_id_is_422(hub: RunningHub) -> None:
    response = await hub.client.get("/api/incidents/abc", headers=hub.auth(Role.VIEWER))
    assert response.status_code == 422


async def test_an_incident_id_past_the_stores_integers_is_422_not_a_500(hub: RunningHub) -> None:
    for path in ("/api/incidents/2147483648", "/api/incidents/99999999999/acknowledge"):
        method = hub.client.get if path.endswith("8") else hub.client.post
        response = await method(path, headers=hub.auth(Role.OPERATOR))
        assert response.status_code == 422, (path, response.text)
        assert error_of(response.json())["details"][0]["field"] == "id"  # type: ignore[index]


async def test_every_response_carries_a_request_id(hub: RunningHub) -> None:
    mine = await hub.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert mine.headers["x-request-id"] == "trace-123"
    made = await hub.client.get("/api/nothing")
    assert len(made.headers["x-request-id"]) == 32
    bogus = await hub.client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert bogus.headers["x-request-id"] != "bad id\twith spaces"
