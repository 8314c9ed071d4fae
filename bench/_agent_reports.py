"""Agent reports as bench/ingest.py sends them: what a healthy agent sends every interval (a
sample of its host's metrics and the readings of three checks), each with its own token and the
next sequence numbers of its agent, so every report is new to the hub. Not a bench itself.

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from _load import Prebuilt

from bounceback.api.store.db import Database
from bounceback.api.store.tables import agent_events, audit_log

EVENTS_PER_REPORT = 2
SEQS_PER_AGENT = 1_000_000  # far more than a run sends: clients never meet on one (agent, seq)


def agent_ids(count: int) -> list[str]:
    return [f"bench-{n:05d}" for n in range(count)]


def report_body(agent_id: str, seq: int, at: str, n: int, interval: float = 60) -> bytes:
    memory = 40 + n % 30
    disk = 30 + n % 40
    return json.dumps(
        {
            "hostname": f"{agent_id}.bench.internal",
            "version": "0.1.0",
            "interval_seconds": interval,  # 60: silent after 3 min, never within an ingest run
            "self_healing_enabled": True,
            "actions": ["restart-app", "clean-tmp"],
            "breakers": [],
            "events": [
                {
                    "kind": "sample",
                    "seq": seq,
                    "at": at,
                    "metrics": {
                        "cpu_percent": 10 + n % 50,
                        "memory_percent": memory,
                        "disk_percent:/": disk,
                        "load1": 0.5,
                    },
                },
                {
                    "kind": "check",
                    "seq": seq + 1,
                    "at": at,
                    "readings": [
                        {
                            "check": "memory",
                            "type": "memory",
                            "status": "ok",
                            "value": memory,
                            "unit": "%",
                            "threshold": 90,
                        },
                        {
                            "check": "disk-root",
                            "type": "disk",
                            "status": "ok",
                            "value": disk,
                            "unit": "%",
                            "threshold": 90,
                            "target": "/",
                        },
                        {
                            "check": "app",
                            "type": "http",
                            "status": "ok",
                            "value": 12.0,
                            "unit": "ms",
                            "target": "http://127.0.0.1:8080/health",
                        },
                    ],
                },
            ],
        },
        separators=(",", ":"),
    ).encode()


class AgentReports:
    """``pick(n)``: the n-th report, from agent n mod A with that agent's next sequence numbers."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._agents = list(tokens)
        self._heads = [
            f"POST /api/agents/{agent_id}/reports HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\n"
            f"User-Agent: bounceback-bench\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n".encode()
            for agent_id, token in tokens.items()
        ]

    @property
    def span(self) -> int:
        return len(self._agents) * SEQS_PER_AGENT

    def pick(self, n: int) -> Prebuilt:
        count = len(self._agents)
        agent = n % count
        seq = (n // count) * EVENTS_PER_REPORT + 1
        at = datetime.now(UTC).isoformat()
        body = report_body(self._agents[agent], seq, at, n)
        head = self._heads[agent] + f"Content-Length: {len(body)}\r\n\r\n".encode()
        return Prebuilt(head + body)


async def stored(db: Database) -> dict[str, int]:
    """What the store holds after the run: events and report audit records."""
    async with db.read() as conn:
        events = await conn.scalar(sa.select(sa.func.count()).select_from(agent_events))
        reports = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.action == "agent.report")
        )
    return {"events": int(events or 0), "reports": int(reports or 0)}
