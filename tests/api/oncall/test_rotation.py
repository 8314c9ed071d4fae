"""Rotations: handoffs at the same wall-clock time across DST, layers, overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceback.api.oncall.models import Handoff, Layer, Override, Schedule
from bounceback.api.oncall.rotation import on_call, shifts

PARIS = ZoneInfo("Europe/Paris")


def schedule(
    *layers: Layer, zone: str = "Europe/Paris", overrides: tuple[Override, ...] = ()
) -> Schedule:
    return Schedule(id="primary", name="Primary", timezone=zone, layers=layers, overrides=overrides)


def daily(start: datetime, people: tuple[str, ...] = ("ann", "bob", "cy")) -> Layer:
    return Layer(name="daily", start=start, handoff=Handoff.DAILY, people=people)


def test_daily_handoff_stays_at_nine_across_the_spring_dst_change() -> None:
    rota = schedule(daily(datetime(2026, 3, 27, 9, 0)))
    found = shifts(rota, datetime(2026, 3, 27, 8, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    local_starts = [s.start.astimezone(PARIS).strftime("%m-%d %H:%M") for s in found]
    assert local_starts[:4] == ["03-27 09:00", "03-28 09:00", "03-29 09:00", "03-30 09:00"]
    # The night of the change (29 March) is an hour short.
    lengths = [(s.end - s.start) / timedelta(hours=1) for s in found[:3]]
    assert lengths == [24, 23, 24]
    assert [s.person for s in found[:4]] == ["ann", "bob", "cy", "ann"]


def test_autumn_dst_change_makes_that_shift_25_hours() -> None:
    rota = schedule(daily(datetime(2026, 10, 23, 9, 0)))
    found = shifts(
        rota, datetime(2026, 10, 24, 6, tzinfo=UTC), datetime(2026, 10, 26, 9, tzinfo=UTC)
    )
    assert (found[1].end - found[1].start) == timedelta(hours=25)


def test_a_later_layer_wins_where_it_has_a_shift_and_overrides_win_over_all() -> None:
    base = daily(datetime(2026, 1, 1, 9, 0), ("ann",))
    weekend = Layer(
        name="cover",
        start=datetime(2026, 1, 3, 9, 0),
        end=datetime(2026, 1, 5, 9, 0),
        handoff=Handoff.DAILY,
        people=("bob",),
    )
    override = Override(
        person="cy",
        start=datetime(2026, 1, 4, 12, tzinfo=UTC),
        end=datetime(2026, 1, 4, 14, tzinfo=UTC),
    )
    rota = schedule(base, weekend, overrides=(override,), zone="UTC")
    found = shifts(rota, datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC))
    people = [(s.person, s.start.day, s.start.hour, s.source) for s in found]
    assert people == [
        ("ann", 2, 0, "daily"),
        ("bob", 3, 9, "cover"),
        ("cy", 4, 12, "override"),
        ("bob", 4, 14, "cover"),
        ("ann", 5, 9, "daily"),
    ]
    assert on_call(rota, datetime(2026, 1, 4, 13, tzinfo=UTC)).person == "cy"  # type: ignore[union-attr]


def test_nobody_is_on_call_before_the_first_layer_starts() -> None:
    rota = schedule(daily(datetime(2026, 1, 10, 9, 0)), zone="UTC")
    assert on_call(rota, datetime(2026, 1, 1, tzinfo=UTC)) is None


zones = st.sampled_from(
    ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
)
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=150, deadline=None)
@given(
    zone=zones,
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
    handoff=st.sampled_from(list(Handoff)),
    hours=st.floats(min_value=1, max_value=72),
    at=moments,
    span_hours=st.integers(min_value=1, max_value=24 * 20),
)
def test_shifts_are_ordered_contiguous_and_agree_with_on_call(
    zone: str,
    start: datetime,
    handoff: Handoff,
    hours: float,
    at: datetime,
    span_hours: int,
) -> None:
    layer = Layer(
        start=start,
        handoff=handoff,
        shift_hours=hours if handoff == Handoff.CUSTOM else None,
        people=("ann", "bob"),
    )
    rota = schedule(layer, zone=zone)
    end = at + timedelta(hours=span_hours)
    found = shifts(rota, at, end)
    for shift in found:
        assert at <= shift.start < shift.end <= end
    for before, after in itertools.pairwise(found):
        assert before.end == after.start  # one layer with no end covers without gaps
        assert before.person != after.person or before.source != after.source
    if found:
        middle = found[0].start + (found[0].end - found[0].start) / 2
        assert on_call(rota, middle).person == found[0].person  # type: ignore[union-attr]
    if handoff == Handoff.DAILY:
        for shift in found[1:-1]:
            assert timedelta(hours=22) <= shift.end - shift.start <= timedelta(hours=26)
