"""A wrong duration or number, from a flag or its environment variable: exit 2, naming both."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bounceback.guard.cli import main

HUB = "--hub-url=http://127.0.0.1:9"

BAD_VALUES = [
    ("--stabilization", "BOUNCEBACK_STABILIZATION", "fifteen"),
    ("--stabilization", "BOUNCEBACK_STABILIZATION", "25h"),
    ("--monitoring", "BOUNCEBACK_MONITORING", "1h30m"),
    ("--monitoring", "BOUNCEBACK_MONITORING", "8d"),
    ("--watch-timeout", "BOUNCEBACK_WATCH_TIMEOUT", "-5"),
    ("--watch-timeout", "BOUNCEBACK_WATCH_TIMEOUT", "0"),
    ("--poll-interval", "BOUNCEBACK_POLL_INTERVAL", "soon"),
    ("--poll-interval", "BOUNCEBACK_POLL_INTERVAL", "0s"),
    ("--hub-attempts", "BOUNCEBACK_HUB_ATTEMPTS", "0"),
    ("--hub-attempts", "BOUNCEBACK_HUB_ATTEMPTS", "many"),
    ("--deployment-id", "BOUNCEBACK_DEPLOYMENT_ID", "0"),
    ("--deployment-id", "BOUNCEBACK_DEPLOYMENT_ID", "latest"),
    ("--github-deployment-id", "BOUNCEBACK_GITHUB_DEPLOYMENT_ID", "-1"),
    ("--github-deployment-id", "BOUNCEBACK_GITHUB_DEPLOYMENT_ID", "x"),
]


def guard(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    # The command would reach the hub only after its settings are valid: none is needed here.
    result = CliRunner().invoke(main, ["watch", HUB, "--hub-token=t", *args], env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(("flag", "variable", "value"), BAD_VALUES)
def test_a_bad_flag_value_exits_2_naming_the_flag_and_its_variable(
    flag: str, variable: str, value: str
) -> None:
    status, output = guard([f"{flag}={value}"], {})

    assert status == 2, output
    assert flag in output and variable in output


@pytest.mark.parametrize(("flag", "variable", "value"), BAD_VALUES)
def test_a_bad_environment_value_exits_2_naming_the_flag_and_its_variable(
    flag: str, variable: str, value: str
) -> None:
    status, output = guard([], {variable: value})

    assert status == 2, output
    assert flag in output and variable in output
