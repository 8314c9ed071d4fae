"""What a check measures with, passed in, and what one measurement says.

``CheckContext`` holds every effect a check may use (host statistics, subprocesses, HTTP, the
supervisor's pids, the clock); tests hand in fakes through the same fields.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bounceback.agent.checks_host import HostStats, PsutilHostStats
from bounceback.agent.subprocesses import Runner, base_env, run_subprocess


@dataclass(frozen=True, slots=True)
class Measurement:
    """One cycle of one check, before debouncing."""

    value: float | None
    breached: bool | None  # None: the check could not measure (its reading says error)
    unit: str = ""
    target: str | None = None  # mount point, URL, unit name, …
    message: str = ""
    counter: float | None = None  # a running total kept for the next cycle's difference


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_supervisor(name: str) -> int | None:
    return None


def _systemd_running() -> bool:
    """sd_booted(3): systemd is PID 1 exactly when this directory exists."""
    return os.path.isdir("/run/systemd/system")


@dataclass(frozen=True, slots=True)
class CheckContext:
    stats: HostStats = field(default_factory=PsutilHostStats)
    runner: Runner = run_subprocess
    http: httpx.AsyncClient | None = None  # None: a client per probe
    process_pid: Callable[[str], int | None] = _no_supervisor  # a [[processes]] name → pid
    now: Callable[[], datetime] = _utc_now  # aware UTC; file ages are measured against it
    systemd_running: Callable[[], bool] = _systemd_running
    # What commands start with: never the agent's own environment, which holds its tokens.
    base_env: Mapping[str, str] = field(default_factory=base_env)
