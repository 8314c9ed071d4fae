from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bounceback.api.deployments.freeze import CronError, active, parse_cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


FRIDAY_EVENING = parse_cron("0 18 * * FRI")


def test_a_friday_evening_freeze_is_active_from_its_start_for_its_duration() -> None:
    # Paris is UTC+1 in January: 18:00 local is 17:00 UTC.
    window = active("weekend", FRIDAY_EVENING, 60 * 63, "Europe/Paris", at("2026-01-09T17:00:00Z"))
    assert window is not None
    assert window.started_at == at("2026-01-09T17:00:00Z")
    assert window.ends_at == at("2026-01-12T08:00:00Z")
    assert active("w", FRIDAY_EVENING, 60 * 63, "Europe/Paris", at("2026-01-11T12:00:00Z"))


def test_a_freeze_is_inactive_before_it_opens_and_once_it_ends() -> None:
    assert active("w", FRIDAY_EVENING, 60, "Europe/Paris", at("2026-01-09T16:59:00Z")) is None
    assert active("w", FRIDAY_EVENING, 60, "Europe/Paris", at("2026-01-09T18:00:00Z")) is None
    assert active("w", FRIDAY_EVENING, 60, "Europe/Paris", at("2026-01-09T17:59:59Z"))


def test_the_time_zone_follows_daylight_saving_time() -> None:
    # In July Paris is UTC+2: the same 18:00 local opening is 16:00 UTC.
    assert active("w", FRIDAY_EVENING, 60, "Europe/Paris", at("2026-07-10T16:30:00Z"))
    assert active("w", FRIDAY_EVENING, 60, "Europe/Paris", at("2026-07-10T17:30:00Z")) is None


def test_a_start_time_skipped_by_spring_forward_does_not_happen_that_day() -> None:
    nightly = parse_cron("30 2 * * *")
    # 2026-03-29: Paris clocks jump from 02:00 to 03:00; 02:30 never exists.
    assert active("n", nightly, 30, "Europe/Paris", at("2026-03-29T01:45:00Z")) is None
    # The day after, 02:30 local = 00:30 UTC.
    assert active("n", nightly, 30, "Europe/Paris", at("2026-03-30T00:45:00Z"))


def test_a_start_time_repeated_by_fall_back_opens_the_window_on_each_pass() -> None:
    nightly = parse_cron("30 2 * * *")
    # 2026-10-25: Paris clocks go from 03:00 back to 02:00; 02:30 happens at 00:30 and 01:30 UTC.
    first = active("n", nightly, 20, "Europe/Paris", at("2026-10-25T00:40:00Z"))
    second = active("n", nightly, 20, "Europe/Paris", at("2026-10-25T01:40:00Z"))
    assert first is not None and first.started_at == at("2026-10-25T00:30:00Z")
    assert second is not None and second.started_at == at("2026-10-25T01:30:00Z")
    assert active("n", nightly, 20, "Europe/Paris", at("2026-10-25T01:10:00Z")) is None


def test_either_restricted_day_field_matches_as_in_cron() -> None:
    cron = parse_cron("0 0 1 * MON")  # the 1st of the month, or any Monday
    assert cron.matches(datetime(2026, 2, 1, 0, 0))  # a Sunday, the 1st
    assert cron.matches(datetime(2026, 2, 2, 0, 0))  # a Monday
    assert not cron.matches(datetime(2026, 2, 3, 0, 0))


def test_steps_ranges_and_names_are_understood() -> None:
    cron = parse_cron("*/15 8-18/2 * DEC 1-5")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {8, 10, 12, 14, 16, 18}
    assert cron.months == {12}
    assert parse_cron("0 0 * * 7").weekdays == {0}


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("0 18 * *", "5 fields"),
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * FUNDAY", "day-of-week"),
        ("*/0 * * * *", "minute"),
    ],
)
def test_a_bad_expression_names_the_field(expression: str, field: str) -> None:
    with pytest.raises(CronError, match=field):
        parse_cron(expression)
