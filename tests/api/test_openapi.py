"""``/openapi.json`` (OpenAPI 3.1) and ``/docs``: every route the hub serves is documented."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import Route

from bounceback.api.app import ROUTES
from bounceback.api.openapi import build, openapi_path, operations
from bounceback.api.openapi_table import OPERATIONS
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(value) for value in node))
    return set()


async def test_every_route_the_hub_serves_is_in_the_document(hub: RunningHub) -> None:
    response = await hub.client.get("/openapi.json")  # public: no token
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    served = list(operations(hub.app.routes))
    assert len(served) > 90
    for method, path, _ in served:
        assert method.lower() in document["paths"][openapi_path(path)], f"{method} {path}"


def test_the_table_lists_no_route_that_does_not_exist() -> None:
    served = {(method, openapi_path(path)) for method, path, _ in operations(ROUTES)}
    assert set(OPERATIONS) == served


def test_a_route_missing_from_the_table_fails_the_build() -> None:
    async def stray(request: Any) -> Any:
        raise AssertionError

    stray.public = True  # type: ignore[attr-defined]
    with pytest.raises(LookupError, match="GET /api/stray"):
        build([*ROUTES, Route("/api/stray", stray, methods=["GET"])], "test")


def test_every_reference_resolves_and_guarded_routes_declare_their_errors() -> None:
    document = build(ROUTES, "test")
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    acknowledge = document["paths"]["/api/incidents/{id}/acknowledge"]["post"]
    assert acknowledge["x-required-role"] == "operator"
    assert acknowledge["security"] == [{"bearer": []}]
    assert {"401", "403", "404", "409", "429"} <= set(acknowledge["responses"])
    alert = document["paths"]["/api/alerts"]["post"]
    body = alert["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/GenericAlert"}
    assert alert["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IntakeResult"
    }
    assert document["paths"]["/healthz"]["get"]["security"] == []


async def test_the_docs_page_lists_every_operation_without_a_cdn(hub: RunningHub) -> None:
    response = await hub.client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/incidents/{id}/acknowledge" in response.text
    assert len(re.findall(r"<tr><td><code>", response.text)) == len(list(operations(ROUTES)))
    assert "https://" not in response.text


async def test_the_dashboards_pages_are_not_api_operations(hub: RunningHub) -> None:
    document = build(hub.app.routes, "test")
    assert "/login" not in document["paths"]
    assert "/api/incidents" in document["paths"]


def test_answers_are_documented_as_the_routes_give_them() -> None:
    """What schemathesis found the document getting wrong (tests/api/fuzz)."""
    paths = build(ROUTES, "test")["paths"]
    schemas = build(ROUTES, "test")["components"]["schemas"]
    incident = paths["/api/incidents/{id}"]["get"]
    assert incident["parameters"][0]["schema"]["type"] == "integer"
    assert "422" in incident["responses"]  # a malformed id
    deployment = paths["/api/auto-recovery/deployment/{id}"]["get"]
    assert deployment["parameters"][0]["schema"]["type"] == "integer"
    assert "422" in deployment["responses"]  # an id past the store's integers
    agent = paths["/api/agents/{agent_id}"]["get"]["parameters"][0]["schema"]
    assert agent["pattern"].startswith("^[A-Za-z0-9]")
    track = paths["/api/auto-recovery/deployment/track"]["post"]["responses"]["201"]["content"]
    assert track["application/json"]["schema"] == {"$ref": "#/components/schemas/Deployment"}
    assert "201" in paths["/api/auto-recovery/deployment/freeze/override"]["post"]["responses"]
    person = paths["/api/oncall/people/{oid}"]["get"]["responses"]["200"]["content"]
    shown = person["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "provisioned" in schemas[shown]["required"]
    assert "/docs" in paths and "text/html" in paths["/docs"]["get"]["responses"]["200"]["content"]
    sms = paths["/api/integrations/twilio/sms"]["post"]["responses"]
    assert "application/xml" in sms["200"]["content"]
    assert "403" in sms  # a missing or bad signature
    assert "401" in paths["/api/integrations/slack/commands"]["post"]["responses"]
    link = paths["/api/escalation/links/{token}"]["get"]["responses"]
    assert "text/html" in link["403"]["content"]
    flag = paths["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]
    assert "errorCode" in flag["404"]["content"]["application/json"]["schema"]["properties"]
    assert flag["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
