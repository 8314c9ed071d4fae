"""The per-cycle pass: debouncing across cycles, errors and overruns that never stop it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bounceback.agent.check_spec import (
    CheckSpec,
    CpuCheck,
    DiskCheck,
    MemoryCheck,
    NetworkErrorsCheck,
    SwapCheck,
)
from bounceback.agent.checks import CheckContext
from bounceback.agent.checks_evaluator import CheckEvaluator, metrics
from bounceback.agent.checks_host import ProcessMetric
from bounceback.api.agent_wire import CheckReading, CheckStatus

pytestmark = pytest.mark.anyio

OK = CheckStatus.OK
PENDING = CheckStatus.PENDING
FAILING = CheckStatus.FAILING
ERROR = CheckStatus.ERROR


class ScriptedStats:
    """``memory_percent()`` returns the scripted values in turn (raising the exceptions); the
    other numbers are calm unless a test changes them."""

    def __init__(self, *memory: float | Exception) -> None:
        self.memory = list(memory)
        self.memory_calls = 0
        self.gate: threading.Event | None = None  # memory_percent() waits for it
        self.delay = 0.0  # seconds swap_percent() and cpu_percent() take
        self.disk_error: Exception | None = None
        self.net_errors = 0

    def memory_percent(self) -> float:
        self.memory_calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        value = self.memory.pop(0) if self.memory else 10.0
        if isinstance(value, Exception):
            raise value
        return value

    def swap_percent(self) -> float:
        time.sleep(self.delay)
        return 0.0

    def cpu_percent(self) -> float:
        time.sleep(self.delay)
        return 5.0

    def load_per_core(self, minutes: int) -> float:
        return 0.1

    def disk_percent(self, mount: str) -> float:
        if self.disk_error is not None:
            raise self.disk_error
        return 20.0

    def inodes_percent(self, mount: str) -> float | None:
        return 1.0

    def network_errors(self, interface: str | None) -> int:
        return self.net_errors

    def process_metric(self, pid: int, metric: ProcessMetric) -> float | None:
        return None


def evaluator(stats: ScriptedStats, *checks: CheckSpec, timeout: float = 5) -> CheckEvaluator:
    return CheckEvaluator(checks, CheckContext(stats=stats), timeout=timeout)


async def cycles(evaluator: CheckEvaluator, count: int) -> list[CheckReading]:
    """The first check's reading after each of ``count`` passes."""
    return [(await evaluator.run_once())[0] for _ in range(count)]


async def test_memory_must_stay_high_for_three_cycles_before_failing() -> None:
    stats = ScriptedStats(90, 91, 92, 70)
    readings = await cycles(evaluator(stats, MemoryCheck(name="mem", for_cycles=3)), 4)
    assert [r.status for r in readings] == [PENDING, PENDING, FAILING, OK]
    assert readings[1].message == "above 85 % (for 2 of 3 cycles)"
    assert (readings[2].value, readings[2].threshold, readings[2].unit) == (92, 85, "%")


async def test_flapping_fails_three_times_within_five_cycles() -> None:
    spec = MemoryCheck(name="mem", times=3, within_cycles=5)
    readings = await cycles(evaluator(ScriptedStats(90, 10, 90, 10, 90), spec), 5)
    assert [r.status for r in readings] == [PENDING, OK, PENDING, OK, FAILING]


async def test_failing_memory_clears_only_below_the_clear_threshold() -> None:
    spec = MemoryCheck(name="mem", threshold=85, clear_threshold=80)
    check = evaluator(ScriptedStats(90, 83, 79), spec)
    results = [(await check.evaluate())[0] for _ in range(3)]
    assert [r.reading.status for r in results] == [FAILING, FAILING, OK]
    assert [r.breached for r in results] == [True, True, False]
    assert [r.failing for r in results] == [True, True, False]


async def test_clearing_waits_for_clear_cycles_good_cycles() -> None:
    spec = MemoryCheck(name="mem", clear_cycles=2)
    readings = await cycles(evaluator(ScriptedStats(90, 10, 10), spec), 3)
    assert [r.status for r in readings] == [FAILING, FAILING, OK]
    assert readings[1].message == "clearing: 1 of 2 cycles good"


async def test_a_check_that_raises_is_an_error_and_the_pass_goes_on() -> None:
    stats = ScriptedStats()
    stats.disk_error = PermissionError("cannot read /srv")
    check = evaluator(stats, DiskCheck(name="srv", mount="/srv"), CpuCheck(name="cpu"))
    disk, cpu = await check.run_once()
    assert (disk.status, disk.message) == (ERROR, "PermissionError: cannot read /srv")
    assert (disk.target, disk.threshold, disk.value) == ("/srv", 90, None)
    assert (cpu.status, cpu.value) == (OK, 5.0)


async def test_an_error_cycle_keeps_the_debounce_state() -> None:
    stats = ScriptedStats(90, OSError("flaky"), 90)
    readings = await cycles(evaluator(stats, MemoryCheck(name="mem", for_cycles=2)), 3)
    assert [r.status for r in readings] == [PENDING, ERROR, FAILING]


async def test_checks_run_concurrently() -> None:
    stats = ScriptedStats()
    stats.delay = 0.3
    check = evaluator(stats, SwapCheck(name="swap"), CpuCheck(name="cpu"))
    started = time.perf_counter()
    readings = await check.run_once()
    assert time.perf_counter() - started < 0.55
    assert [r.check for r in readings] == ["swap", "cpu"]


async def test_a_hung_measurement_times_out_and_is_not_started_again() -> None:
    stats = ScriptedStats()
    stats.gate = threading.Event()
    check = evaluator(stats, MemoryCheck(name="mem"), CpuCheck(name="cpu"), timeout=0.2)
    try:
        first, cpu = await check.run_once()
        assert (first.status, first.message) == (ERROR, "no result within 0.2 s")
        assert cpu.status is OK
        second = (await check.run_once())[0]
        assert (second.status, second.message) == (ERROR, "the previous measurement still runs")
        assert stats.memory_calls == 1
    finally:
        stats.gate.set()
    await asyncio.sleep(0.05)  # the thread's result reaches the loop
    third = (await check.run_once())[0]
    assert third.status is OK
    assert stats.memory_calls == 2
    await check.aclose()


async def test_aclose_stops_measurements_that_overran() -> None:
    stats = ScriptedStats()
    stats.gate = threading.Event()
    check = evaluator(stats, MemoryCheck(name="mem"), timeout=0.1)
    try:
        await check.run_once()
        await check.aclose()
        assert (await check.run_once())[0].message == "no result within 0.1 s"
        assert stats.memory_calls == 2
    finally:
        stats.gate.set()
    await check.aclose()


async def test_network_errors_are_counted_per_cycle() -> None:
    stats = ScriptedStats()
    check = evaluator(stats, NetworkErrorsCheck(name="net", threshold=10))
    readings = []
    for total in (100, 103, 120):
        stats.net_errors = total
        readings.append((await check.run_once())[0])
    assert [r.value for r in readings] == [None, 3, 17]
    assert [r.status for r in readings] == [OK, OK, FAILING]


def test_duplicate_check_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        evaluator(ScriptedStats(), CpuCheck(name="x"), MemoryCheck(name="x"))


def reading(check: str, type: str, value: float | None, target: str | None = None) -> CheckReading:
    return CheckReading(check=check, type=type, status=OK, value=value, target=target)


def test_metrics_flatten_readings_for_the_sample_event() -> None:
    readings = [
        reading("mem", "memory", 41.5),
        reading("cpu", "cpu", 12.0),
        reading("var", "disk", 77.0, "/var"),
        reading("load", "load", 0.4, "5min"),
        reading("net", "network_errors", 3, None),
        reading("api", "http", 120.0, "http://127.0.0.1/health"),
        reading("nginx", "systemd", 2, "nginx.service"),
        reading("db", "tcp", None, "db:5432"),
    ]
    assert metrics(readings) == {
        "memory_percent": 41.5,
        "cpu_percent": 12.0,
        "disk_percent:/var": 77.0,
        "load_per_core:5min": 0.4,
        "network_errors": 3,
        "http_latency_ms:api": 120.0,
        "systemd_restarts:nginx": 2,
    }


async def test_metrics_of_a_real_pass_carry_the_host_numbers() -> None:
    check = CheckEvaluator([MemoryCheck(name="m"), DiskCheck(name="root", mount="/")])
    found = metrics(await check.run_once())
    assert set(found) == {"memory_percent", "disk_percent:/"}
    assert all(0 <= value <= 100 for value in found.values())
