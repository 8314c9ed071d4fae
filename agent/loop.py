"""The agent daemon: each cycle checks, drives breakers, heals, reports; commands run as they come.

``run_once()`` is one cycle and what tests call; ``run()`` repeats it every interval (minus the
time the cycle took) until ``stop`` is set, while a second task long-polls the hub for commands.
One failing part never stops the loop. On stop: supervised processes are stopped and the spool
is flushed once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from bounceback.agent.breaker import CircuitBreaker
from bounceback.agent.breaker_state import State
from bounceback.agent.checks_evaluator import CheckEvaluator, metrics
from bounceback.agent.config import AgentConfig, DependencySpec
from bounceback.agent.healing import ActionRefused, Healer
from bounceback.agent.hub_client import HubClient, HubRefused, HubUnavailable
from bounceback.agent.reporter import Reporter
from bounceback.agent.supervisor import Supervisor
from bounceback.agent.supervisor_events import SupervisorEvent
from bounceback.api.agent_wire import (
    AgentCommand,
    BreakerState,
    BreakerStatus,
    CheckReading,
    CommandKind,
    HealingAttempt,
)

log = logging.getLogger("bounceback.agent")

VERSION = "0.1.0"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Breakers:
    """One breaker per declared dependency, driven by its probe check's raw result."""

    def __init__(
        self,
        dependencies: list[DependencySpec],
        on_change: Callable[[Any], None],
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._now = now
        self._specs = {dependency.name: dependency for dependency in dependencies}
        self._breakers = {
            dependency.name: CircuitBreaker(
                dependency.name,
                failure_threshold=dependency.failure_threshold,
                recovery_timeout=dependency.recovery_timeout_ms / 1000,
                success_threshold=dependency.success_threshold,
                clock=clock,
            )
            for dependency in dependencies
        }
        self._on_change = on_change
        for breaker in self._breakers.values():
            breaker.add_listener(self._changed)

    def _changed(self, name: str, old: State, new: State) -> None:
        self._on_change(
            {
                "kind": "breaker",
                "at": self._now(),
                "previous": BreakerState(old.value),
                "status": self.status(name),
            }
        )

    def status(self, name: str) -> BreakerStatus:
        snapshot = self._breakers[name].snapshot()
        return BreakerStatus(
            dependency=name,
            kind=self._specs[name].kind.value,
            state=BreakerState(snapshot.state.value),
            failures=snapshot.consecutive_failures,
            successes=snapshot.half_open_successes,
        )

    def statuses(self) -> list[BreakerStatus]:
        return [self.status(name) for name in self._breakers]

    def observe(self, dependency: str, breached: bool | None) -> None:
        breaker = self._breakers[dependency]
        if not breaker.allow_request():
            return  # open: the probe result does not count until a trial is due
        if breached is False:
            breaker.record_success()
        else:
            breaker.record_failure()

    def reset(self, name: str) -> None:
        self._breakers[name].reset()

    def force_open(self, name: str) -> None:
        self._breakers[name].force_open()

    def __contains__(self, name: object) -> bool:
        return name in self._breakers


class AgentLoop:
    def __init__(
        self,
        config: AgentConfig,
        *,
        evaluator: CheckEvaluator,
        healer: Healer,
        reporter: Reporter,
        supervisor: Supervisor | None = None,
        client: HubClient | None = None,
        breakers: Breakers | None = None,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._http = http  # shared by probes and actions; closed on stop
        self.config = config
        self.evaluator = evaluator
        self.healer = healer
        self.reporter = reporter
        self.supervisor = supervisor
        self.client = client
        self._now = now
        self._events: list[dict[str, Any]] = []
        self.breakers = breakers or Breakers(config.dependencies, self._events.append, now=now)
        self.cycles = 0

    # Callbacks wired by build(): every event is queued and spooled at the end of the cycle.
    def on_attempt(self, attempt: HealingAttempt) -> None:
        self._events.append({"kind": "healing", "at": self._now(), "attempt": attempt})

    def on_supervisor_event(self, event: SupervisorEvent) -> None:
        self.on_attempt(event.as_attempt())

    def describe(self) -> dict[str, Any]:
        return {
            "hostname": socket.gethostname(),
            "version": VERSION,
            "interval_seconds": self.config.agent.interval_seconds,
            "self_healing_enabled": self.healer.enabled,
            "dry_run": self.healer.dry_run,
            "actions": self.healer.actions,
            "breakers": [status.model_dump(mode="json") for status in self.breakers.statuses()],
        }

    async def run_once(self) -> list[CheckReading]:
        """One cycle: checks → breakers → healing → report. Never raises for a part's failure."""
        self.cycles += 1
        results = await self.evaluator.evaluate()
        readings = [result.reading for result in results]
        values = metrics(readings)
        now = self._now()
        self._events.append({"kind": "sample", "at": now, "metrics": values})
        self._events.append({"kind": "check", "at": now, "readings": readings})
        for result in results:
            if result.spec.dependency is not None:
                self.breakers.observe(result.spec.dependency, result.breached)
        try:
            await self.healer.observe_cycle(readings, values)
        except Exception:
            log.exception("verifying healing attempts failed")
        for result in results:
            if result.failing and result.spec.action is not None:
                try:
                    await self.healer.trigger(
                        result.spec.action,
                        trigger=f"check:{result.spec.name}",
                        readings_before=values,
                    )
                except ActionRefused as exc:
                    log.error("check %s: %s", result.spec.name, exc)
                except Exception:
                    log.exception("healing for check %s failed", result.spec.name)
        await self.report()
        return readings

    async def report(self) -> None:
        events, self._events[:] = list(self._events), []
        self.reporter.record([_wire(event) for event in events])
        result = await self.reporter.flush()
        for command in result.commands:
            await self.handle_command(command)

    async def handle_command(self, command: AgentCommand) -> None:
        outcome, message = await self._execute(command)
        log.info(
            "command %s (%s %s): %s %s", command.id, command.kind, command.target, outcome, message
        )
        self._events.append(
            {
                "kind": "command_result",
                "at": self._now(),
                "command_id": command.id,
                "outcome": outcome,
                "message": message[:1000],
            }
        )

    async def _execute(self, command: AgentCommand) -> tuple[str, str]:
        kind, target = command.kind, command.target or ""
        try:
            if kind in (CommandKind.RUN_ACTION, CommandKind.TEST_ACTION):
                attempt = await self.healer.trigger(
                    target,
                    trigger=f"command:{command.id}",
                    params=command.params,
                    dry_run=True if kind == CommandKind.TEST_ACTION else None,
                )
                return (
                    "done" if attempt.outcome != "failed" else "failed",
                    f"{attempt.outcome}: {attempt.reason}",
                )
            if kind in (CommandKind.RESET_BREAKER, CommandKind.FORCE_OPEN_BREAKER):
                if target not in self.breakers:
                    return "refused", f"{target!r} is not a declared dependency"
                if kind == CommandKind.RESET_BREAKER:
                    self.breakers.reset(target)
                else:
                    self.breakers.force_open(target)
                return "done", f"breaker {target} is {self.breakers.status(target).state}"
            if kind in (CommandKind.ENABLE_SELF_HEALING, CommandKind.DISABLE_SELF_HEALING):
                self.healer.enabled = kind == CommandKind.ENABLE_SELF_HEALING
                return "done", f"self-healing {'enabled' if self.healer.enabled else 'disabled'}"
        except ActionRefused as exc:
            return "refused", str(exc)
        except Exception as exc:
            log.exception("command %s failed", command.id)
            return "failed", f"{type(exc).__name__}: {exc}"
        return "refused", f"unknown command kind {kind!r}"

    async def poll_commands(self, stop: asyncio.Event) -> None:
        """Long-poll the hub for commands until ``stop``; back off while it is unreachable."""
        if self.client is None:
            return
        delay = 1.0
        while not stop.is_set():
            try:
                commands = await self.client.poll_commands(self.config.agent.poll_wait_seconds)
                delay = 1.0
            except (HubUnavailable, HubRefused) as exc:
                log.debug("command poll failed: %s", exc)
                await _wait(stop, delay)
                delay = min(delay * 2, 30.0)
                continue
            for command in commands:
                await self.handle_command(command)
            if commands:
                await self.report()

    async def run(self, stop: asyncio.Event) -> None:
        if self.supervisor is not None:
            await self.supervisor.start()
        poller = asyncio.create_task(self.poll_commands(stop), name="command-poll")
        interval = self.config.agent.interval_seconds
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await self.run_once()
                except Exception:
                    log.exception("agent cycle failed")
                await _wait(stop, max(0.0, interval - (time.monotonic() - started)))
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            if self.supervisor is not None:
                await self.supervisor.stop_all()
            await self.evaluator.aclose()
            try:
                await self.report()
            except Exception:
                log.exception("final report failed; the events stay spooled")
            await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP clients (``run()`` does this when it stops)."""
        if self.client is not None:
            await self.client.aclose()
        if self._http is not None:
            await self._http.aclose()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _wire(event: dict[str, Any]) -> dict[str, Any]:
    """Pydantic values inside an event become plain JSON data for the spool."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if hasattr(value, "model_dump"):
            out[key] = value.model_dump(mode="json")
        elif isinstance(value, list):
            out[key] = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
