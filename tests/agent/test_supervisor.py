"""The supervisor against real child processes (small ``python -c`` scripts).

Backoff delays are asserted as the policy computed them (a recording ``sleep``), never as
wall-clock durations; a frozen ``clock`` makes every exit a quick one inside the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bounceback.agent.action_spec import RestartProcess
from bounceback.agent.actions_context import ActionContext, ProcessControl
from bounceback.agent.actions_process import restart_process
from bounceback.agent.process_spec import ProcessSpec
from bounceback.agent.supervisor import Supervisor
from bounceback.agent.supervisor_events import (
    ProcessState,
    SupervisorEvent,
    UnknownProcess,
)
from bounceback.api.agent_wire import HealingOutcome

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SLEEPER = "import time; time.sleep(60)"
DIER = "raise SystemExit(3)"
WAIT = 10.0  # seconds before a test that waits for an event fails
Outcome = HealingOutcome


def script(code: str, name: str = "app", **fields: Any) -> ProcessSpec:
    return ProcessSpec(name=name, command=[sys.executable, "-c", code], **fields)


class Events:
    """The supervisor's ``on_event``, which a test can wait on."""

    def __init__(self) -> None:
        self.seen: list[SupervisorEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: SupervisorEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def outcomes(self) -> list[HealingOutcome]:
        return [event.outcome for event in self.seen]

    def count(self, outcome: HealingOutcome) -> int:
        return self.outcomes().count(outcome)

    async def until(self, done: Callable[[Events], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not done(self):
                self._changed.clear()
                await self._changed.wait()


class Sleeps:
    """A ``sleep`` that records each backoff delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def frozen() -> float:
    return 1000.0


@contextlib.asynccontextmanager
async def reports() -> AsyncIterator[tuple[str, asyncio.Queue[str]]]:
    """A loopback listener child scripts report to: (code that sends ``what``, lines received)."""
    lines: asyncio.Queue[str] = asyncio.Queue()

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.put_nowait((await reader.readline()).decode().strip())
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(take, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    send = (
        f"import socket; socket.create_connection(('127.0.0.1', {port})).sendall(b'%s\\n' % what)"
    )
    try:
        yield send, lines
    finally:
        server.close()
        await server.wait_closed()


async def exited(pid: int) -> None:
    """Return once ``pid`` (not our child) has ended, told by its pidfd."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(pidfd, ended.set_result, None)
    try:
        async with asyncio.timeout(WAIT):
            await ended
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def test_process_that_exits_is_restarted() -> None:
    events = Events()
    spec = script("import time; time.sleep(0.05)", backoff_initial_seconds=0.01, max_restarts=50)
    async with Supervisor([spec], on_event=events) as supervisor:
        first = supervisor.pid("app")
        await events.until(lambda e: e.count(Outcome.SUCCEEDED) >= 1)
        started, succeeded = events.seen[:2]
    assert first is not None
    assert (started.outcome, succeeded.outcome) == (Outcome.STARTED, Outcome.SUCCEEDED)
    assert started.attempt_id == succeeded.attempt_id
    assert started.before["up"] == 0.0
    assert started.before["exit_code"] == 0.0
    assert succeeded.after["up"] == 1.0
    assert succeeded.after["pid"] != first
    assert succeeded.after["restart_delay_s"] == 0.01
    assert succeeded.finished_at is not None


async def test_sigkilled_process_is_restarted_after_the_initial_delay() -> None:
    events, sleeps = Events(), Sleeps()
    spec = script(SLEEPER, backoff_initial_seconds=0.05)
    async with Supervisor([spec], on_event=events, sleep=sleeps) as supervisor:
        victim = supervisor.pid("app")
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        await events.until(lambda e: e.count(Outcome.SUCCEEDED) == 1)
        status = supervisor.status("app")
    started = events.seen[0]
    assert started.before["exit_code"] == -signal.SIGKILL
    assert sleeps.delays == [0.05]
    assert status.pid is not None and status.pid != victim
    assert status.restarts == 1
    assert status.last_exit_code == -signal.SIGKILL


async def test_always_dying_process_gets_exactly_max_restarts_then_gives_up() -> None:
    events, sleeps = Events(), Sleeps()
    spec = script(DIER, max_restarts=3)
    async with Supervisor([spec], on_event=events, clock=frozen, sleep=sleeps) as supervisor:
        await events.until(lambda e: Outcome.GAVE_UP in e.outcomes())
        await asyncio.sleep(0.1)  # nothing more happens after giving up
        status = supervisor.status("app")
    assert events.outcomes() == [Outcome.STARTED, Outcome.SUCCEEDED] * 3 + [Outcome.GAVE_UP]
    gave_up = events.seen[-1]
    assert gave_up.escalate is True
    assert gave_up.before == {
        "up": 0.0,
        "exit_code": 3.0,
        "uptime_s": 0.0,
        "restarts_in_window": 3.0,
    }
    assert "max_restarts = 3" in gave_up.reason
    assert not any(event.escalate for event in events.seen[:-1])
    assert (status.state, status.pid, status.restarts) == (ProcessState.GAVE_UP, None, 3)
    assert status.last_exit_code == 3


async def test_crash_loop_backoff_grows_and_is_capped() -> None:
    sleeps = Sleeps()
    spec = script(DIER, backoff_initial_seconds=0.1, backoff_max_seconds=0.3, max_restarts=5)
    events = Events()
    async with Supervisor([spec], on_event=events, clock=frozen, sleep=sleeps):
        await events.until(lambda e: Outcome.GAVE_UP in e.outcomes())
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])


async def test_backoff_resets_after_stable_uptime() -> None:
    # Each run lasts at least 0.3 s, longer than stable_after: every exit is a fresh one.
    sleeps, events = Sleeps(), Events()
    spec = script(
        "import time; time.sleep(0.3)",
        stable_after_seconds=0.1,
        backoff_initial_seconds=0.1,
        max_restarts=50,
    )
    async with Supervisor([spec], on_event=events, sleep=sleeps):
        await events.until(lambda e: e.count(Outcome.SUCCEEDED) >= 3)
    assert sleeps.delays[:3] == [0.1, 0.1, 0.1]


async def test_process_that_cannot_start_counts_toward_the_limit() -> None:
    events, sleeps = Events(), Sleeps()
    spec = ProcessSpec(name="ghost", command=["/nonexistent/bounceback-test"], max_restarts=2)
    async with Supervisor([spec], on_event=events, clock=frozen, sleep=sleeps) as supervisor:
        await events.until(lambda e: Outcome.GAVE_UP in e.outcomes())
        assert supervisor.status("ghost").state is ProcessState.GAVE_UP
    assert events.outcomes() == [Outcome.STARTED, Outcome.FAILED] * 2 + [Outcome.GAVE_UP]
    failed = events.seen[1]
    assert failed.after == {"up": 0.0, "restart_delay_s": 0.1}
    assert "cannot start '/nonexistent/bounceback-test'" in failed.reason
    assert "cannot start" in events.seen[-1].reason


async def test_stop_sends_the_declared_stop_signal_to_the_group() -> None:
    events = Events()
    async with reports() as (send, lines):
        code = (
            "import subprocess, sys, time;"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"what = str(p.pid).encode(); {send}; time.sleep(60)"
        )
        supervisor = Supervisor([script(code, stop_signal="SIGUSR1")], on_event=events)
        async with supervisor:
            grandchild = int(await asyncio.wait_for(lines.get(), WAIT))
        await exited(grandchild)  # within WAIT, or the test fails on the timeout
    assert supervisor.status("app").last_exit_code == -signal.SIGUSR1
    assert supervisor.status("app").state is ProcessState.STOPPED
    assert events.seen == []  # stopping on request is not a crash


async def test_stop_kills_a_process_that_ignores_the_stop_signal() -> None:
    async with reports() as (send, lines):
        code = (
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            f"what = b'ready'; {send}; time.sleep(60)"
        )
        supervisor = Supervisor([script(code, stop_timeout_seconds=0.2)])
        async with supervisor:
            assert await asyncio.wait_for(lines.get(), WAIT) == "ready"
    status = supervisor.status("app")
    assert (status.state, status.pid) == (ProcessState.STOPPED, None)
    assert status.last_exit_code == -signal.SIGKILL


async def test_stop_during_backoff_cancels_the_pending_restart() -> None:
    events = Events()
    spec = script(DIER, backoff_initial_seconds=30)
    supervisor = Supervisor([spec], on_event=events)
    async with supervisor:
        await events.until(lambda e: e.outcomes() == [Outcome.STARTED])
        assert supervisor.status("app").state is ProcessState.BACKOFF
    assert events.outcomes() == [Outcome.STARTED, Outcome.FAILED]
    assert events.seen[1].reason == "stopped on request before the restart"
    assert supervisor.status("app").state is ProcessState.STOPPED


async def test_restart_on_request_replaces_a_running_process() -> None:
    events = Events()
    async with Supervisor([script(SLEEPER)], on_event=events) as supervisor:
        control: ProcessControl = supervisor
        before = control.pid("app")
        await control.restart("app")
        after = control.pid("app")
        status = supervisor.status("app")
    assert before is not None and after is not None and after != before
    assert (status.state, status.restarts) == (ProcessState.RUNNING, 0)
    assert events.seen == []  # the healer that asked reports it


async def test_restart_process_action_drives_the_supervisor() -> None:
    action = RestartProcess(name="bounce-web", type="restart_process", process="web")
    async with Supervisor([script(SLEEPER, name="web")]) as supervisor:
        before = supervisor.pid("web")
        outcome = await restart_process(action, ActionContext(processes=supervisor))
        after = supervisor.pid("web")
    assert outcome.ok, outcome.message
    assert outcome.message == f"restarted process web (pid {before} → {after})"


async def test_restart_on_request_revives_a_process_given_up_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.touch()
    code = f"import os, time; os.path.exists({str(broken)!r}) and exit(1); time.sleep(60)"
    events, sleeps = Events(), Sleeps()
    spec = script(code, max_restarts=2)
    async with Supervisor([spec], on_event=events, clock=frozen, sleep=sleeps) as supervisor:
        await events.until(lambda e: Outcome.GAVE_UP in e.outcomes())
        broken.unlink()  # someone fixed it
        await supervisor.restart("app")
        status = supervisor.status("app")
    assert status.state is ProcessState.RUNNING
    assert status.pid is not None


async def test_status_reports_every_process() -> None:
    specs = [script(SLEEPER, name="web"), script(SLEEPER, name="worker")]
    async with Supervisor(specs, clock=frozen) as supervisor:
        statuses = supervisor.statuses()
    assert [s.name for s in statuses] == ["web", "worker"]
    assert {s.state for s in statuses} == {ProcessState.RUNNING}
    assert all(s.pid is not None and s.uptime_seconds == 0.0 for s in statuses)
    assert all(s.last_exit_code is None for s in statuses)


async def test_a_failing_listener_does_not_stop_restarts(caplog: pytest.LogCaptureFixture) -> None:
    events, sleeps = Events(), Sleeps()

    def broken(event: SupervisorEvent) -> None:
        events(event)
        raise RuntimeError("listener bug")

    spec = script(DIER, max_restarts=2)
    async with Supervisor([spec], on_event=broken, clock=frozen, sleep=sleeps):
        await events.until(lambda e: Outcome.GAVE_UP in e.outcomes())
    assert events.count(Outcome.SUCCEEDED) == 2
    assert "on_event failed" in caplog.text


async def test_unknown_process_names_the_declared_ones() -> None:
    supervisor = Supervisor([script(SLEEPER, name="web")])
    with pytest.raises(UnknownProcess, match=r"'db' \(declared: web\)"):
        await supervisor.restart("db")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="declares 'web' twice"):
        Supervisor([script(SLEEPER, name="web"), script(SLEEPER, name="web")])


def test_event_becomes_a_healing_attempt() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    event = SupervisorEvent(
        attempt_id="a1",
        process="web",
        outcome=Outcome.GAVE_UP,
        reason="gave up",
        started_at=at,
        finished_at=at,
        before={"up": 0.0, "exit_code": 1.0},
        escalate=True,
    )
    attempt = event.as_attempt()
    assert attempt.trigger == "supervisor:web"
    assert (attempt.type, attempt.target) == ("restart_process", "web")
    assert attempt.action == "supervisor"
    assert (attempt.outcome, attempt.escalate) == (Outcome.GAVE_UP, True)
    assert attempt.before == {"up": 0.0, "exit_code": 1.0}
