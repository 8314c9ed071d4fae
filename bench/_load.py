"""The load generator of bench/ingest.py: N keep-alive HTTP/1.1 connections on raw asyncio
sockets, each sending a prebuilt request and reading its response by Content-Length before
sending the next, spread over one or more servers. Not a bench itself.

A helper module, not a script: it has no --quick of its own; the scripts that import it take
--quick and pass the shorter run down.
"""

from __future__ import annotations

import asyncio
import functools
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from _support import cpu_seconds


@dataclass
class Tally:
    """What the clients saw: every answer (for the durability check) and the measured window."""

    ok: int = 0
    not_ok: int = 0
    broken: int = 0  # connections lost with a request in flight
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    firing_ok: int = 0
    accepted: int = 0  # agent events the hub said it stored ("accepted": n)
    measuring: bool = False
    window_ok: int = 0
    window_not_ok: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Prebuilt:
    wire: bytes
    firing: bool = False


Pick = Callable[[int], Prebuilt]  # the n-th request a client sends (from its own start)

_ACTIONS = (b'"action":"created"', b'"action":"updated"', b'"action":"ignored"')
_ACCEPTED = b'"accepted":'


class Client(asyncio.Protocol):
    """One keep-alive connection: send a request, read its response, send the next."""

    def __init__(self, pick: Pick, first: int, tally: Tally) -> None:
        self._pick = pick
        self._next = first
        self._tally = tally
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._need = -1  # bytes of header + body of the response being read; -1: header unknown
        self._status = 0
        self._body_at = 0
        self._current: Prebuilt | None = None
        self._sent_at = 0.0
        self.stopping = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        if self.stopping:
            self._current = None
            if not self.done.done():
                self.done.set_result(None)
            return
        request = self._pick(self._next)
        self._next += 1
        self._current = request
        self._sent_at = time.perf_counter()
        self._transport.write(request.wire)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._need < 0:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self._buffer[:end].lower()
                self._status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    raise RuntimeError("the bench reads responses by Content-Length only")
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self._body_at = end + 4
                self._need = self._body_at + length
            if len(self._buffer) < self._need:
                return
            body = self._buffer[self._body_at : self._need]
            self._buffer = self._buffer[self._need :]
            self._need = -1
            self._record(body)
            self._send()

    def _record(self, body: bytes) -> None:
        tally = self._tally
        status = self._status
        tally.statuses[status] += 1
        if 200 <= status < 300:
            tally.ok += 1
            if self._current is not None and self._current.firing:
                tally.firing_ok += 1
            for action in _ACTIONS:
                if action in body:
                    tally.actions[action[10:-1].decode()] += 1
                    break
            at = body.find(_ACCEPTED)
            if at >= 0:
                end = at + len(_ACCEPTED)
                while body[end : end + 1].isdigit():
                    end += 1
                tally.accepted += int(body[at + len(_ACCEPTED) : end])
            if tally.measuring:
                tally.window_ok += 1
                tally.latencies.append(time.perf_counter() - self._sent_at)
        else:
            tally.not_ok += 1
            if tally.measuring:
                tally.window_not_ok += 1

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._current is not None:
            self._tally.broken += 1
            self._current = None
        if not self.done.done():
            self.done.set_result(None)


@dataclass(frozen=True)
class Round:
    rps: float
    ok: int
    not_ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # CPU seconds per second of the server processes (1.0 = one core)
    client_cpu: float  # the same for this load generator


@dataclass(frozen=True)
class Target:
    """A server and what to send it: ``pick(n)`` for n in [0, span)."""

    port: int
    pid: int
    pick: Pick
    span: int


async def drive(
    targets: list[Target],
    tally: Tally,
    *,
    connections: int,
    warmup: float,
    seconds: float,
) -> Round:
    """Keep ``connections`` requests in flight, spread over ``targets``, for warmup + seconds;
    measure the last part. Each connection starts at its own point of its target's requests."""
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    for n in range(connections):
        target = targets[n % len(targets)]
        share = (connections - n % len(targets) + len(targets) - 1) // len(targets)
        stride = max(1, target.span // share)
        first = (n // len(targets)) * stride + random.randrange(stride)
        _, client = await loop.create_connection(
            functools.partial(Client, target.pick, first, tally), "127.0.0.1", target.port
        )
        clients.append(client)
    pids = [target.pid for target in targets]
    await asyncio.sleep(warmup)
    tally.window_ok = tally.window_not_ok = 0
    tally.latencies = []
    tally.measuring = True
    started = time.perf_counter()
    server_began = sum(cpu_seconds(pid) for pid in pids)
    client_began = time.process_time()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    tally.measuring = False
    server_cpu = (sum(cpu_seconds(pid) for pid in pids) - server_began) / elapsed
    client_cpu = (time.process_time() - client_began) / elapsed
    ok, not_ok = tally.window_ok, tally.window_not_ok
    for client in clients:
        client.stopping = True
    await asyncio.wait_for(asyncio.gather(*(client.done for client in clients)), timeout=60)
    for client in clients:
        client.close()
    latencies = sorted(tally.latencies)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return Round(ok / elapsed, ok, not_ok, elapsed, p50 * 1000, p99 * 1000, server_cpu, client_cpu)


async def send_all(ports: list[int], wires: list[bytes], tally: Tally) -> None:
    """Send each request once over 16 keep-alive connections per port, recording the answers
    in ``tally`` (a warm-up: not measured)."""
    pending = iter(wires)

    async def worker(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for wire in pending:  # shared by the workers: each request goes once
            writer.write(wire)
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            at = head.index(b"content-length:") + 15
            body = await reader.readexactly(int(head[at : head.index(b"\r\n", at)]))
            if head[9:10] == b"2":
                tally.ok += 1
                found = body.find(_ACCEPTED)
                if found >= 0:
                    digits = body[found + len(_ACCEPTED) :].split(b",", 1)[0]
                    tally.accepted += int(digits)
            else:
                tally.not_ok += 1
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(worker(port) for port in ports for _ in range(16)))
