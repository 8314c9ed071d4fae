"""Durations as people write them in workflow inputs: "15", "15m", "30s", "1.5h".

A bare number takes the option's default unit: minutes for the stabilization and monitoring
periods (as the seed's STABILIZATION_PERIOD_MINUTES and MONITORING_DURATION_MINUTES), seconds for
the poll interval.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]
else:  # click before 8.2 has no generic ParamType
    _FloatParam = click.ParamType

__all__ = ["Duration", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(text: str, default_unit: str = "m") -> float:
    """Seconds in ``text``; raises ValueError naming the accepted forms."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use a number with s, m or h (e.g. 15m, 30s)")
    unit = (match.group(2) or default_unit).lower()
    return float(match.group(1)) * _UNITS[unit]


class Duration(_FloatParam):
    """A click type giving seconds; ``default_unit`` applies to bare numbers."""

    name = "duration"

    def __init__(self, default_unit: str = "m") -> None:
        self.default_unit = default_unit

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value) * _UNITS[self.default_unit]
        try:
            return parse_duration(str(value), self.default_unit)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
