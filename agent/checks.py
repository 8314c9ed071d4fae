"""One measurement of one check: ``await measure(spec, ctx)``.

Host statistics and filesystem walks can block, so they run in a thread; probes (TCP, HTTP,
commands, systemd) live in ``checks_probes``. A measurement says whether this one cycle breached
the check's threshold; turning cycles into a status is ``conditions``' job.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import assert_never

from bounceback.agent.check_spec import (
    CheckSpec,
    CommandCheck,
    CpuCheck,
    DirSizeCheck,
    DiskCheck,
    FileAgeCheck,
    HttpCheck,
    InodesCheck,
    LoadCheck,
    MemoryCheck,
    NetworkErrorsCheck,
    ProcessCheck,
    SwapCheck,
    SystemdCheck,
    TcpCheck,
)
from bounceback.agent.checks_context import CheckContext, Measurement
from bounceback.agent.checks_host import MIB
from bounceback.agent.checks_probes import probe_command, probe_http, probe_systemd, probe_tcp

__all__ = ["CheckContext", "Measurement", "measure", "target_of"]


async def measure(
    spec: CheckSpec, ctx: CheckContext, previous: Measurement | None = None
) -> Measurement:
    """This cycle's value of ``spec``; ``previous`` is the last successful measurement of the
    same check (counters such as network errors are reported as the difference)."""
    stats = ctx.stats
    match spec:
        case MemoryCheck():
            return _over(spec.threshold, await asyncio.to_thread(stats.memory_percent), "%")
        case SwapCheck():
            return _over(spec.threshold, await asyncio.to_thread(stats.swap_percent), "%")
        case CpuCheck():
            return _over(spec.threshold, await asyncio.to_thread(stats.cpu_percent), "%")
        case LoadCheck():
            load = await asyncio.to_thread(stats.load_per_core, spec.minutes)
            return _over(spec.threshold, load, "per core", f"{spec.minutes}min")
        case DiskCheck():
            used = await asyncio.to_thread(stats.disk_percent, spec.mount)
            return _over(spec.threshold, used, "%", spec.mount)
        case InodesCheck():
            inodes = await asyncio.to_thread(stats.inodes_percent, spec.mount)
            if inodes is None:
                return Measurement(None, False, "%", spec.mount, "no fixed inode table")
            return _over(spec.threshold, inodes, "%", spec.mount)
        case NetworkErrorsCheck():
            total = await asyncio.to_thread(stats.network_errors, spec.interface)
            return _network_errors(spec, total, previous)
        case ProcessCheck():
            return await _process(spec, ctx)
        case FileAgeCheck():
            return await asyncio.to_thread(_file_age, spec, ctx.now())
        case DirSizeCheck():
            return await asyncio.to_thread(_dir_size, spec)
        case TcpCheck():
            return await probe_tcp(spec)
        case HttpCheck():
            return await probe_http(spec, ctx)
        case CommandCheck():
            return await probe_command(spec, ctx)
        case SystemdCheck():
            return await probe_systemd(spec, ctx)
        case _:
            assert_never(spec)


def target_of(spec: CheckSpec) -> str | None:
    """What a check looks at, for its readings: a mount, a URL, a unit, a path, …"""
    match spec:
        case DiskCheck() | InodesCheck():
            return spec.mount
        case LoadCheck():
            return f"{spec.minutes}min"
        case NetworkErrorsCheck():
            return spec.interface
        case ProcessCheck():
            return str(spec.pidfile) if spec.pidfile is not None else spec.process
        case FileAgeCheck() | DirSizeCheck():
            return str(spec.path)
        case TcpCheck():
            return f"{spec.host}:{spec.port}"
        case HttpCheck():
            return spec.url
        case CommandCheck():
            return spec.argv[0]
        case SystemdCheck():
            return spec.unit
        case _:
            return None


def _over(
    limit: float, value: float, unit: str, target: str | None = None, note: str = ""
) -> Measurement:
    breached = value > limit
    parts = [note] if note else []
    if breached:
        parts.append(f"above {limit:g} {unit}".rstrip())
    return Measurement(value, breached, unit, target, "; ".join(parts))


def _network_errors(
    spec: NetworkErrorsCheck, total: int, previous: Measurement | None
) -> Measurement:
    since = previous.counter if previous is not None else None
    if since is None or total < since:  # the first cycle, or the counters were reset
        return Measurement(
            None, False, "per cycle", spec.interface, "counting from now", counter=total
        )
    measured = _over(spec.threshold, total - since, "per cycle", spec.interface)
    return replace(measured, counter=total)


async def _process(spec: ProcessCheck, ctx: CheckContext) -> Measurement:
    if spec.pidfile is not None:
        target = str(spec.pidfile)
        pid = await asyncio.to_thread(_read_pidfile, spec.pidfile)
    else:
        assert spec.process is not None
        target = spec.process
        pid = ctx.process_pid(spec.process)
    unit = {"cpu_percent": "%", "rss_mb": "MB", "open_files": "files"}[spec.metric]
    if pid is None:
        return Measurement(None, True, unit, target, "not running")
    value = await asyncio.to_thread(ctx.stats.process_metric, pid, spec.metric)
    if value is None:
        return Measurement(None, True, unit, target, f"not running (pid {pid} is gone)")
    return _over(spec.threshold, value, unit, target, f"pid {pid}")


def _read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"pidfile {str(path)!r} does not hold a process id: {text[:32]!r}")
    return int(text)


def _file_age(spec: FileAgeCheck, now: datetime) -> Measurement:
    target = str(spec.path)
    try:
        modified = spec.path.stat().st_mtime
    except FileNotFoundError:
        return Measurement(None, True, "min", target, "does not exist")
    minutes = max(0.0, now.timestamp() - modified) / 60.0
    return _over(spec.max_age_minutes, minutes, "min", target)


def _dir_size(spec: DirSizeCheck) -> Measurement:
    target = str(spec.path)
    if not spec.path.is_dir():
        return Measurement(None, None, "MB", target, "not a directory (or does not exist)")
    total, unreadable = _tree_size(spec.path)
    noun = "entry" if unreadable == 1 else "entries"
    note = f"skipped {unreadable} unreadable {noun}" if unreadable else ""
    return _over(spec.max_mb, total / MIB, "MB", target, note)


def _tree_size(root: Path) -> tuple[int, int]:
    """Bytes in the files below ``root`` and how many entries could not be read. Symlinks are
    not followed, and files that vanish during the walk are simply not counted."""
    total = unreadable = 0
    pending = [os.fspath(root)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except FileNotFoundError:
            continue
        except OSError:
            unreadable += 1
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            except OSError:
                unreadable += 1
    return total, unreadable
