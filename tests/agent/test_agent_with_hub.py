"""End to end: a real hub under uvicorn on 127.0.0.1 and a real agent with real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bounceback.agent.build import build_agent
from bounceback.agent.config import AgentConfig, parse_config
from bounceback.agent.credentials import Credentials
from bounceback.agent.loop import AgentLoop
from bounceback.api.agent_wire import AgentCommand, CommandKind
from bounceback.api.auth.roles import Role
from bounceback.api.settings import HubSettings
from bounceback.api.store.tables import agent_events
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

AGENT_ID = "test-agent"  # the agent token's name is its agent id

SERVER = """
import http.server, os, socketserver, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def hub(sqlite_settings: HubSettings) -> AsyncIterator[RunningHub]:
    async with running_hub(sqlite_settings) as running:
        yield running


AGENTS: list[AgentLoop] = []


@pytest.fixture(autouse=True)
async def _close_agents() -> AsyncIterator[None]:
    yield
    while AGENTS:
        await AGENTS.pop().aclose()


def make_agent(hub_url: str, token: str, tmp_path: Path, data: dict[str, Any]) -> AgentLoop:
    data = {
        "agent": {
            "id": AGENT_ID,
            "interval_seconds": 1,
            "spool_dir": str(tmp_path / "spool"),
            "credentials_file": str(tmp_path / "creds.toml"),
        },
        **data,
    }
    config: AgentConfig = parse_config(data, source="test", environ={})
    agent = build_agent(config, Credentials(hub_url, AGENT_ID, token))
    AGENTS.append(agent)
    return agent


async def history(hub: RunningHub, **params: str) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/api/auto-recovery/self-healing/history", params=params, headers=hub.auth(Role.VIEWER)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def until(predicate: Any, what: str, attempts: int = 500) -> None:
    """Wait for real background work (a process exiting, a restart) to happen."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_killed_server_is_restarted_and_the_hub_shows_the_attempt(
    hub: RunningHub, tmp_path: Path
) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    agent = make_agent(
        hub.url,
        hub.tokens[Role.AGENT],
        tmp_path,
        {
            "processes": [
                {
                    "name": "web",
                    "command": [sys.executable, str(script), str(port)],
                    "backoff_initial_seconds": 0.05,
                }
            ],
            "checks": [{"name": "web-http", "type": "http", "url": f"http://127.0.0.1:{port}/"}],
        },
    )
    assert agent.supervisor is not None
    await agent.supervisor.start()
    try:
        first_pid = agent.supervisor.pid("web")
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        supervisor = agent.supervisor
        await until(
            lambda: (
                supervisor.status("web").restarts >= 1
                and supervisor.pid("web") not in (None, first_pid)
            ),
            "the restart",
        )
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
        new_pid = supervisor.pid("web")
        assert answer.text == str(new_pid)
        await until(
            lambda: any(
                e["kind"] == "healing" and e["attempt"].outcome == "succeeded"
                for e in agent._events
            ),
            "the attempt to finish",
        )
        await agent.run_once()
    finally:
        await agent.supervisor.stop_all()
    [attempt] = await history(hub, host=AGENT_ID)
    assert attempt["type"] == "restart_process"
    assert attempt["target"] == "web"
    assert attempt["outcome"] == "succeeded"
    assert attempt["before"]["up"] == 0
    assert attempt["after"]["up"] == 1
    assert attempt["after"]["pid"] == new_pid


async def test_a_full_directory_is_cleaned_once_and_the_condition_clears(
    hub: RunningHub, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for n in range(3):
        (work / f"old-{n}").write_bytes(b"x" * 600_000)
        os.utime(work / f"old-{n}", (1_000_000, 1_000_000))
    agent = make_agent(
        hub.url,
        hub.tokens[Role.AGENT],
        tmp_path,
        {
            "checks": [
                {
                    "name": "work-size",
                    "type": "dir_size",
                    "path": str(work),
                    "max_mb": 1,
                    "action": "clean-work",
                }
            ],
            "actions": [
                {
                    "name": "clean-work",
                    "type": "clean_temp",
                    "directories": [str(work)],
                    "older_than_hours": 1,
                    "verify_cycles": 2,
                }
            ],
        },
    )
    readings = [await agent.run_once() for _ in range(4)]
    assert [cycle[0].status for cycle in readings] == ["failing", "ok", "ok", "ok"]
    assert list(work.iterdir()) == []
    [attempt] = await history(hub, host=AGENT_ID)
    assert attempt["action"] == "clean-work"
    assert attempt["outcome"] == "succeeded"
    assert attempt["before"]["check.work-size"] > 1
    assert attempt["after"]["check.work-size"] < 1


async def test_a_process_that_always_dies_gets_exactly_n_attempts_then_an_incident(
    hub: RunningHub, tmp_path: Path
) -> None:
    agent = make_agent(
        hub.url,
        hub.tokens[Role.AGENT],
        tmp_path,
        {
            "processes": [
                {
                    "name": "doomed",
                    "command": [sys.executable, "-c", "raise SystemExit(3)"],
                    "backoff_initial_seconds": 0.01,
                    "backoff_max_seconds": 0.02,
                    "max_restarts": 3,
                    "restart_window_seconds": 60,
                }
            ],
        },
    )
    assert agent.supervisor is not None
    await agent.supervisor.start()
    supervisor = agent.supervisor
    try:
        await until(lambda: supervisor.status("doomed").state == "gave_up", "the give-up")
        await agent.run_once()
    finally:
        await supervisor.stop_all()
    attempts = await history(hub, host=AGENT_ID)
    restarts = [a for a in attempts if a["outcome"] != "gave_up"]
    assert len(restarts) == 3
    [gave_up] = [a for a in attempts if a["outcome"] == "gave_up"]
    assert gave_up["escalate"] is True
    assert gave_up["incident_id"] is not None
    incident = await hub.client.get(
        f"/api/incidents/{gave_up['incident_id']}", headers=hub.auth(Role.VIEWER)
    )
    assert incident.json()["state"] == "triggered"
    assert "doomed" in incident.json()["summary"]


async def test_reports_made_while_the_hub_is_down_arrive_once_when_it_is_back(
    sqlite_settings: HubSettings, tmp_path: Path
) -> None:
    port = free_port()
    async with running_hub(sqlite_settings, port=port) as first:
        tokens = first.tokens
    # The hub is gone now: the agent keeps working and spools.
    agent = make_agent(
        f"http://127.0.0.1:{port}",
        tokens[Role.AGENT],
        tmp_path,
        {"checks": [{"name": "mem", "type": "memory"}]},
    )
    for _ in range(5):
        await agent.run_once()
    assert agent.reporter.backlog == 10  # a sample and a check event per cycle
    async with running_hub(sqlite_settings, create_credentials=False, port=port) as hub:
        await agent.run_once()
        assert agent.reporter.backlog == 0
        response = await hub.client.get(
            f"/api/agents/{AGENT_ID}", headers={"Authorization": f"Bearer {tokens[Role.VIEWER]}"}
        )
        assert response.json()["last_seq"] == 12
        async with hub.hub.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(agent_events.c.seq, sa.func.count()).group_by(agent_events.c.seq)
                )
            ).all()
    assert sorted(seq for seq, _ in rows) == list(range(1, 13))
    assert all(count == 1 for _, count in rows)


async def test_a_command_for_an_undeclared_action_is_refused_and_reported(
    hub: RunningHub, tmp_path: Path
) -> None:
    agent = make_agent(hub.url, hub.tokens[Role.AGENT], tmp_path, {})
    await agent.run_once()
    forced = await hub.client.post(
        "/api/auto-recovery/self-healing/force",
        json={"host": AGENT_ID, "action": "rm-rf"},
        headers=hub.auth(Role.OPERATOR),
    )
    assert forced.status_code == 422  # the hub knows the agent's declared actions
    sneaky = AgentCommand(
        id=999,
        kind=CommandKind.RUN_ACTION,
        target="rm-rf",
        issued_by="test",
        issued_at=agent._now(),
    )
    await agent.handle_command(sneaky)
    [result] = [e for e in agent._events if e["kind"] == "command_result"]
    assert result["outcome"] == "refused"
    assert "not a declared action" in result["message"]


async def test_a_failing_dependency_opens_its_circuit_and_the_hub_can_reset_it(
    hub: RunningHub, tmp_path: Path
) -> None:
    closed_port = free_port()
    agent = make_agent(
        hub.url,
        hub.tokens[Role.AGENT],
        tmp_path,
        {
            "checks": [
                {
                    "name": "db-probe",
                    "type": "tcp",
                    "host": "127.0.0.1",
                    "port": closed_port,
                    "timeout": 1,
                    "dependency": "db",
                }
            ],
            "dependencies": [
                {"name": "db", "kind": "database", "check": "db-probe", "failure_threshold": 3}
            ],
        },
    )
    for _ in range(3):
        await agent.run_once()
    circuit = await hub.client.get(
        f"/api/auto-recovery/circuit-breaker/circuits/{AGENT_ID}:db",
        headers=hub.auth(Role.VIEWER),
    )
    assert circuit.status_code == 200, circuit.text
    assert circuit.json()["state"] == "open"
    reset = await hub.client.post(
        f"/api/auto-recovery/circuit-breaker/circuits/{AGENT_ID}:db/reset",
        headers=hub.auth(Role.OPERATOR),
    )
    assert reset.status_code == 202, reset.text
    await agent.report()  # the command arrives in the ack and runs
    assert agent.breakers.status("db").state == "closed"


async def test_the_agent_daemon_reports_and_stops_cleanly_on_sigterm(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    creds = tmp_path / "creds.toml"
    config.write_text(
        f'[agent]\nid = "{AGENT_ID}"\ninterval_seconds = 1\nspool_dir = "{tmp_path / "spool"}"\n'
        f'credentials_file = "{creds}"\n\n[[checks]]\nname = "mem"\ntype = "memory"\n'
    )
    agent_cli = [sys.executable, "-c", "from bounceback.agent.cli import main; main()"]
    enroll = await asyncio.create_subprocess_exec(
        *agent_cli,
        "enroll",
        "--hub",
        hub.url,
        "--token",
        hub.tokens[Role.AGENT],
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await enroll.communicate()
    assert enroll.returncode == 0, err.decode()
    daemon = await asyncio.create_subprocess_exec(
        *agent_cli,
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )

    async def last_seq() -> int:
        response = await hub.client.get(f"/api/agents/{AGENT_ID}", headers=hub.auth(Role.VIEWER))
        return int(response.json()["last_seq"]) if response.status_code == 200 else 0

    for _ in range(300):
        if await last_seq() >= 4:
            break
        await asyncio.sleep(0.05)
    daemon.send_signal(signal.SIGTERM)
    _, err = await daemon.communicate()
    assert daemon.returncode == 0, err.decode()
    assert await last_seq() >= 4
    assert not list((tmp_path / "spool").glob("seg-*"))  # everything was delivered
