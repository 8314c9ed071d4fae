"""What an action executor may touch, passed in: subprocesses, HTTP, the supervisor, signals,
the clock and the dry-run flag. Tests hand in fakes through the same fields."""

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

OUTPUT_LIMIT = 16_384  # bytes of a command's output kept (the tail)


class RunResult(NamedTuple):
    exit_code: int  # 127 when the program could not be started
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT bytes


class Runner(Protocol):
    """Runs an argv (never a shell) to completion. The caller bounds it with
    ``asyncio.timeout``; cancelling the call must kill the program."""

    async def __call__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult: ...


class ProcessControl(Protocol):
    """The part of the agent's process supervisor the actions use."""

    async def restart(self, name: str) -> None: ...

    def pid(self, name: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    ok: bool
    message: str
    details: dict[str, float] = field(default_factory=dict)  # files_removed, bytes_freed, …
    # The action declined before changing anything (e.g. systemd already gave up on the unit):
    # the attempt is reported as skipped, not failed, and nothing is rolled back.
    refused: bool = False


async def run_subprocess(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
    """The default runner: ``asyncio.create_subprocess_exec`` in a session of its own, so a
    timeout (a cancellation) kills the program and anything it started."""
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
        return RunResult(127, f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    tail = bytearray()

    async def collect() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65_536):
            tail.extend(chunk)
            del tail[:-OUTPUT_LIMIT]
        await proc.wait()

    try:
        await collect()
    except BaseException:
        _kill_group(proc.pid)
        await asyncio.shield(proc.wait())
        raise
    return RunResult(proc.returncode if proc.returncode is not None else -1, _text(tail))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace").strip()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ActionContext:
    runner: Runner = run_subprocess
    http: httpx.AsyncClient | None = None  # None: a client per call
    processes: ProcessControl | None = None  # None: no [[processes]] supervisor
    kill: Callable[[int, int], None] = os.kill
    now: Callable[[], datetime] = _utc_now  # aware UTC; file ages are measured against it
    dry_run: bool = False
    # The environment every command starts from; the agent's own (tokens included) is not passed.
    base_env: Mapping[str, str] = field(
        default_factory=lambda: {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
        }
    )
