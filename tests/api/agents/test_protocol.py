"""The agent protocol on a real hub: reports stored once and acknowledged after the commit,
commands handed over in the ack or by the long-poll, results recorded, tokens scoped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bounceback.api.auth.roles import Role
from bounceback.api.store.tables import agent_events, audit_log
from bounceback.api.testing import RunningHub

pytestmark = pytest.mark.anyio

AgentAuth = Callable[[str], Awaitable[dict[str, str]]]
SendReport = Callable[..., Awaitable[httpx.Response]]


def sample(cpu: float = 12.0, **fields: Any) -> dict[str, Any]:
    return {"kind": "sample", "metrics": {"cpu_percent": cpu, "memory_percent": 40.0}, **fields}


async def stored_seqs(hub: RunningHub, agent_id: str) -> list[int]:
    async with hub.hub.db.read() as conn:
        rows = await conn.scalars(
            sa.select(agent_events.c.seq)
            .where(agent_events.c.agent_id == agent_id)
            .order_by(agent_events.c.seq)
        )
        return list(rows)


async def force(hub: RunningHub, host: str, action: str, **fields: Any) -> httpx.Response:
    return await hub.client.post(
        "/api/auto-recovery/self-healing/force",
        json={"host": host, "action": action, **fields},
        headers=hub.auth(Role.OPERATOR),
    )


async def test_a_report_registers_the_agent_and_a_replay_counts_duplicates(
    hub: RunningHub, send_report: SendReport
) -> None:
    events = [sample(seq=1), sample(seq=2), {"kind": "loss", "seq": 3, "dropped": 5}]
    first = await send_report("web-1", events)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "last_seq": 3, "commands": []}
    # The ack means committed: another connection sees every event at once.
    assert await stored_seqs(hub, "web-1") == [1, 2, 3]

    replay = await send_report("web-1", [*events, sample(seq=4)])
    assert replay.json() == {"accepted": 1, "duplicates": 3, "last_seq": 4, "commands": []}
    assert await stored_seqs(hub, "web-1") == [1, 2, 3, 4]

    agent = (await hub.client.get("/api/agents/web-1", headers=hub.auth(Role.VIEWER))).json()
    assert agent["hostname"] == "web-1.example.net"
    assert agent["last_seq"] == 4
    assert agent["reports"] == 2
    assert agent["events_lost"] == 5  # counted once, not again on the replay


async def test_an_empty_report_is_a_heartbeat(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-1", [sample()])
    response = await send_report("web-1", [])
    assert response.json() == {"accepted": 0, "duplicates": 0, "last_seq": 1, "commands": []}


async def test_every_report_writes_one_audit_record(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [sample(), sample()])
    await send_report("web-1", [sample(seq=1)])
    async with hub.hub.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.action == "agent.report").order_by("id")
            )
        ).all()
    assert [row.actor for row in rows] == ["token:web-1", "token:web-1"]
    assert rows[0].target == "agent:web-1"
    assert rows[0].details["accepted"] == 2 and rows[0].details["registered"] is True
    assert rows[1].details["duplicates"] == 1 and rows[1].details["registered"] is False


async def test_an_agent_token_acts_only_for_its_own_agent_id(
    hub: RunningHub, send_report: SendReport, agent_auth: AgentAuth
) -> None:
    theirs = await agent_auth("web-2")
    response = await send_report("web-1", [sample()], headers=theirs)
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"token_agent": "web-2", "agent_id": "web-1"}
    poll = await hub.client.get("/api/agents/web-1/commands", headers=theirs)
    assert poll.status_code == 403
    assert await stored_seqs(hub, "web-1") == []


async def test_an_admin_may_report_and_poll_for_any_agent(
    hub: RunningHub, send_report: SendReport
) -> None:
    response = await send_report("web-9", [sample()], headers=hub.auth(Role.ADMIN))
    assert response.status_code == 200
    poll = await hub.client.get("/api/agents/web-9/commands", headers=hub.auth(Role.ADMIN))
    assert poll.json() == {"commands": []}


async def test_people_and_other_machines_cannot_report(
    hub: RunningHub, send_report: SendReport
) -> None:
    for role in (Role.VIEWER, Role.OPERATOR, Role.GUARD):
        response = await send_report("test-agent", [sample()], headers=hub.auth(role))
        assert response.status_code == 403, role
    assert (await send_report("test-agent", [sample()], headers={})).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"events": [{"kind": "sample", "seq": 0, "at": "2026-01-01T00:00:00Z", "metrics": {}}]},
            "events[0].sample.seq",  # the event's kind is part of the path
        ),
        ({"events": [{"kind": "nap", "seq": 1, "at": "2026-01-01T00:00:00Z"}]}, "events[0]"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": 90000}, "interval_seconds"),
        ({"hostname": ""}, "hostname"),
        (
            {"breakers": [{"dependency": "a/b", "kind": "cache", "state": "open"}]},
            "breakers[0].dependency",
        ),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_reports_are_422_naming_the_field(
    hub: RunningHub, agent_auth: AgentAuth, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {
        "hostname": "h",
        "version": "1",
        "interval_seconds": 10,
        "self_healing_enabled": True,
        "events": [],
        **change,
    }
    response = await hub.client.post(
        "/api/agents/web-1/reports", json=body, headers=await agent_auth("web-1")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"].startswith(field)


async def test_unstorable_values_are_normalised_not_refused(
    hub: RunningHub, agent_auth: AgentAuth
) -> None:
    body = (
        '{"hostname": "h\\u0000", "version": "1", "interval_seconds": 10,'
        ' "self_healing_enabled": true, "events": [{"kind": "sample", "seq": 1,'
        ' "at": "2026-01-01T00:00:00", "metrics": {"cpu_percent": NaN}}]}'
    )
    headers = {**await agent_auth("web-1"), "Content-Type": "application/json"}
    response = await hub.client.post("/api/agents/web-1/reports", content=body, headers=headers)
    assert response.status_code == 200, response.text
    agent = (await hub.client.get("/api/agents/web-1", headers=hub.auth(Role.VIEWER))).json()
    assert agent["hostname"] == "h"


async def test_a_forced_action_is_delivered_once_in_the_next_ack(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [sample()], actions=["restart-nginx"])
    forced = await force(hub, "web-1", "restart-nginx", reason="stuck workers")
    assert forced.status_code == 202, forced.text
    command = forced.json()["command"]
    assert command["kind"] == "run_action" and command["state"] == "pending"

    ack = (await send_report("web-1", [sample()], actions=["restart-nginx"])).json()
    [delivered] = ack["commands"]
    assert delivered["id"] == command["id"]
    assert delivered["target"] == "restart-nginx"
    assert delivered["params"] == {"reason": "stuck workers"}
    assert delivered["issued_by"] == "token:test-operator"
    again = (await send_report("web-1", [sample()], actions=["restart-nginx"])).json()
    assert again["commands"] == []


async def test_force_refuses_unknown_hosts_and_undeclared_actions(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [sample()], actions=["restart-nginx"])
    unknown = await force(hub, "web-404", "restart-nginx")
    assert unknown.status_code == 404
    undeclared = await force(hub, "web-1", "rm-rf")
    assert undeclared.status_code == 422
    detail = undeclared.json()["error"]["details"][0]
    assert detail["field"] == "action" and "restart-nginx" in detail["message"]
    missing = await hub.client.post(
        "/api/auto-recovery/self-healing/force",
        json={"action": "restart-nginx"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert missing.json()["error"]["details"][0]["field"] == "host"
    audit = await hub.client.get(
        "/api/auto-recovery/audit",
        params={"action": "self_healing.force"},
        headers=hub.auth(Role.ADMIN),
    )
    assert [item["outcome"] for item in audit.json()["items"]] == ["refused", "not_found"]


async def test_a_dry_run_force_is_a_test_action_command(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [sample()], actions=["clean-tmp"])
    forced = await force(hub, "web-1", "clean-tmp", dry_run=True)
    assert forced.json()["command"]["kind"] == "test_action"


async def test_command_results_update_the_command(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-1", [sample()], actions=["restart-nginx", "clean-tmp"])
    done = (await force(hub, "web-1", "restart-nginx")).json()["command"]
    refused = (await force(hub, "web-1", "clean-tmp")).json()["command"]
    await send_report("web-1", [])
    results = [
        {"kind": "command_result", "command_id": done["id"], "outcome": "done"},
        {
            "kind": "command_result",
            "command_id": refused["id"],
            "outcome": "refused",
            "message": "clean-tmp is not declared in agent.toml",
        },
        {"kind": "command_result", "command_id": 999999, "outcome": "done"},
    ]
    assert (await send_report("web-1", results)).json()["accepted"] == 3
    detail = (await hub.client.get("/api/agents/web-1", headers=hub.auth(Role.VIEWER))).json()
    states = {command["id"]: command for command in detail["commands"]}
    assert states[done["id"]]["state"] == "done"
    assert states[refused["id"]]["state"] == "refused"
    assert states[refused["id"]]["result"] == "clean-tmp is not declared in agent.toml"


async def test_an_agent_cannot_answer_another_agents_command(
    hub: RunningHub, send_report: SendReport
) -> None:
    await send_report("web-1", [sample()], actions=["restart-nginx"])
    command = (await force(hub, "web-1", "restart-nginx")).json()["command"]
    result = {"kind": "command_result", "command_id": command["id"], "outcome": "done"}
    await send_report("web-2", [result])
    detail = (await hub.client.get("/api/agents/web-1", headers=hub.auth(Role.VIEWER))).json()
    assert detail["commands"][0]["state"] == "pending"


async def test_people_list_agents_and_see_one(hub: RunningHub, send_report: SendReport) -> None:
    await send_report("web-2", [sample()])
    await send_report("web-1", [sample()])
    listed = await hub.client.get("/api/agents", headers=hub.auth(Role.VIEWER))
    assert [agent["id"] for agent in listed.json()["items"]] == ["web-1", "web-2"]
    missing = await hub.client.get("/api/agents/web-3", headers=hub.auth(Role.VIEWER))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"kind": "loss", "seq": 1, "dropped": 2**64}, "events[0].dropped"),
        ({"kind": "sample", "seq": 2**64, "metrics": {}}, "events[0].seq"),
    ],
)
async def test_numbers_past_what_the_store_holds_are_a_422_naming_the_field(
    hub: RunningHub, agent_auth: AgentAuth, event: dict[str, Any], field: str
) -> None:
    body = {
        "hostname": "web-1",
        "version": "0.1.0",
        "interval_seconds": 10,
        "self_healing_enabled": True,
        "events": [{**event, "at": "2026-01-01T00:00:00Z"}],
    }
    response = await hub.client.post(
        "/api/agents/web-1/reports", json=body, headers=await agent_auth("web-1")
    )
    assert response.status_code == 422, response.text
    fields = [detail["field"] for detail in response.json()["error"]["details"]]
    assert fields == [field]
