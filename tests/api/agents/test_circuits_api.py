"""The seed's Circuit Breaker Management endpoints: the agents' breakers, changed by commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

SendReport = Callable[..., Awaitable[httpx.Response]]
BASE = "/api/auto-recovery/circuit-breaker"


def breaker(dependency: str, state: str = "closed", **fields: Any) -> dict[str, Any]:
    return {"dependency": dependency, "kind": "database", "state": state, **fields}


async def get(hub: RunningHub, path: str, **params: str) -> Any:
    response = await hub.client.get(f"{BASE}/{path}", params=params, headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    return response.json()


async def post(hub: RunningHub, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await hub.client.post(f"{BASE}/{path}", json=body, headers=hub.auth(Role.OPERATOR))


async def fleet(send_report: SendReport) -> None:
    await send_report(
        "web-1", [], breakers=[breaker("postgres", "open", failures=5), breaker("redis")]
    )
    await send_report("web-2", [], breakers=[breaker("postgres", "half_open", successes=1)])


async def test_circuits_are_listed_per_host_and_dependency(
    hub: RunningHub, send_report: SendReport
) -> None:
    await fleet(send_report)
    items = (await get(hub, "circuits"))["items"]
    assert [item["id"] for item in items] == ["web-1:postgres", "web-1:redis", "web-2:postgres"]
    assert items[0]["state"] == "open" and items[0]["failures"] == 5
    opened = (await get(hub, "circuits", state="open"))["items"]
    assert [item["id"] for item in opened] == ["web-1:postgres"]
    assert len((await get(hub, "circuits", host="web-2"))["items"]) == 1
    status = await get(hub, "status")
    assert status["circuits"] == 3 and status["hosts"] == 2
    assert status["by_state"] == {"closed": 1, "open": 1, "half_open": 1}
    assert status["not_closed"] == ["web-1:postgres", "web-2:postgres"]
    assert status["defaults"]["failure_threshold"] == 5


async def test_a_circuit_shows_its_transitions(hub: RunningHub, send_report: SendReport) -> None:
    transition = {
        "kind": "breaker",
        "previous": "closed",
        "status": breaker("postgres", "open", failures=5),
    }
    await send_report("web-1", [transition])
    detail = await get(hub, "circuits/web-1:postgres")
    assert detail["state"] == "open"
    assert [(t["from"], t["to"]) for t in detail["transitions"]] == [("closed", "open")]
    assert detail["changed_at"] is not None


async def test_the_reported_set_replaces_the_stored_one(
    hub: RunningHub, send_report: SendReport
) -> None:
    await fleet(send_report)
    await send_report("web-1", [], breakers=[breaker("redis", "open")])
    items = (await get(hub, "circuits", host="web-1"))["items"]
    assert [(item["dependency"], item["state"]) for item in items] == [("redis", "open")]


async def test_reset_and_force_open_are_commands_to_the_owning_agent(
    hub: RunningHub, send_report: SendReport
) -> None:
    await fleet(send_report)
    reset = await post(hub, "circuits/web-1:postgres/reset")
    assert reset.status_code == 202, reset.text
    assert reset.json()["command"]["kind"] == "reset_breaker"
    opened = await post(hub, "circuits/web-2:postgres/force-open", {"reason": "failover drill"})
    assert opened.json()["command"]["params"] == {"reason": "failover drill"}

    [to_web1] = (await send_report("web-1", [])).json()["commands"]
    assert (to_web1["kind"], to_web1["target"]) == ("reset_breaker", "postgres")
    [to_web2] = (await send_report("web-2", [])).json()["commands"]
    assert (to_web2["kind"], to_web2["target"]) == ("force_open_breaker", "postgres")
    detail = await get(hub, "circuits/web-2:postgres")
    assert [command["state"] for command in detail["commands"]] == ["delivered"]


async def test_reset_all_resets_every_circuit_that_is_not_closed(
    hub: RunningHub, send_report: SendReport
) -> None:
    await fleet(send_report)
    response = await post(hub, "circuits/reset-all")
    assert response.status_code == 202
    assert response.json()["circuits"] == ["web-1:postgres", "web-2:postgres"]
    only_web2 = await post(hub, "circuits/reset-all", {"host": "web-2"})
    assert only_web2.json()["circuits"] == ["web-2:postgres"]


async def test_unknown_and_malformed_circuits(hub: RunningHub, send_report: SendReport) -> None:
    await fleet(send_report)
    assert (await post(hub, "circuits/web-1:mysql/reset")).status_code == 404
    missing = await hub.client.get(f"{BASE}/circuits/web-9:x", headers=hub.auth(Role.VIEWER))
    assert missing.status_code == 404
    malformed = await post(hub, "circuits/no-colon/force-open")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "id"


async def test_changing_circuits_needs_an_operator_and_is_audited(
    hub: RunningHub, send_report: SendReport
) -> None:
    await fleet(send_report)
    viewer = await hub.client.post(
        f"{BASE}/circuits/web-1:postgres/reset", headers=hub.auth(Role.VIEWER)
    )
    assert viewer.status_code == 403
    await post(hub, "circuits/web-1:postgres/reset")
    await post(hub, "circuits/web-1:nope/reset")
    audit = await hub.client.get(
        "/api/auto-recovery/audit", params={"action": "circuit.reset"}, headers=hub.auth(Role.ADMIN)
    )
    assert [(i["target"], i["outcome"]) for i in audit.json()["items"]] == [
        ("circuit:web-1:nope", "not_found"),
        ("circuit:web-1:postgres", "ok"),
    ]
