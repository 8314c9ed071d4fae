"""What a check measures with, passed in, and what one measurement says.

``CheckContext`` holds every effect a check may use (host statistics, subprocesses, HTTP, the
supervisor's pids, the clock); tests hand in fakes through the same fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import httpx

from bounceback.agent.checks_host import HostStats, PsutilHostStats

OUTPUT_LIMIT = 4096  # bytes of a command's output kept (the tail); a check needs only a hint
_PASSED_ENV = frozenset({"PATH", "LANG", "LC_ALL", "TZ", "HOME"})


@dataclass(frozen=True, slots=True)
class Measurement:
    """One cycle of one check, before debouncing."""

    value: float | None
    breached: bool | None  # None: the check could not measure (its reading says error)
    unit: str = ""
    target: str | None = None  # mount point, URL, unit name, …
    message: str = ""
    counter: float | None = None  # a running total kept for the next cycle's difference


class CommandOutcome(Protocol):
    @property
    def exit_code(self) -> int: ...

    @property
    def output(self) -> str: ...


class Runner(Protocol):
    """Runs an argv (never a shell) to completion. The caller bounds it with ``asyncio.timeout``;
    cancelling the call must kill the program and whatever it started.

    The same shape as the actions' runner, so the agent can hand one runner to both."""

    async def __call__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> CommandOutcome: ...


class CommandResult(NamedTuple):
    exit_code: int  # 127 when the program could not be started
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT bytes


async def run_command(argv: Sequence[str], *, env: Mapping[str, str]) -> CommandResult:
    """The default runner: ``asyncio.create_subprocess_exec`` in a session of its own, so a
    timeout (a cancellation) kills the program and everything it started."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(127, f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    tail = bytearray()
    try:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65_536):
            tail.extend(chunk)
            del tail[:-OUTPUT_LIMIT]
        await proc.wait()
    except BaseException:
        _kill_group(proc.pid)
        await asyncio.shield(proc.wait())
        raise
    return CommandResult(proc.returncode if proc.returncode is not None else -1, _text(tail))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _text(data: bytearray) -> str:
    return bytes(data).decode("utf-8", "replace").strip()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_supervisor(name: str) -> int | None:
    return None


def _base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key in _PASSED_ENV}


def _systemd_running() -> bool:
    """sd_booted(3): systemd is PID 1 exactly when this directory exists."""
    return os.path.isdir("/run/systemd/system")


@dataclass(frozen=True, slots=True)
class CheckContext:
    stats: HostStats = field(default_factory=PsutilHostStats)
    runner: Runner = run_command
    http: httpx.AsyncClient | None = None  # None: a client per probe
    process_pid: Callable[[str], int | None] = _no_supervisor  # a [[processes]] name → pid
    now: Callable[[], datetime] = _utc_now  # aware UTC; file ages are measured against it
    systemd_running: Callable[[], bool] = _systemd_running
    # What commands start with: never the agent's own environment, which holds its tokens.
    base_env: Mapping[str, str] = field(default_factory=_base_env)
