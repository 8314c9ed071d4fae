"""One measurement per check: host statistics through a fake, files and processes for real."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bounceback.agent.check_spec import (
    CheckSpec,
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
)
from bounceback.agent.checks import CheckContext, Measurement, measure, target_of
from bounceback.agent.checks_host import ProcessMetric, PsutilHostStats

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeStats:
    """A host whose numbers the test sets."""

    memory: float = 40.0
    swap: float = 0.0
    cpu: float = 10.0
    load: dict[int, float] = field(default_factory=lambda: {1: 0.2, 5: 0.5, 15: 0.9})
    disks: dict[str, float] = field(default_factory=lambda: {"/": 50.0})
    inodes: dict[str, float | None] = field(default_factory=lambda: {"/": 10.0})
    net_errors: int = 0
    processes: dict[int, dict[str, float]] = field(default_factory=dict)

    def memory_percent(self) -> float:
        return self.memory

    def swap_percent(self) -> float:
        return self.swap

    def cpu_percent(self) -> float:
        return self.cpu

    def load_per_core(self, minutes: int) -> float:
        return self.load[minutes]

    def disk_percent(self, mount: str) -> float:
        return self.disks[mount]

    def inodes_percent(self, mount: str) -> float | None:
        return self.inodes[mount]

    def network_errors(self, interface: str | None) -> int:
        return self.net_errors

    def process_metric(self, pid: int, metric: ProcessMetric) -> float | None:
        found = self.processes.get(pid)
        return None if found is None else found[metric]


def context(stats: FakeStats | None = None, **pids: int) -> CheckContext:
    return CheckContext(stats=stats or FakeStats(), process_pid=pids.get, now=lambda: NOW)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("spec", "stats", "value", "breached"),
    [
        (MemoryCheck(name="m"), FakeStats(memory=85.0), 85.0, False),
        (MemoryCheck(name="m"), FakeStats(memory=85.1), 85.1, True),
        (SwapCheck(name="s", threshold=20), FakeStats(swap=30), 30.0, True),
        (CpuCheck(name="c"), FakeStats(cpu=79.0), 79.0, False),
        (LoadCheck(name="l", minutes=15, threshold=0.8), FakeStats(), 0.9, True),
        (LoadCheck(name="l", minutes=1, threshold=0.8), FakeStats(), 0.2, False),
        (DiskCheck(name="d", mount="/"), FakeStats(disks={"/": 91.0}), 91.0, True),
        (InodesCheck(name="i", mount="/"), FakeStats(), 10.0, False),
    ],
    ids=["memory-at", "memory-over", "swap", "cpu", "load-15", "load-1", "disk", "inodes"],
)
async def test_host_checks_breach_strictly_above_the_threshold(
    spec: CheckSpec, stats: FakeStats, value: float, breached: bool
) -> None:
    measured = await measure(spec, context(stats))
    assert (measured.value, measured.breached) == (value, breached)


@pytest.mark.anyio
async def test_breach_message_names_the_threshold_and_unit() -> None:
    measured = await measure(DiskCheck(name="d", mount="/"), context(FakeStats(disks={"/": 95})))
    assert (measured.unit, measured.target, measured.message) == ("%", "/", "above 90 %")


@pytest.mark.anyio
async def test_filesystem_without_an_inode_table_is_fine() -> None:
    stats = FakeStats(inodes={"/": None})
    measured = await measure(InodesCheck(name="i", mount="/"), context(stats))
    assert (measured.value, measured.breached) == (None, False)


@pytest.mark.anyio
async def test_network_errors_count_the_difference_between_cycles() -> None:
    spec = NetworkErrorsCheck(name="net", threshold=5)
    stats = FakeStats(net_errors=1000)
    first = await measure(spec, context(stats))
    assert (first.value, first.breached, first.counter) == (None, False, 1000)
    stats.net_errors = 1004
    second = await measure(spec, context(stats), previous=first)
    assert (second.value, second.breached) == (4, False)
    stats.net_errors = 1010
    third = await measure(spec, context(stats), previous=second)
    assert (third.value, third.breached) == (6, True)


@pytest.mark.anyio
async def test_network_counter_reset_starts_counting_again() -> None:
    spec = NetworkErrorsCheck(name="net")
    before = Measurement(3, False, counter=5000)
    measured = await measure(spec, context(FakeStats(net_errors=2)), previous=before)
    assert (measured.value, measured.breached, measured.counter) == (None, False, 2)


@pytest.mark.anyio
async def test_supervised_process_metric_against_its_threshold() -> None:
    stats = FakeStats(processes={4242: {"rss_mb": 700.0}})
    spec = ProcessCheck(name="w", process="worker", metric="rss_mb", threshold=512)
    measured = await measure(spec, context(stats, worker=4242))
    assert (measured.value, measured.breached, measured.unit) == (700.0, True, "MB")
    assert measured.message == "pid 4242; above 512 MB"


@pytest.mark.anyio
async def test_a_process_the_supervisor_does_not_run_is_failing() -> None:
    spec = ProcessCheck(name="w", process="worker", metric="cpu_percent", threshold=90)
    measured = await measure(spec, context())
    assert (measured.value, measured.breached, measured.message) == (None, True, "not running")


@pytest.mark.anyio
async def test_a_pid_that_is_gone_is_failing(tmp_path: Path) -> None:
    pidfile = tmp_path / "app.pid"
    pidfile.write_text("4242\n")
    spec = ProcessCheck(name="w", pidfile=pidfile, metric="open_files", threshold=100)
    measured = await measure(spec, context())
    assert measured.breached is True
    assert "pid 4242 is gone" in measured.message


@pytest.mark.anyio
async def test_a_missing_pidfile_is_failing(tmp_path: Path) -> None:
    spec = ProcessCheck(name="w", pidfile=tmp_path / "none.pid", metric="rss_mb", threshold=1)
    assert (await measure(spec, context())).breached is True


@pytest.mark.anyio
async def test_a_garbled_pidfile_raises_naming_the_file(tmp_path: Path) -> None:
    pidfile = tmp_path / "app.pid"
    pidfile.write_text("nginx\n")
    spec = ProcessCheck(name="w", pidfile=pidfile, metric="rss_mb", threshold=1)
    with pytest.raises(ValueError, match="does not hold a process id"):
        await measure(spec, context())


@pytest.mark.anyio
async def test_our_own_process_through_real_psutil(tmp_path: Path) -> None:
    pidfile = tmp_path / "self.pid"
    pidfile.write_text(str(os.getpid()))
    ctx = CheckContext(stats=PsutilHostStats())
    for metric in ("cpu_percent", "rss_mb", "open_files"):
        spec = ProcessCheck(name="me", pidfile=pidfile, metric=metric, threshold=1e9)
        measured = await measure(spec, ctx)
        assert measured.value is not None and measured.value >= 0, metric
        assert measured.breached is False
    rss = await measure(ProcessCheck(name="me", pidfile=pidfile, metric="rss_mb", threshold=1), ctx)
    assert rss.value is not None and 1 < rss.value < 4096


@pytest.mark.anyio
async def test_host_checks_through_real_psutil_give_sane_ranges() -> None:
    ctx = CheckContext(stats=PsutilHostStats())
    for spec in (MemoryCheck(name="m"), SwapCheck(name="s"), CpuCheck(name="c")):
        measured = await measure(spec, ctx)
        assert measured.value is not None and 0 <= measured.value <= 100, spec.type
        assert measured.breached is (measured.value > (spec.limit or 0))
    disk = await measure(DiskCheck(name="d", mount="/"), ctx)
    assert disk.value is not None and 0 < disk.value <= 100
    load = await measure(LoadCheck(name="l"), ctx)
    assert load.value is not None and load.value >= 0
    inodes = await measure(InodesCheck(name="i", mount="/"), ctx)
    assert inodes.value is None or 0 <= inodes.value <= 100
    errors = await measure(NetworkErrorsCheck(name="n"), ctx)
    assert errors.counter is not None and errors.counter >= 0


def test_cpu_percent_does_not_block_for_an_interval() -> None:
    stats = PsutilHostStats()
    time.sleep(0.11)
    started = time.perf_counter()
    readings = [stats.cpu_percent() for _ in range(3)]
    assert time.perf_counter() - started < 0.05
    assert all(0 <= value <= 100 for value in readings)


def test_first_cpu_reading_right_after_start_is_a_real_sample() -> None:
    started = time.perf_counter()
    value = PsutilHostStats().cpu_percent()
    assert 0.09 <= time.perf_counter() - started < 1.0
    assert 0 <= value <= 100


def test_an_unknown_interface_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="no network interface 'bb-nope0'"):
        PsutilHostStats().network_errors("bb-nope0")


@pytest.mark.anyio
async def test_a_log_not_written_for_too_long_is_breached(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("line\n")
    stale = (NOW - timedelta(minutes=20)).timestamp()
    os.utime(log, (stale, stale))
    measured = await measure(FileAgeCheck(name="log", path=log, max_age_minutes=15), context())
    assert measured.value == pytest.approx(20.0)
    assert (measured.breached, measured.unit) == (True, "min")


@pytest.mark.anyio
async def test_a_fresh_log_is_fine(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("line\n")
    fresh = (NOW - timedelta(minutes=2)).timestamp()
    os.utime(log, (fresh, fresh))
    measured = await measure(FileAgeCheck(name="log", path=log, max_age_minutes=15), context())
    assert measured.value == pytest.approx(2.0)
    assert measured.breached is False


@pytest.mark.anyio
async def test_a_missing_file_is_breached(tmp_path: Path) -> None:
    spec = FileAgeCheck(name="log", path=tmp_path / "gone.log", max_age_minutes=1)
    measured = await measure(spec, context())
    assert (measured.breached, measured.message) == (True, "does not exist")


def _tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "one.bin").write_bytes(b"x" * 600_000)
    (root / "a" / "two.bin").write_bytes(b"x" * 300_000)
    (root / "a" / "b" / "three.bin").write_bytes(b"x" * 148_576)


@pytest.mark.anyio
async def test_dir_size_adds_up_the_whole_tree(tmp_path: Path) -> None:
    _tree(tmp_path / "spool")
    spec = DirSizeCheck(name="spool", path=tmp_path / "spool", max_mb=0.5)
    measured = await measure(spec, context())
    assert measured.value == pytest.approx(1_048_576 / 1024 / 1024)
    assert (measured.breached, measured.unit) == (True, "MB")


@pytest.mark.anyio
async def test_dir_size_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "file").write_bytes(b"x" * 2_000_000)
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "link").symlink_to(tmp_path / "big")
    (tmp_path / "spool" / "filelink").symlink_to(tmp_path / "big" / "file")
    spec = DirSizeCheck(name="spool", path=tmp_path / "spool", max_mb=1)
    measured = await measure(spec, context())
    assert (measured.value, measured.breached) == (0.0, False)


@pytest.mark.anyio
async def test_dir_size_of_a_missing_directory_cannot_be_measured(tmp_path: Path) -> None:
    spec = DirSizeCheck(name="spool", path=tmp_path / "nope", max_mb=1)
    measured = await measure(spec, context())
    assert measured.breached is None
    assert "not a directory" in measured.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
@pytest.mark.anyio
async def test_dir_size_counts_what_it_can_and_says_what_it_could_not(tmp_path: Path) -> None:
    _tree(tmp_path / "spool")
    locked = tmp_path / "spool" / "a" / "b"
    locked.chmod(0)
    try:
        spec = DirSizeCheck(name="spool", path=tmp_path / "spool", max_mb=10)
        measured = await measure(spec, context())
    finally:
        locked.chmod(0o755)
    assert measured.value == pytest.approx(900_000 / 1024 / 1024)
    assert measured.message == "skipped 1 unreadable entry"


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        (MemoryCheck(name="m"), None),
        (DiskCheck(name="d", mount="/var"), "/var"),
        (LoadCheck(name="l", minutes=1), "1min"),
        (ProcessCheck(name="p", process="web", metric="rss_mb", threshold=1), "web"),
        (HttpCheck(name="h", url="http://127.0.0.1:9/x"), "http://127.0.0.1:9/x"),
    ],
)
def test_every_check_names_its_target(spec: CheckSpec, target: str | None) -> None:
    assert target_of(spec) == target
