"""The hub client: retries what can recover, names URL and status, never prints a token."""

from __future__ import annotations

import json

import httpx
import pytest

from bounceback.api.deployment_wire import DeployedRequest, GateRequest
from bounceback.guard.credentials import CredentialError, OidcCredential, StaticToken
from bounceback.guard.hub_client import HubClient, HubError
from tests.guard.factories import AT, deployment

TOKEN = "bbt_guard_secret_token"
GATE_OK = {
    "allowed": True,
    "target": "checkout",
    "environment": "production",
    "reasons": [],
    "checked_at": AT.isoformat(),
}


def client(handler: httpx.MockTransport, sleeps: list[float], attempts: int = 4) -> HubClient:
    return HubClient(
        "http://hub.test/",
        StaticToken(TOKEN),
        transport=handler,
        sleep=sleeps.append,
        attempts=attempts,
    )


def test_calls_carry_the_bearer_and_parse_the_contract() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GATE_OK)

    result = client(httpx.MockTransport(handle), []).gate(GateRequest(target="checkout"))

    assert result.allowed
    assert str(seen[0].url) == "http://hub.test/api/auto-recovery/deployment/gate"
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(seen[0].content)["target"] == "checkout"


def test_server_errors_are_retried_with_backoff_then_reported_unreachable() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "draining"}})

    sleeps: list[float] = []
    with pytest.raises(HubError) as caught:
        client(httpx.MockTransport(handle), sleeps).gate(GateRequest(target="checkout"))

    assert calls == 4 and sleeps == [1.0, 2.0, 4.0]
    assert caught.value.unreachable
    assert "POST http://hub.test/api/auto-recovery/deployment/gate answered 503: draining" in str(
        caught.value
    )
    assert TOKEN not in str(caught.value)


def test_a_recovering_hub_is_retried_until_it_answers() -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.ConnectError("refused"),
        httpx.Response(200, json=GATE_OK),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps: list[float] = []
    assert client(httpx.MockTransport(handle), sleeps).gate(GateRequest(target="x")).allowed
    assert sleeps == [1.0]


def test_client_errors_are_not_retried_and_name_the_hub_message() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "validation_failed", "message": "invalid field 'target'"}}
        return httpx.Response(422, json=body)

    sleeps: list[float] = []
    with pytest.raises(HubError) as caught:
        client(httpx.MockTransport(handle), sleeps).gate(GateRequest(target="x"))
    assert sleeps == [] and not caught.value.unreachable
    assert caught.value.code == "validation_failed"
    assert "invalid field 'target'" in caught.value.message


def test_unreachable_hub_names_the_url() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(HubError, match=r"the hub at http://hub.test is unreachable.*ConnectError"):
        client(httpx.MockTransport(handle), [], attempts=1).get(3)


def test_an_answer_outside_the_contract_says_so() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"unexpected": True})

    with pytest.raises(HubError, match="does not understand"):
        client(httpx.MockTransport(handle), []).deployed(3, DeployedRequest())


def test_oidc_token_is_requested_for_the_hub_audience_and_refreshed_on_401() -> None:
    issued: list[str] = []

    def token_service(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "bearer runner-request-token"
        assert request.url.params["audience"] == "https://hub.example"
        issued.append(f"jwt-{len(issued) + 1}")
        return httpx.Response(200, json={"value": issued[-1]})

    masked: list[str] = []
    credential = OidcCredential(
        "http://runner.test/token?api-version=2.0",
        "runner-request-token",
        "https://hub.example",
        on_token=masked.append,
        transport=httpx.MockTransport(token_service),
    )
    presented: list[str] = []

    def hub(request: httpx.Request) -> httpx.Response:
        presented.append(request.headers["Authorization"])
        if len(presented) == 1:
            return httpx.Response(
                401, json={"error": {"code": "unauthorized", "message": "expired"}}
            )
        return httpx.Response(
            200,
            json={
                "deployment": deployment().model_dump(mode="json"),
                "baseline": {},
                "timeline": [],
            },
        )

    HubClient("https://hub.example", credential, transport=httpx.MockTransport(hub)).get(7)

    assert presented == ["Bearer jwt-1", "Bearer jwt-2"]
    assert masked == ["jwt-1", "jwt-2"]


def test_oidc_without_permission_says_what_to_add() -> None:
    credential = OidcCredential(
        "http://runner.test/token",
        "t",
        "https://hub.example",
        transport=httpx.MockTransport(lambda request: httpx.Response(403)),
    )
    with pytest.raises(CredentialError, match="permissions: id-token: write"):
        credential.token()
