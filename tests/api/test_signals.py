"""Signals within one hub process (the SQLite case): events, subscriptions, resync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bounceback.api.signals import AGENT_COMMANDS, CHANGES, RESYNC, Deliver, Signals

pytestmark = pytest.mark.anyio


class LoopbackTransport:
    """What a transport sees: sent signals kept; deliveries and resyncs driven by the test."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.deliver: Deliver | None = None
        self.resync: Callable[[], None] | None = None

    async def start(self, deliver: Deliver, resync: Callable[[], None]) -> None:
        self.deliver, self.resync = deliver, resync

    def send(self, channel: str, key: str) -> None:
        self.sent.append((channel, key))

    async def stop(self) -> None:
        pass


async def test_a_published_signal_sets_the_event_taken_for_its_key_only() -> None:
    signals = Signals()
    web1 = signals.event(AGENT_COMMANDS, "web-1")
    web2 = signals.event(AGENT_COMMANDS, "web-2")
    signals.publish(AGENT_COMMANDS, "web-1")
    assert web1.is_set() and not web2.is_set()
    # One-shot: the next wait takes a fresh event.
    assert not signals.event(AGENT_COMMANDS, "web-1").is_set()
    assert not signals.shared


async def test_a_subscription_gets_the_keys_published_since_its_last_read_as_one_set() -> None:
    signals = Signals()
    async with signals.subscribe(CHANGES) as changes:
        signals.publish(CHANGES, "incident")
        signals.publish(CHANGES, "agent")
        signals.publish(CHANGES, "incident")
        signals.publish(AGENT_COMMANDS, "web-1")  # another channel
        assert await anext(changes) == {"incident", "agent"}
        waiting = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0)
        assert not waiting.done()
        signals.publish(CHANGES, "deployment")
        assert await asyncio.wait_for(waiting, 5) == {"deployment"}
    signals.publish(CHANGES, "incident")  # after the block: nobody listens, nothing breaks


async def test_a_read_cancelled_by_a_keep_alive_timeout_loses_no_key() -> None:
    signals = Signals()
    async with signals.subscribe(CHANGES) as changes:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(changes), 0.01)
        signals.publish(CHANGES, "agent")
        assert await anext(changes) == {"agent"}


async def test_signals_go_to_the_transport_and_its_deliveries_wake_local_waiters() -> None:
    transport = LoopbackTransport()
    signals = Signals(transport)
    await signals.start()
    assert signals.shared
    signals.publish(AGENT_COMMANDS, "web-1")
    assert transport.sent == [(AGENT_COMMANDS, "web-1")]
    remote = signals.event(AGENT_COMMANDS, "web-2")
    assert transport.deliver is not None
    transport.deliver(AGENT_COMMANDS, "web-2")  # another replica's command
    assert remote.is_set()


async def test_a_resync_wakes_every_waiter_and_tells_every_subscriber_to_look_again() -> None:
    transport = LoopbackTransport()
    signals = Signals(transport)
    await signals.start()
    waiting = [signals.event(AGENT_COMMANDS, f"web-{n}") for n in range(3)]
    async with signals.subscribe(CHANGES) as changes:
        assert transport.resync is not None
        transport.resync()
        assert all(event.is_set() for event in waiting)
        assert await anext(changes) == {RESYNC}


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    signals = Signals()
    heard: list[str] = []

    def broken(key: str) -> None:
        raise RuntimeError("listener bug")

    signals.on(CHANGES, broken)
    stop = signals.on(CHANGES, heard.append)
    signals.publish(CHANGES, "incident")
    stop()
    signals.publish(CHANGES, "agent")
    assert heard == ["incident"]
