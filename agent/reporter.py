"""Reports to the hub: events are spooled first, then sent in order, in batches, until the hub
has acknowledged them all. Commands arrive in the acknowledgements."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from bounceback.agent.hub_client import HubClient, HubRefused, HubUnavailable
from bounceback.agent.spool import Spool
from bounceback.api.agent_wire import MAX_EVENTS_PER_REPORT, AgentCommand, AgentEvent

log = logging.getLogger("bounceback.agent.reporter")

_EVENT = TypeAdapter(AgentEvent)


@dataclass
class FlushResult:
    sent: int = 0
    remaining: int = 0
    error: str | None = None
    commands: list[AgentCommand] = field(default_factory=list)


class Reporter:
    def __init__(
        self,
        spool: Spool,
        client: HubClient | None,
        describe: Callable[[], dict[str, Any]],
        now: Callable[[], datetime],
    ) -> None:
        self._spool = spool
        self._client = client
        self._describe = describe  # hostname, version, interval, flags, actions, breakers
        self._now = now

    def record(self, events: list[dict[str, Any]]) -> None:
        """Spool events (dicts of one AgentEvent kind, without ``seq``), numbered in order."""
        dropped = self._spool.take_dropped()
        if dropped:
            events = [{"kind": "loss", "at": self._now(), "dropped": dropped}, *events]
        numbered = self._spool.append(events)
        for event in numbered:
            _EVENT.validate_python(event)  # a malformed event is a bug: fail here, not at the hub

    @property
    def backlog(self) -> int:
        return self._spool.backlog

    async def flush(self) -> FlushResult:
        """Send everything not yet acknowledged (a report with no events when there is none)."""
        result = FlushResult()
        if self._client is None:
            result.remaining = self._spool.backlog
            return result
        first = True
        while True:
            batch = self._spool.pending(MAX_EVENTS_PER_REPORT)
            if not batch and not first:
                break
            first = False
            report = {**self._describe(), "events": batch}
            try:
                ack = await self._client.send_report(report)
            except (HubUnavailable, HubRefused) as exc:
                result.error = str(exc)
                log.warning("report not delivered (%s); %d events kept", exc, self.backlog)
                break
            self._spool.acknowledge(ack.last_seq)
            result.sent += ack.accepted + ack.duplicates
            result.commands.extend(ack.commands)
            if not batch or ack.last_seq < int(batch[-1]["seq"]):
                break
        result.remaining = self._spool.backlog
        return result
