"""``bounceback-agent check`` output: an aligned table, or JSON readings."""

from __future__ import annotations

import json

import pytest

from bounceback.agent.check_table import format_number, format_table, readings_json
from bounceback.api.agent_wire import CheckReading, CheckStatus

READINGS = [
    CheckReading(
        check="memory", type="memory", status=CheckStatus.OK, value=41.27, unit="%", threshold=85
    ),
    CheckReading(
        check="disk-var",
        type="disk",
        status=CheckStatus.FAILING,
        value=93.0,
        unit="%",
        threshold=90,
        target="/var",
        message="above 90 %",
    ),
    CheckReading(
        check="nginx",
        type="systemd",
        status=CheckStatus.ERROR,
        target="nginx.service",
        message="unavailable: systemd is not running here",
    ),
]


def test_table_has_a_header_and_one_aligned_row_per_check() -> None:
    lines = format_table(READINGS).splitlines()
    assert lines[0].split() == [
        "CHECK",
        "TYPE",
        "TARGET",
        "VALUE",
        "THRESHOLD",
        "STATUS",
        "MESSAGE",
    ]
    assert len(lines) == 4
    status_column = lines[0].index("STATUS")
    assert [line[status_column:].split()[0] for line in lines[1:]] == ["ok", "failing", "error"]


def test_table_shows_values_with_units_and_dashes_for_nothing() -> None:
    memory, disk, nginx = format_table(READINGS).splitlines()[1:]
    assert memory.split() == ["memory", "memory", "-", "41.3", "%", "85", "%", "ok"]
    assert disk.endswith("failing  above 90 %")
    assert nginx.split()[:6] == ["nginx", "systemd", "nginx.service", "-", "-", "error"]


def test_table_of_no_checks_is_just_the_header() -> None:
    assert format_table([]) == "CHECK  TYPE  TARGET  VALUE  THRESHOLD  STATUS  MESSAGE"


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "%", "-"),
        (85.0, "%", "85 %"),
        (41.27, "%", "41.3 %"),
        (0.4213, "per core", "0.42 per core"),
        (3297.37, "MB", "3297 MB"),
        (2, "", "2"),
    ],
)
def test_numbers_are_short(value: float | None, unit: str, text: str) -> None:
    assert format_number(value, unit) == text


def test_json_is_the_list_of_readings_the_hub_receives() -> None:
    parsed = json.loads(readings_json(READINGS))
    assert [CheckReading.model_validate(item) for item in parsed] == READINGS
    assert parsed[1]["status"] == "failing"
