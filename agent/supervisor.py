"""The agent's own process supervisor: the ``[[processes]]`` of agent.toml.

Each process is a child in a session of its own, started from an argv (never a shell), so a
stop signal reaches everything it started. A task per process awaits the child's exit — the
event loop's child watcher reports it at once, nothing polls — asks `backoff.decide` what to
do, and restarts it after the backoff delay or gives up on it.

Automatic restarts are reported to ``on_event`` the way the healer reports an action: *started*
when the exit is seen (readings before: ``up``, ``exit_code``, ``uptime_s``), then *succeeded*
or *failed* once the new child runs or could not be started (readings after: ``up``, ``pid``,
``restart_delay_s``). Giving up is one *gave_up* event with ``escalate=True``.

A restart on request (`Supervisor.restart`, the ``restart_process`` action) is reported by the
healer that asked for it. It starts the process at once, does not count toward the limiter and
clears a give-up: a person or the hub decided, as with ``monit monitor`` or
``systemctl reset-failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType

from bounceback.agent.backoff import RestartHistory, RestartPolicy, RestartVerdict, decide
from bounceback.agent.process_spec import ProcessSpec
from bounceback.agent.supervisor_events import (
    ProcessState,
    ProcessStatus,
    SupervisorEvent,
    UnknownProcess,
)
from bounceback.api.agent_wire import HealingOutcome

log = logging.getLogger("bounceback.agent.supervisor")
_BASE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


@dataclass(eq=False)
class _Child:
    spec: ProcessSpec
    policy: RestartPolicy
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # spawn, stop and restart
    state: ProcessState = ProcessState.STOPPED
    history: RestartHistory = field(default_factory=RestartHistory)
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0  # monotonic
    start_error: str = ""
    restarts: int = 0
    last_exit_code: int | None = None
    watcher: asyncio.Task[None] | None = None
    pending: SupervisorEvent | None = None  # a started attempt not yet finished


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class Supervisor:
    """Starts, watches and restarts processes; `start` once, `stop_all` on shutdown.

    ``clock`` (monotonic seconds) and ``sleep`` drive the backoff and are what tests replace;
    ``now`` stamps the events. Children start from ``base_env`` (by default PATH, LANG, LC_ALL,
    TZ and HOME, not the agent's tokens) plus the process's own ``env``.
    """

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        on_event: Callable[[SupervisorEvent], None] = lambda event: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _utc_now,
        new_id: Callable[[], str] = _new_id,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self._children: dict[str, _Child] = {}
        for spec in specs:
            if spec.name in self._children:
                raise ValueError(f"[[processes]] declares {spec.name!r} twice")
            if spec.stop_signal not in signal.Signals.__members__:
                raise ValueError(f"process {spec.name}: unknown stop_signal {spec.stop_signal!r}")
            self._children[spec.name] = _Child(spec, RestartPolicy.from_spec(spec))
        self._on_event = on_event
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._new_id = new_id
        if base_env is None:
            base_env = {key: os.environ[key] for key in _BASE_ENV_KEYS if key in os.environ}
        self._base_env = dict(base_env)

    async def __aenter__(self) -> Supervisor:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_all()

    @property
    def names(self) -> list[str]:
        return list(self._children)

    async def start(self) -> None:
        """Start every process not already running; returns once each has been spawned."""
        for child in self._children.values():
            async with child.lock:
                if child.state is ProcessState.STOPPED:
                    await self._launch(child)

    async def restart(self, name: str) -> None:
        """Stop ``name`` (stop signal, then SIGKILL) and start it again at once, whatever its
        state; returns once the new child runs (or could not be started)."""
        child = self._child(name)
        async with child.lock:
            await self._halt(child, "restarted on request")
            child.history = RestartHistory()
            await self._launch(child)

    async def stop(self, name: str) -> None:
        child = self._child(name)
        async with child.lock:
            await self._halt(child, "stopped on request")

    async def stop_all(self) -> None:
        """Drain on shutdown: stop every process at once, each within its stop timeout."""
        await asyncio.gather(*(self.stop(name) for name in self._children))

    def pid(self, name: str) -> int | None:
        child = self._child(name)
        return child.proc.pid if child.proc is not None else None

    def status(self, name: str) -> ProcessStatus:
        child = self._child(name)
        running = child.proc is not None
        return ProcessStatus(
            name=name,
            state=child.state,
            pid=child.proc.pid if child.proc is not None else None,
            restarts=child.restarts,
            uptime_seconds=self._clock() - child.started if running else None,
            last_exit_code=child.last_exit_code,
        )

    def statuses(self) -> list[ProcessStatus]:
        return [self.status(name) for name in self._children]

    def _child(self, name: str) -> _Child:
        try:
            return self._children[name]
        except KeyError:
            known = ", ".join(self._children) or "none"
            raise UnknownProcess(
                f"no [[processes]] entry named {name!r} (declared: {known})"
            ) from None

    async def _launch(self, child: _Child) -> None:
        await self._spawn(child)
        watcher = asyncio.create_task(self._watch(child), name=f"supervise:{child.spec.name}")
        watcher.add_done_callback(_report_crash)
        child.watcher = watcher

    async def _spawn(self, child: _Child) -> None:
        """Start the child (the caller holds its lock); a failure is left for `_watch`."""
        spec = child.spec
        child.state = ProcessState.STARTING
        # From before the spawn: a busy loop resuming late must not shorten the uptime.
        started = self._clock()
        try:
            child.proc = await asyncio.create_subprocess_exec(
                *spec.command,
                cwd=spec.cwd,
                env={**self._base_env, **spec.env},
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            child.proc = None
            child.start_error = f"cannot start {spec.command[0]!r}: {exc.strerror or exc}"
            log.warning("process %s: %s", spec.name, child.start_error)
            return
        child.started = started
        child.start_error = ""
        child.state = ProcessState.RUNNING

    async def _watch(self, child: _Child) -> None:
        while True:
            before = await self._exit(child)
            decision = decide(
                child.policy, child.history, uptime=before["uptime_s"], now=self._clock()
            )
            child.history = decision.history
            before["restarts_in_window"] = float(decision.restarts_in_window)
            reason = (
                f"{child.start_error}; {decision.reason}" if child.start_error else decision.reason
            )
            event = SupervisorEvent(
                attempt_id=self._new_id(),
                process=child.spec.name,
                outcome=HealingOutcome.STARTED,
                reason=reason,
                started_at=self._now(),
                before=before,
            )
            if decision.verdict is RestartVerdict.GIVE_UP:
                child.state = ProcessState.GAVE_UP
                log.error("process %s: %s", child.spec.name, reason)
                gave_up = HealingOutcome.GAVE_UP
                self._emit(
                    replace(event, outcome=gave_up, finished_at=event.started_at, escalate=True)
                )
                return
            child.state = ProcessState.BACKOFF
            child.pending = event
            log.warning("process %s: %s", child.spec.name, reason)
            self._emit(child.pending)
            await self._sleep(decision.delay)
            async with child.lock:
                child.restarts += 1
                await self._spawn(child)
                after = {"up": 0.0, "restart_delay_s": decision.delay}
                if child.proc is None:
                    self._finish(child, HealingOutcome.FAILED, child.start_error, after)
                else:
                    after |= {"up": 1.0, "pid": float(child.proc.pid)}
                    self._finish(child, HealingOutcome.SUCCEEDED, "running again", after)

    async def _exit(self, child: _Child) -> dict[str, float]:
        """Wait for the child to end; the readings of a process that is down."""
        proc = child.proc
        if proc is None:  # it could not be started
            return {"up": 0.0, "uptime_s": 0.0}
        code = await proc.wait()
        uptime = self._clock() - child.started
        self._reaped(child, proc, code)
        return {"up": 0.0, "exit_code": float(code), "uptime_s": uptime}

    async def _halt(self, child: _Child, why: str) -> None:
        """Stop watching and end the child: stop signal to its group, SIGKILL after the stop
        timeout. The caller holds the lock, so no restart can be half-way through a spawn."""
        watcher, child.watcher = child.watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.wait([watcher])  # never raises: our own cancellation stays ours
        if child.pending is not None:
            self._finish(child, HealingOutcome.FAILED, f"{why} before the restart", {"up": 0.0})
        proc = child.proc
        if proc is not None:
            _signal_group(proc.pid, signal.Signals[child.spec.stop_signal])
            try:
                async with asyncio.timeout(child.spec.stop_timeout_seconds):
                    code = await proc.wait()
            except TimeoutError:
                log.warning(
                    "process %s ignored %s: SIGKILL", child.spec.name, child.spec.stop_signal
                )
                _signal_group(proc.pid, signal.SIGKILL)
                code = await proc.wait()
            self._reaped(child, proc, code)
        child.state = ProcessState.STOPPED

    def _reaped(self, child: _Child, proc: asyncio.subprocess.Process, code: int) -> None:
        child.proc = None
        child.last_exit_code = code
        # Whatever the leader left behind in its session (workers holding its port) goes too.
        _signal_group(proc.pid, signal.SIGKILL)

    def _finish(
        self, child: _Child, outcome: HealingOutcome, reason: str, after: dict[str, float]
    ) -> None:
        started, child.pending = child.pending, None
        if started is not None:
            now = self._now()
            self._emit(
                replace(started, outcome=outcome, reason=reason, after=after, finished_at=now)
            )

    def _emit(self, event: SupervisorEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # one failing listener never stops supervision
            log.exception("on_event failed for %s (%s)", event.process, event.outcome)


def _report_crash(watcher: asyncio.Task[None]) -> None:
    if not watcher.cancelled() and (exc := watcher.exception()) is not None:
        log.error("%s ended: restarts stopped", watcher.get_name(), exc_info=exc)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
