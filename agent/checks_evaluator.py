"""The health-check pass the loop runs once per cycle.

Every check is measured concurrently, each within its own deadline; then hysteresis and Monit
debouncing turn the cycle's observation into a status. A check that raises or overruns becomes
an error reading and the pass goes on. A measurement stuck in a thread (``statvfs`` on a hung
NFS mount) cannot be cancelled, so the check reports an error, without starting another thread,
until that one returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bounceback.agent.check_spec import (
    CheckSpec,
    CommandCheck,
    HttpCheck,
    SystemdCheck,
    TcpCheck,
)
from bounceback.agent.checks import CheckContext, Measurement, measure, target_of
from bounceback.agent.conditions import ConditionState, Rule, advance, progress, still_breached
from bounceback.api.agent_wire import CheckReading, CheckStatus

DEFAULT_TIMEOUT = 30.0  # seconds a check without a timeout of its own may take
PROBE_GRACE = 2.0  # seconds beyond a probe's own timeout (killing and reaping a command)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    spec: CheckSpec
    reading: CheckReading  # the status after debouncing
    breached: bool | None  # this cycle alone (None: could not run); what drives a breaker

    @property
    def failing(self) -> bool:
        return self.reading.status is CheckStatus.FAILING


@dataclass(slots=True)
class _Track:
    rule: Rule
    state: ConditionState = field(default_factory=ConditionState)
    previous: Measurement | None = None  # the last measurement that ran
    stuck: asyncio.Task[Measurement] | None = None  # overran its deadline, still running


def rule_for(spec: CheckSpec) -> Rule:
    if spec.times is not None and spec.within_cycles is not None:
        return Rule(spec.times, spec.within_cycles, spec.clear_cycles)
    return Rule.consecutive(spec.for_cycles, clear_cycles=spec.clear_cycles)


def deadline_for(spec: CheckSpec, default: float = DEFAULT_TIMEOUT) -> float:
    if isinstance(spec, TcpCheck | HttpCheck | CommandCheck | SystemdCheck):
        return spec.timeout + PROBE_GRACE
    return default


class CheckEvaluator:
    """Holds each check's debounce state between cycles; ``run_once()`` is one pass."""

    def __init__(
        self,
        checks: Sequence[CheckSpec],
        context: CheckContext | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._checks = tuple(checks)
        self._tracks = {spec.name: _Track(rule_for(spec)) for spec in self._checks}
        if len(self._tracks) != len(self._checks):
            raise ValueError("check names must be unique")
        self._context = context if context is not None else CheckContext()
        self._timeout = timeout

    @property
    def checks(self) -> tuple[CheckSpec, ...]:
        return self._checks

    async def run_once(self) -> list[CheckReading]:
        """One reading per check, in declaration order."""
        return [result.reading for result in await self.evaluate()]

    async def evaluate(self) -> list[CheckResult]:
        """As ``run_once``, with each check's spec and raw observation (for actions and
        breakers)."""
        return list(await asyncio.gather(*(self._evaluate(spec) for spec in self._checks)))

    async def aclose(self) -> None:
        """Stop measurements that overran their deadline (their threads finish on their own)."""
        stuck = [track.stuck for track in self._tracks.values() if track.stuck is not None]
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)

    async def _evaluate(self, spec: CheckSpec) -> CheckResult:
        track = self._tracks[spec.name]
        try:
            measured = await self._measure(spec, track)
        except Exception as exc:
            logger.debug("check %s raised", spec.name, exc_info=True)
            measured = Measurement(None, None, message=f"{type(exc).__name__}: {exc}")
        if measured.breached is not None:
            track.previous = measured
        breached = still_breached(
            measured.breached, measured.value, spec.clear_limit, failing=track.state.failing
        )
        track.state, status = advance(track.rule, track.state, breached)
        message = measured.message
        if status is not CheckStatus.ERROR and (note := progress(track.rule, track.state)):
            message = f"{message} ({note})" if message else note
        reading = CheckReading(
            check=spec.name,
            type=spec.type,
            status=status,
            value=measured.value,
            unit=measured.unit,
            threshold=spec.limit,
            target=measured.target or target_of(spec),
            message=message,
        )
        return CheckResult(spec, reading, breached)

    async def _measure(self, spec: CheckSpec, track: _Track) -> Measurement:
        if track.stuck is not None:
            if not track.stuck.done():
                return Measurement(None, None, message="the previous measurement still runs")
            track.stuck = None
        deadline = deadline_for(spec, self._timeout)
        task = asyncio.create_task(measure(spec, self._context, track.previous))
        try:
            done, _ = await asyncio.wait({task}, timeout=deadline)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.add_done_callback(_retrieve)
            track.stuck = task
            return Measurement(None, None, message=f"no result within {deadline:g} s")
        return task.result()


def _retrieve(task: asyncio.Task[Measurement]) -> None:
    """A late result is dropped; reading its exception keeps asyncio from logging it."""
    if not task.cancelled():
        task.exception()


_HOST_METRICS = {"memory": "memory_percent", "swap": "swap_percent", "cpu": "cpu_percent"}
_TARGET_METRICS = {
    "load": "load_per_core",
    "disk": "disk_percent",
    "inodes": "inodes_percent",
    "network_errors": "network_errors",
}
_CHECK_METRICS = {
    "process": "process",
    "tcp": "tcp_latency_ms",
    "http": "http_latency_ms",
    "file_age": "file_age_minutes",
    "dir_size": "dir_size_mb",
    "command": "command_exit",
    "systemd": "systemd_restarts",
}


def metrics(readings: Iterable[CheckReading]) -> dict[str, float]:
    """Flat numbers for the report's sample event: ``memory_percent``, ``disk_percent:/var``,
    ``http_latency_ms:<check>``, …"""
    found: dict[str, float] = {}
    for reading in readings:
        if reading.value is None:
            continue
        if reading.type in _HOST_METRICS:
            key = _HOST_METRICS[reading.type]
        elif reading.type in _TARGET_METRICS:
            base = _TARGET_METRICS[reading.type]
            key = f"{base}:{reading.target}" if reading.target else base
        else:
            key = f"{_CHECK_METRICS.get(reading.type, reading.type)}:{reading.check}"
        found[key] = reading.value
    return found
