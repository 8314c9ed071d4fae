"""The pure decisions behind the agent endpoints, each on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounceback.api.agent_wire import (
    AgentReport,
    BreakerState,
    BreakerStatus,
    CommandKind,
    HealingOutcome,
)
from bounceback.api.agents import alerts, breakers, desired, healing, health, silence, validate
from bounceback.api.agents.commands import CommandState
from bounceback.api.agents.desired import LastToggle, Switch

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = health.Thresholds(memory_percent=85, cpu_percent=80, disk_percent=90)


@pytest.mark.parametrize(
    ("silent", "statuses", "metrics", "expected"),
    [
        (False, ["ok"], {"cpu_percent": 10.0}, health.HostHealth.HEALTHY),
        (False, ["ok", "pending"], {}, health.HostHealth.DEGRADED),
        (False, ["error"], {}, health.HostHealth.DEGRADED),
        (False, [], {"disk_percent:/var": 91.0}, health.HostHealth.DEGRADED),
        (False, ["failing", "ok"], {}, health.HostHealth.UNHEALTHY),
        (True, ["ok"], {}, health.HostHealth.SILENT),
    ],
)
def test_host_health(
    silent: bool, statuses: list[str], metrics: dict[str, float | None], expected: str
) -> None:
    checks = [{"check": f"c{n}", "status": status} for n, status in enumerate(statuses)]
    high = health.high_metrics(metrics, LIMITS)
    assert health.classify(silent, checks, high) == expected


def test_unknown_or_missing_metrics_are_never_high() -> None:
    assert health.high_metrics({"load1": 99.0, "cpu_percent": None}, LIMITS) == []


def test_the_fleet_is_as_healthy_as_its_worst_host_and_unknown_when_empty() -> None:
    def host(status: str) -> dict[str, Any]:
        return {"status": status, "memory_percent": 50.0, "cpu_percent": None, "disk_percent": 1.0}

    assert health.fleet([])["status"] == "unknown"
    assert health.fleet([host("healthy"), host("degraded")])["status"] == "degraded"
    assert health.fleet([host("healthy"), host("silent")])["status"] == "unhealthy"
    summary = health.fleet([host("healthy"), host("healthy")])
    assert summary["metrics"]["cpu_percent"] == {"avg": None, "max": None}


def test_the_fleet_target_follows_the_admin_then_the_configuration() -> None:
    assert desired.fleet_target(Switch(True)) is None  # each agent's own config
    assert desired.fleet_target(Switch(False)) is False  # SELF_HEALING_ENABLED=false
    assert desired.fleet_target(Switch(True, NOW, "token:admin")) is True
    assert desired.agent_target(False, True) is False
    assert desired.agent_target(None, True) is True


def toggle(enable: bool, state: CommandState, age: timedelta = timedelta()) -> LastToggle:
    return LastToggle(enable=enable, state=state, issued_at=NOW - age)


@pytest.mark.parametrize(
    ("target", "reported", "last", "expected"),
    [
        (None, True, None, None),
        (True, True, None, None),
        (False, True, None, CommandKind.DISABLE_SELF_HEALING),
        (True, False, None, CommandKind.ENABLE_SELF_HEALING),
        (False, True, toggle(False, CommandState.PENDING), None),
        (False, True, toggle(False, CommandState.DELIVERED), None),
        (False, True, toggle(False, CommandState.REFUSED, timedelta(days=1)), None),
        (False, True, toggle(False, CommandState.DONE, timedelta(minutes=1)), None),
        (
            False,
            True,
            toggle(False, CommandState.DONE, timedelta(minutes=11)),
            CommandKind.DISABLE_SELF_HEALING,
        ),
        (False, True, toggle(True, CommandState.PENDING), CommandKind.DISABLE_SELF_HEALING),
    ],
)
def test_reconcile(
    target: bool | None,
    reported: bool,
    last: LastToggle | None,
    expected: CommandKind | None,
) -> None:
    assert desired.reconcile(target, reported, last, NOW) == expected


def test_an_agent_is_silent_after_three_intervals() -> None:
    started = NOW - timedelta(days=1)
    seen = NOW - timedelta(seconds=29)
    assert silence.judge(NOW, seen, 10, None, started) == silence.Verdict(
        check_again_at=NOW + timedelta(seconds=1)
    )
    assert silence.judge(NOW, NOW - timedelta(seconds=30), 10, None, started).silent
    assert silence.judge(NOW, NOW - timedelta(hours=1), 10, NOW, started) == silence.Verdict()


def test_silence_needs_at_least_30_seconds() -> None:
    assert silence.window(1) == timedelta(seconds=30)
    assert silence.window(60) == timedelta(seconds=180)


def test_time_without_a_running_hub_does_not_count_as_silence() -> None:
    restarted = NOW - timedelta(seconds=5)
    verdict = silence.judge(NOW, NOW - timedelta(hours=2), 10, None, restarted)
    assert verdict == silence.Verdict(check_again_at=restarted + timedelta(seconds=30))


def test_a_report_adds_a_check_only_when_none_would_fire_in_time() -> None:
    later = NOW + timedelta(seconds=30)
    assert silence.needs_check(None, later, NOW)
    assert not silence.needs_check(NOW + timedelta(seconds=5), later, NOW)
    assert silence.needs_check(NOW + timedelta(seconds=60), later, NOW)
    assert silence.needs_check(NOW - timedelta(minutes=6), later, NOW)  # it never ran


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("web-1:postgres", breakers.CircuitId("web-1", "postgres")),
        ("web-1:db:primary", breakers.CircuitId("web-1", "db:primary")),
        ("web-1", None),
        ("web-1:", None),
        (":postgres", None),
        ("web 1:postgres", None),
        ("web-1:" + "x" * 201, None),
    ],
)
def test_circuit_ids(raw: str, expected: breakers.CircuitId | None) -> None:
    assert breakers.parse_circuit_id(raw) == expected
    if expected is not None:
        assert str(expected) == raw


def test_when_a_breaker_last_changed() -> None:
    opened = BreakerStatus(dependency="db", kind="database", state=BreakerState.OPEN)
    closed = BreakerStatus(dependency="db", kind="database", state=BreakerState.CLOSED)
    earlier = NOW - timedelta(minutes=5)
    assert breakers.changed_at(None, closed, NOW, None) is None
    assert breakers.changed_at(None, opened, NOW, None) == NOW
    assert breakers.changed_at(breakers.Stored("open", earlier), opened, NOW, None) == earlier
    assert breakers.changed_at(breakers.Stored("closed", None), opened, NOW, None) == NOW
    assert breakers.changed_at(None, opened, NOW, earlier) == earlier


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, HealingOutcome.STARTED, True),
        (HealingOutcome.STARTED, HealingOutcome.SUCCEEDED, True),
        (HealingOutcome.SUCCEEDED, HealingOutcome.STARTED, False),
        (HealingOutcome.FAILED, HealingOutcome.GAVE_UP, True),
    ],
)
def test_a_finished_attempt_never_goes_back_to_started(
    current: HealingOutcome | None, incoming: HealingOutcome, expected: bool
) -> None:
    assert healing.supersedes(current, incoming) is expected


def test_report_problems_name_their_fields() -> None:
    report = AgentReport.model_validate(
        {
            "hostname": "h",
            "version": "1",
            "interval_seconds": float("inf"),
            "self_healing_enabled": True,
            "actions": ["x" * 201],
            "breakers": [{"dependency": "", "kind": "cache", "state": "open", "failures": -1}],
            "events": [{"kind": "sample", "seq": 2**63, "at": NOW, "metrics": {}}],
        }
    )
    fields = [problem["field"] for problem in validate.problems(report)]
    assert fields == [
        "interval_seconds",
        "actions[0]",
        "breakers[0].dependency",
        "breakers[0].failures",
        "events[0].seq",
    ]


def test_clean_makes_values_storable() -> None:
    naive = datetime(2026, 1, 1)
    cleaned = validate.clean({"a\x00": [float("nan"), 1.5, "x\x00y", naive]})
    assert cleaned == {"a": [None, 1.5, "xy", naive.replace(tzinfo=UTC)]}
    assert validate.jsonable({"at": naive}) == {"at": "2026-01-01T00:00:00+00:00"}


def test_healing_keys_stay_within_the_dedup_key_column() -> None:
    assert alerts.healing_key("web-1", "restart", None) == "web-1:healing:restart:-"
    long_key = alerts.healing_key("w" * 128, "a" * 200, "/srv/" + "t" * 500)
    assert len(long_key) <= 255
    assert long_key == alerts.healing_key("w" * 128, "a" * 200, "/srv/" + "t" * 500)
    assert long_key != alerts.healing_key("w" * 128, "a" * 200, "/srv/" + "u" * 500)
