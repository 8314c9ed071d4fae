"""The hub's own HTTP probes of a target's health URLs: status and latency of each request.

A 2xx answer is healthy; anything else, a timeout, a refused connection or a URL that cannot be
requested is an error. Latency is wall time measured on the monotonic clock (the hub clock only
stamps the row), for every request that got an answer. URLs are probed concurrently, the
requests to one URL one after the other, so a probe round never hammers a service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bounceback.api.clock import Clock
from bounceback.api.deployments.store import Probe

USER_AGENT = "bounceback-hub/deployment-probe"
MAX_ERROR = 300


@dataclass(frozen=True)
class UrlHealth:
    url: str
    healthy: bool
    status: int | None
    latency_ms: float | None
    error: str | None


class Prober:
    def __init__(
        self,
        clock: Clock,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._transport = transport

    async def probe(self, urls: Sequence[str], count: int) -> list[Probe]:
        """``count`` requests to each URL; one Probe per request, in URL order."""
        if not urls or count <= 0:
            return []
        async with httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        ) as client:
            rounds = await asyncio.gather(
                *(self._probe_url(client, index, url, count) for index, url in enumerate(urls))
            )
        return [probe for probes in rounds for probe in probes]

    async def check(self, urls: Sequence[str]) -> list[UrlHealth]:
        """One request to each URL (the gate's health check)."""
        probes = await self.probe(urls, 1)
        return [UrlHealth(urls[p.url_index], p.ok, p.status, p.latency_ms, p.error) for p in probes]

    async def _probe_url(
        self, client: httpx.AsyncClient, index: int, url: str, count: int
    ) -> list[Probe]:
        found = []
        for _ in range(count):
            at = self._clock.now()
            started = time.perf_counter()
            try:
                response = await client.get(url)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: cannot be sent
                failure = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
                found.append(Probe(at, index, False, None, None, failure))
                continue
            latency = (time.perf_counter() - started) * 1000
            ok = 200 <= response.status_code < 300
            error = None if ok else f"HTTP {response.status_code}"
            found.append(Probe(at, index, ok, response.status_code, latency, error))
        return found
