"""Deploy freeze windows: cron-like start times in a time zone, each open for a duration.

Pure. A window is active at ``now`` when one of its start times lies in ``(now - duration, now]``.
Start times are matched on the zone's wall clock, minute by minute over real (UTC) time, so
daylight-saving changes behave as a person reading a wall clock expects: a start time the clock
skips (02:30 on a spring-forward night) does not happen that day, one it repeats (01:30 on a
fall-back night) opens the window twice, and the duration is always elapsed time.

Cron fields: minute hour day-of-month month day-of-week; ``*``, lists ``1,5``, ranges ``1-5``,
steps ``*/15`` or ``8-18/2``; day and month names (``MON-FRI``, ``DEC``); Sunday is 0 or 7. As
in cron, when both day fields are restricted a day matching either one matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)


class CronError(ValueError):
    """The expression is not a 5-field cron expression; the message names the field."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is '*'
    any_weekday: bool  # day-of-week is '*'

    def matches(self, local: datetime) -> bool:
        if local.minute not in self.minutes or local.hour not in self.hours:
            return False
        if local.month not in self.months:
            return False
        day_ok = local.day in self.days
        weekday_ok = (local.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def _value(text: str, name: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"cron {name} field: {text!r} is not a number")
    return int(text)


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"cron {name} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(first, name, names), _value(last, name, names)
        else:
            start = _value(body, name, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"cron {name} field: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(
            f"cron expression {expression!r} needs 5 fields: minute hour day-of-month month "
            "day-of-week (e.g. '0 18 * * FRI')"
        )
    parsed = [_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in parsed[4])
    return Cron(
        parsed[0], parsed[1], parsed[2], parsed[3], weekdays, parts[2] == "*", parts[4] == "*"
    )


@dataclass(frozen=True)
class ActiveFreeze:
    name: str
    started_at: datetime  # UTC
    ends_at: datetime  # UTC
    timezone: str


def active(
    name: str, cron: Cron, duration_minutes: float, timezone: str, now: datetime
) -> ActiveFreeze | None:
    """The window's latest opening that still covers ``now``, if any."""
    zone = ZoneInfo(timezone)
    duration = timedelta(minutes=duration_minutes)
    latest = now.replace(second=0, microsecond=0)
    for back in range(math.ceil(duration_minutes) + 1):
        start = latest - timedelta(minutes=back)
        if start + duration <= now:
            break
        if cron.matches(start.astimezone(zone)):
            return ActiveFreeze(name, start, start + duration, timezone)
    return None
