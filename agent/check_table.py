"""``bounceback-agent check``: one pass of readings as a table, or as JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bounceback.api.agent_wire import CheckReading

COLUMNS = ("CHECK", "TYPE", "TARGET", "VALUE", "THRESHOLD", "STATUS", "MESSAGE")


def format_number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        text = str(int(value))
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}" if unit else text


def _row(reading: CheckReading) -> tuple[str, ...]:
    return (
        reading.check,
        reading.type,
        reading.target or "-",
        format_number(reading.value, reading.unit),
        format_number(reading.threshold, reading.unit),
        reading.status.value,
        reading.message,
    )


def format_table(readings: Sequence[CheckReading]) -> str:
    """Aligned columns, one line per check; the message column is last and never padded."""
    rows = [COLUMNS, *(_row(reading) for reading in readings)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def readings_json(readings: Sequence[CheckReading]) -> str:
    """A JSON list of reading objects, the same shape the hub receives."""
    return json.dumps([reading.model_dump(mode="json") for reading in readings], indent=2)
