"""The host's numbers, through psutil: what the memory, cpu, load, disk and process checks read.

``HostStats`` is the seam: the agent uses ``PsutilHostStats``, tests pass a fake. Any method may
block (``statvfs`` on a hung network mount never returns), so callers run them in a thread. Only
the processes a check names are inspected; nothing here walks the process table.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

import psutil

ProcessMetric = Literal["cpu_percent", "rss_mb", "open_files"]
MIB = 1024 * 1024
# The shortest interval a CPU percentage is computed over; psutil's first reading is meaningless.
MIN_SAMPLE_SECONDS = 0.1


class HostStats(Protocol):
    def memory_percent(self) -> float: ...

    def swap_percent(self) -> float: ...

    def cpu_percent(self) -> float:
        """Busy time across all cores since the previous call, never blocking for long."""
        ...

    def load_per_core(self, minutes: int) -> float: ...

    def disk_percent(self, mount: str) -> float: ...

    def inodes_percent(self, mount: str) -> float | None:
        """None when the filesystem has no fixed inode table (btrfs, vfat, …)."""
        ...

    def network_errors(self, interface: str | None) -> int:
        """Receive and transmit errors plus drops since boot, on one interface or on all."""
        ...

    def process_metric(self, pid: int, metric: ProcessMetric) -> float | None:
        """None when no such process runs."""
        ...


class _RateSampler:
    """Wraps a since-the-last-call reading (psutil's ``cpu_percent(interval=None)``): the first
    call waits out a short sample instead of reporting the meaningless primer value, and calls in
    quick succession (two checks of one value in one cycle) share the last value."""

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read
        self._lock = threading.Lock()
        read()
        self._at = time.monotonic()
        self._value: float | None = None

    def __call__(self) -> float:
        with self._lock:
            elapsed = time.monotonic() - self._at
            if elapsed < MIN_SAMPLE_SECONDS:
                if self._value is not None:
                    return self._value
                time.sleep(MIN_SAMPLE_SECONDS - elapsed)
            self._value = float(self._read())
            self._at = time.monotonic()
            return self._value


class _Watched:
    def __init__(self, pid: int) -> None:
        self.process: Any = psutil.Process(pid)
        self.cpu = _RateSampler(lambda: float(self.process.cpu_percent(interval=None)))


class PsutilHostStats:
    """The real host. One instance per agent: it keeps the CPU counters between cycles."""

    def __init__(self) -> None:
        self._cpu = _RateSampler(lambda: float(psutil.cpu_percent(interval=None)))
        self._lock = threading.Lock()
        self._watched: dict[int, _Watched] = {}

    def memory_percent(self) -> float:
        return float(psutil.virtual_memory().percent)

    def swap_percent(self) -> float:
        return float(psutil.swap_memory().percent)

    def cpu_percent(self) -> float:
        return self._cpu()

    def load_per_core(self, minutes: int) -> float:
        loads = dict(zip((1, 5, 15), psutil.getloadavg(), strict=True))
        return float(loads[minutes]) / (psutil.cpu_count() or 1)

    def disk_percent(self, mount: str) -> float:
        return float(psutil.disk_usage(mount).percent)

    def inodes_percent(self, mount: str) -> float | None:
        stat = os.statvfs(mount)
        if stat.f_files == 0:
            return None
        return (stat.f_files - stat.f_ffree) * 100.0 / stat.f_files

    def network_errors(self, interface: str | None) -> int:
        counters: Any
        if interface is None:
            counters = psutil.net_io_counters(pernic=False)
        else:
            per_interface = psutil.net_io_counters(pernic=True)
            counters = per_interface.get(interface)
            if counters is None:
                known = ", ".join(sorted(per_interface)) or "none"
                raise ValueError(f"no network interface {interface!r} (this host has: {known})")
        if counters is None:
            return 0
        return int(counters.errin + counters.errout + counters.dropin + counters.dropout)

    def process_metric(self, pid: int, metric: ProcessMetric) -> float | None:
        try:
            watched = self._watch(pid)
            if metric == "cpu_percent":
                return watched.cpu()
            process = watched.process
            if metric == "rss_mb":
                return float(process.memory_info().rss) / MIB
            if hasattr(process, "num_fds"):
                return float(process.num_fds())
            return float(len(process.open_files()))
        except psutil.NoSuchProcess:  # also a zombie: it is not running any more
            with self._lock:
                self._watched.pop(pid, None)
            return None

    def _watch(self, pid: int) -> _Watched:
        """The cached handle for ``pid``: psutil keeps per-process CPU counters in it, and
        ``is_running()`` tells a reused pid from the process we primed."""
        with self._lock:
            watched = self._watched.get(pid)
            if watched is not None and watched.process.is_running():
                return watched
        watched = _Watched(pid)
        with self._lock:
            live = {key: w for key, w in self._watched.items() if w.process.is_running()}
            self._watched = {**live, pid: watched}
        return watched
