"""Who is on call when: pure functions of a schedule and a time window.

Handoffs are computed in the schedule's wall-clock time and converted to UTC with ``zoneinfo``:
a daily 09:00 handoff in Europe/Paris stays at 09:00 across DST changes, so that day's shift is
23 or 25 hours long. A handoff that falls in a DST gap (a wall time that does not exist) takes
the offset from before the gap (``fold=0``); an ambiguous one is the first occurrence. A shift
that becomes empty that way is dropped, so shifts never overlap and never go backwards.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bounceback.api.oncall.models import Layer, Schedule

OVERRIDE = "override"


@dataclass(frozen=True)
class Shift:
    person: str
    start: datetime  # aware, UTC
    end: datetime
    source: str  # the layer's name, or "override"


def wall(value: datetime, zone: ZoneInfo) -> datetime:
    """``value`` as naive wall-clock time in ``zone`` (naive values already are)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


def to_utc(wall_time: datetime, zone: ZoneInfo) -> datetime:
    return wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return to_utc(value, zone) if value.tzinfo is None else value.astimezone(UTC)


def layer_shifts(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[Shift]:
    """The layer's shifts that overlap ``[start, end)``, unclipped (except by the layer's end)."""
    origin = wall(layer.start, zone)
    period = layer.period
    layer_end = _aware(layer.end, zone) if layer.end is not None else None
    first = math.floor((wall(start.astimezone(zone), zone) - origin) / period) - 1
    k = max(first, 0)
    found: list[Shift] = []
    while True:
        shift_start = to_utc(origin + k * period, zone)
        if shift_start >= end or (layer_end is not None and shift_start >= layer_end):
            return found
        shift_end = to_utc(origin + (k + 1) * period, zone)
        if layer_end is not None:
            shift_end = min(shift_end, layer_end)
        if shift_end > start and shift_end > shift_start:
            person = layer.people[k % len(layer.people)]
            found.append(Shift(person, shift_start, shift_end, layer.name))
        k += 1


def _covering(shifts: Iterable[Shift], at: datetime) -> Shift | None:
    last = None
    for shift in shifts:
        if shift.start <= at < shift.end:
            last = shift  # later entries win
    return last


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final schedule in ``[start, end)``: overrides over later layers over earlier ones,
    clipped to the window, adjacent pieces of one person's shift merged."""
    if end <= start:
        return []
    zone = ZoneInfo(schedule.timezone)
    per_layer = [layer_shifts(layer, zone, start, end) for layer in schedule.layers]
    overrides = [
        Shift(o.person, o.start.astimezone(UTC), o.end.astimezone(UTC), OVERRIDE)
        for o in schedule.overrides
        if o.end > start and o.start < end
    ]
    cuts = {start, end}
    for piece in [*overrides, *(s for layer in per_layer for s in layer)]:
        cuts.update(t for t in (piece.start, piece.end) if start < t < end)
    ordered = sorted(cuts)
    result: list[Shift] = []
    for a, b in itertools.pairwise(ordered):
        chosen = _covering(overrides, a)
        if chosen is None:
            for layer in reversed(per_layer):
                chosen = _covering(layer, a)
                if chosen is not None:
                    break
        if chosen is None:
            continue
        previous = result[-1] if result else None
        if (
            previous is not None
            and previous.end == a
            and (previous.person, previous.source) == (chosen.person, chosen.source)
        ):
            result[-1] = Shift(previous.person, previous.start, b, previous.source)
        else:
            result.append(Shift(chosen.person, a, b, chosen.source))
    return result


def on_call(schedule: Schedule, at: datetime) -> Shift | None:
    """The shift covering ``at``, with its start and end (within a period or so of ``at``)."""
    reach = max(layer.period for layer in schedule.layers) + timedelta(days=1)
    return _covering(shifts(schedule, at - reach, at + reach), at)
