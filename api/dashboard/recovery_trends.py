"""Success rate and MTTR over time: the API's episode statistics, bucketed by hour or by day.

Pure. An episode counts in the bucket in which it ended (the last try's ``finished_at``), and
each bucket is summarised by ``recovery.stats.summarize``, the function behind
``GET /api/auto-recovery/stats``, so a bucket's figures are what that endpoint would say of the
same episodes: MTTR runs from the episode's start (the trigger) to its recovery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bounceback.api.recovery.stats import Episode, summarize


@dataclass(frozen=True)
class Window:
    name: str  # as the query string spells it
    span: timedelta
    step: timedelta  # one bucket


WINDOWS = {
    w.name: w
    for w in (
        Window("24h", timedelta(hours=24), timedelta(hours=1)),
        Window("7d", timedelta(days=7), timedelta(days=1)),
        Window("30d", timedelta(days=30), timedelta(days=1)),
    )
}
DEFAULT_WINDOW = "7d"


@dataclass(frozen=True)
class Bucket:
    start: datetime
    hourly: bool
    summary: dict[str, Any]  # summarize()'s figures for the episodes that ended in it

    @property
    def label(self) -> str:
        return self.start.strftime("%d %b %H:00" if self.hourly else "%d %b")


def floor(at: datetime, step: timedelta) -> datetime:
    """The start of the bucket holding ``at`` (whole hours, or UTC days)."""
    at = at.astimezone(UTC)
    if step >= timedelta(days=1):
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


def first_start(now: datetime, window: Window) -> datetime:
    """The oldest bucket's start: the window's buckets end with the one holding ``now``."""
    count = round(window.span / window.step)
    return floor(now, window.step) - (count - 1) * window.step


def buckets(episodes: Iterable[Episode], now: datetime, window: Window) -> list[Bucket]:
    start = first_start(now, window)
    count = round(window.span / window.step)
    grouped: list[list[Episode]] = [[] for _ in range(count)]
    for episode in episodes:
        index = int((episode.finished_at - start) / window.step)
        if 0 <= index < count:
            grouped[index].append(episode)
    hourly = window.step < timedelta(days=1)
    return [
        Bucket(start + i * window.step, hourly, summarize(found)) for i, found in enumerate(grouped)
    ]


def success_rate_series(found: Sequence[Bucket]) -> list[tuple[str, float | None]]:
    """Per bucket, the share of episodes that succeeded in percent (None: no episode ended)."""
    return [
        (
            b.label,
            round(b.summary["success_rate"] * 100, 1)
            if b.summary["success_rate"] is not None
            else None,
        )
        for b in found
    ]


def mttr_series(found: Sequence[Bucket]) -> tuple[list[tuple[str, float | None]], str]:
    """Per bucket, the mean time to recovery, in seconds or, when any exceeds two minutes, in
    minutes; and the unit used."""
    seconds = [b.summary["mttr_seconds"]["mean"] for b in found]
    in_minutes = any(s is not None and s > 120 for s in seconds)
    divisor, unit = (60.0, " min") if in_minutes else (1.0, " s")
    return [
        (b.label, round(s / divisor, 2) if s is not None else None)
        for b, s in zip(found, seconds, strict=True)
    ], unit
