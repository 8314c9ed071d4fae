"""Success rate and mean time to recovery over a window, overall and per action (pure)."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_WINDOW = re.compile(r"^(\d{1,5})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(raw: str) -> timedelta | None:
    """``30m``, ``24h``, ``7d``; None when it is not one of those."""
    found = _WINDOW.match(raw)
    if found is None or int(found.group(1)) == 0:
        return None
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@dataclass(frozen=True)
class Episode:
    """A recovery from its first try to its last: ``succeeded`` or ``escalated``."""

    action_id: str
    outcome: str
    started_at: datetime
    finished_at: datetime
    tries: int


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted-able values (the smallest value ≥ p% of them)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(episodes: Iterable[Episode]) -> dict[str, Any]:
    chosen = list(episodes)
    succeeded = [e for e in chosen if e.outcome == "succeeded"]
    seconds = [(e.finished_at - e.started_at).total_seconds() for e in succeeded]
    return {
        "episodes": len(chosen),
        "succeeded": len(succeeded),
        "escalated": len(chosen) - len(succeeded),
        "tries": sum(e.tries for e in chosen),
        "success_rate": round(len(succeeded) / len(chosen), 4) if chosen else None,
        "mttr_seconds": {
            "mean": round(statistics.fmean(seconds), 3) if seconds else None,
            "median": round(statistics.median(seconds), 3) if seconds else None,
            "p95": round(percentile(seconds, 95), 3) if seconds else None,
        },
    }


def stats(episodes: Iterable[Episode]) -> dict[str, Any]:
    chosen = list(episodes)
    per_action: dict[str, list[Episode]] = {}
    for episode in chosen:
        per_action.setdefault(episode.action_id, []).append(episode)
    return {
        **summarize(chosen),
        "per_action": {a: summarize(found) for a, found in sorted(per_action.items())},
    }
