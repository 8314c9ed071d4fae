"""Success rate and MTTR, computed by hand."""

from __future__ import annotations

from datetime import timedelta

from bounceback.api.clock import FakeClock
from bounceback.api.recovery.stats import Episode, parse_window, stats

T0 = FakeClock().now()


def test_mttr_and_success_rate_equal_the_hand_computed_values() -> None:
    durations = [60, 120, 30, 600]
    episodes = [Episode("a", "succeeded", T0, T0 + timedelta(seconds=s), 1) for s in durations] + [
        Episode("b", "escalated", T0, T0 + timedelta(seconds=5), 3)
    ]
    found = stats(episodes)
    assert found["success_rate"] == 0.8
    assert found["mttr_seconds"] == {"mean": 202.5, "median": 90.0, "p95": 600.0}
    assert found["per_action"]["b"]["success_rate"] == 0.0
    assert found["per_action"]["b"]["mttr_seconds"]["mean"] is None
    assert found["tries"] == 7


def test_windows() -> None:
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("30m") == timedelta(minutes=30)
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("0h") is None
    assert parse_window("1w") is None
