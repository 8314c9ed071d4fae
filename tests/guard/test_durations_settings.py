"""Durations, thresholds and health URLs as workflow inputs write them."""

from __future__ import annotations

import pytest

from bounceback.guard.durations import parse_duration
from bounceback.guard.settings import UsageProblem, parse_thresholds, run_url_from, split_urls


@pytest.mark.parametrize(
    ("text", "unit", "seconds"),
    [
        ("15", "m", 900.0),
        ("15m", "s", 900.0),
        ("30s", "m", 30.0),
        ("1h", "m", 3600.0),
        ("1.5h", "m", 5400.0),
        ("10", "s", 10.0),
        (" 2 M ", "s", 120.0),
    ],
)
def test_durations_take_a_unit_or_the_default_one(text: str, unit: str, seconds: float) -> None:
    assert parse_duration(text, unit) == seconds


@pytest.mark.parametrize("text", ["", "fifteen", "15x", "-5", "1h30m"])
def test_a_bad_duration_says_which_forms_work(text: str) -> None:
    with pytest.raises(ValueError, match="use a number with s, m or h"):
        parse_duration(text)


def test_thresholds_accept_pairs_separated_by_commas_or_lines() -> None:
    parsed = parse_thresholds("error_rate_ratio=2, latency-tolerance: 0.3\nalpha=0.01")
    assert (parsed.error_rate_ratio, parsed.latency_tolerance, parsed.alpha) == (2.0, 0.3, 0.01)


def test_thresholds_accept_json() -> None:
    assert parse_thresholds('{"error_rate_floor": 0.002}').error_rate_floor == 0.002


def test_an_unknown_threshold_is_named_with_the_known_ones() -> None:
    with pytest.raises(UsageProblem, match=r"--thresholds: error_ratio: .*known names: alpha"):
        parse_thresholds("error_ratio=2")


def test_an_out_of_range_threshold_is_named() -> None:
    with pytest.raises(UsageProblem, match="--thresholds: error_rate_ratio"):
        parse_thresholds("error_rate_ratio=0.5")


def test_health_urls_split_on_new_lines_and_repeats() -> None:
    assert split_urls(("http://a/health\nhttp://b/health\n", "http://c/")) == (
        "http://a/health",
        "http://b/health",
        "http://c/",
    )


def test_run_url_names_the_attempt_after_the_first() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "octo/app",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    assert run_url_from(env) == "https://github.com/octo/app/actions/runs/42/attempts/2"
    assert run_url_from({}) is None
