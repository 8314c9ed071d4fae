"""Running a declared program: argv only (never a shell), a clean environment, a bounded output.

Checks and actions share this runner. The caller bounds a run with ``asyncio.timeout``;
cancelling it kills the program and everything it started (it runs in a session of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

OUTPUT_LIMIT = 16_384  # bytes of a command's output kept (the tail)
# What programs start with: never the agent's own environment, which holds its tokens.
PASSED_ENV = frozenset({"PATH", "LANG", "LC_ALL", "TZ", "HOME"})


class RunResult(NamedTuple):
    exit_code: int  # 127 when the program could not be started
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT bytes


class Runner(Protocol):
    async def __call__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult: ...


def base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key in PASSED_ENV}


async def run_subprocess(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
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
    try:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65_536):
            tail.extend(chunk)
            del tail[:-OUTPUT_LIMIT]
        await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.shield(proc.wait())
        raise
    code = proc.returncode if proc.returncode is not None else -1
    return RunResult(code, bytes(tail).decode("utf-8", "replace").strip())
