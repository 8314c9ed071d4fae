"""Simulated agents for bench/soak.py: each reports every ``interval`` seconds, as the real agent
does, one report at a time, to its own replica (agent n to replica n mod 2: client-side
balancing); a report that gets no answer (a replica killed under it, a timeout, a 5xx) goes again,
unchanged, to the other replica until one acknowledges it, and the next report tries its own
replica first again. Not a bench itself.

A report is one sample and one check reading with the agent's next two sequence numbers; its id
is the first. An acknowledged report missing from the store at the end is lost; the soak reads
duplicates from the store (events, and reports the hub applied more than once).

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from _agent_reports import EVENTS_PER_REPORT, report_body

RETRY_S = (0.05, 1.0)  # backoff between attempts of one report: first, most
GIVE_UP_S = 120.0  # a report not acknowledged by then counts as unacknowledged


@dataclass
class FleetTally:
    sent: int = 0  # distinct reports made
    attempts: int = 0
    failed_attempts: int = 0  # no answer, or an answer other than 200
    acknowledged: dict[tuple[str, int], float] = field(default_factory=dict)  # id -> ack time
    replays: int = 0  # acknowledged as a duplicate: an earlier attempt had been stored
    unacknowledged: int = 0
    latencies: list[float] = field(default_factory=list)  # each 200, seconds
    answered_at: list[float] = field(default_factory=list)  # when each of those came
    report_latencies: list[float] = field(default_factory=list)  # first attempt to ack


class Fleet:
    def __init__(
        self,
        urls: list[str],
        tokens: dict[str, str],
        interval: float,
        tally: FleetTally,
        *,
        ramp: float = 0.0,
    ) -> None:
        self._ramp = max(ramp, interval)
        self._urls = urls
        self._tokens = tokens
        self._interval = interval
        self.tally = tally
        self._stop = asyncio.Event()
        # One TLS context for every agent's client (the replicas speak plain HTTP; building a
        # context per client would load the CA bundle a thousand times).
        self._tls = ssl.create_default_context()

    def stop(self) -> None:
        """Send no new report; finish those under way."""
        self._stop.set()

    async def run(self) -> None:
        await asyncio.gather(
            *(
                self._agent(n, agent_id, token)
                for n, (agent_id, token) in enumerate(self._tokens.items())
            )
        )

    async def _agent(self, n: int, agent_id: str, token: str) -> None:
        home = n % len(self._urls)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        await asyncio.sleep(random.uniform(0, self._ramp))  # agents start spread out
        next_at = time.monotonic()
        seq = 1
        # Its own client, as each real agent has: a keep-alive connection to its replica.
        async with httpx.AsyncClient(timeout=10, verify=self._tls) as client:
            while not self._stop.is_set():
                at = datetime.now(UTC).isoformat()
                body = report_body(agent_id, seq, at, n, self._interval)
                await self._deliver(client, agent_id, seq, body, headers, home)
                seq += EVENTS_PER_REPORT
                next_at += self._interval
                with contextlib.suppress(TimeoutError):
                    wait = max(0.0, next_at - time.monotonic())
                    await asyncio.wait_for(self._stop.wait(), wait)

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        agent_id: str,
        seq: int,
        body: bytes,
        headers: dict[str, str],
        replica: int,
    ) -> None:
        """Send one report until a replica acknowledges it, starting with ``replica``."""
        path = f"/api/agents/{agent_id}/reports"
        tally = self.tally
        tally.sent += 1
        began = time.monotonic()
        wait = RETRY_S[0]
        while True:
            tally.attempts += 1
            sent_at = time.monotonic()
            try:
                url = self._urls[replica] + path
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                acked = time.monotonic()
                tally.latencies.append(acked - sent_at)
                tally.answered_at.append(acked)
                tally.report_latencies.append(acked - began)
                ack = response.json()
                if ack["accepted"] == 0 and ack["duplicates"] > 0:
                    tally.replays += 1
                tally.acknowledged[(agent_id, seq)] = time.time()
                return
            tally.failed_attempts += 1
            if time.monotonic() - began > GIVE_UP_S:
                tally.unacknowledged += 1
                return
            # The other replica, after a pause (both may be restarting).
            replica = (replica + 1) % len(self._urls)
            await asyncio.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(wait * 2, RETRY_S[1])
