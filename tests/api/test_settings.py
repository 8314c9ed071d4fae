"""Configuration: the seed's variables and defaults, precedence, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceback.api.config_loader import ConfigError, describe, load_settings
from bounceback.api.settings import HubSettings

SEED_DEFAULTS = {
    "AUTO_RECOVERY_ENABLED": True,
    "MAX_CONCURRENT_RECOVERIES": 5,
    "GLOBAL_COOLDOWN_MINUTES": 5,
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": 5,
    "CIRCUIT_BREAKER_RECOVERY_TIMEOUT": 60000,
    "CIRCUIT_BREAKER_SUCCESS_THRESHOLD": 3,
    "DEGRADATION_ENABLED": True,
    "DEGRADATION_CHECK_INTERVAL": 30,
    "ESCALATION_ENABLED": True,
    "L1_TIMEOUT_MINUTES": 15,
    "L2_TIMEOUT_MINUTES": 30,
    "L3_TIMEOUT_MINUTES": 45,
    "L4_TIMEOUT_MINUTES": 60,
    "L5_TIMEOUT_MINUTES": 90,
    "SELF_HEALING_ENABLED": True,
    "HEALTH_CHECK_INTERVAL": 60,
    "MEMORY_THRESHOLD": 85,
    "CPU_THRESHOLD": 80,
    "DISK_THRESHOLD": 90,
    "DEPLOYMENT_MONITORING_ENABLED": True,
    "AUTO_ROLLBACK_ENABLED": True,
    "STABILIZATION_PERIOD_MINUTES": 15,
    "MONITORING_DURATION_MINUTES": 60,
    "EMAIL_NOTIFICATIONS_ENABLED": True,
    "SLACK_NOTIFICATIONS_ENABLED": True,
    "SMS_NOTIFICATIONS_ENABLED": False,
}


def test_every_seed_variable_has_its_default() -> None:
    settings = load_settings()
    for name, default in SEED_DEFAULTS.items():
        assert getattr(settings, name.lower()) == default, name


def test_hub_defaults_listen_on_the_seed_port_with_embedded_sqlite() -> None:
    settings = load_settings()
    assert (settings.bounceback_host, settings.bounceback_port) == ("127.0.0.1", 4000)
    assert settings.bounceback_data_dir == Path("./bounceback-data")
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.sqlalchemy_url.endswith("bounceback-data/bounceback.db")


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("AUTO_RECOVERY_ENABLED", "false", False),
        ("MAX_CONCURRENT_RECOVERIES", "9", 9),
        ("L3_TIMEOUT_MINUTES", "2.5", 2.5),
        ("SMS_NOTIFICATIONS_ENABLED", "1", True),
    ],
)
def test_environment_variables_are_read_by_their_exact_name(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, expected: object
) -> None:
    monkeypatch.setenv(name, raw)
    assert getattr(load_settings(), name.lower()) == expected


def test_flag_beats_environment_beats_file_beats_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        "bounceback_port = 5001\nl1_timeout_minutes = 7\nescalation_enabled = false\n"
    )
    monkeypatch.setenv("BOUNCEBACK_PORT", "5002")
    monkeypatch.setenv("L1_TIMEOUT_MINUTES", "8")
    settings = load_settings({"bounceback_port": 5003}, config)
    assert settings.bounceback_port == 5003
    assert settings.l1_timeout_minutes == 8
    assert settings.escalation_enabled is False
    assert settings.l2_timeout_minutes == 30
    sources = {
        row.name: row.source for row in describe(settings, {"bounceback_port": 5003}, config)
    }
    assert sources["BOUNCEBACK_PORT"] == "flag --port"
    assert sources["L1_TIMEOUT_MINUTES"] == "environment variable L1_TIMEOUT_MINUTES"
    assert sources["ESCALATION_ENABLED"] == f"{config} key 'escalation_enabled'"
    assert sources["L2_TIMEOUT_MINUTES"] == "default"


def test_an_invalid_environment_value_names_the_variable_value_and_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_CONCURRENT_RECOVERIES", "lots")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    [problem] = raised.value.problems
    assert "MAX_CONCURRENT_RECOVERIES" in problem
    assert "'lots'" in problem
    assert "integer" in problem


def test_an_out_of_range_value_says_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPU_THRESHOLD", "140")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "less than or equal to 100" in raised.value.problems[0]


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_duration_must_be_a_finite_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("L1_TIMEOUT_MINUTES", value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "L1_TIMEOUT_MINUTES" in raised.value.problems[0]
    assert "finite number" in raised.value.problems[0]


def test_a_file_error_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('disk_threshold = "full"\nno_such_setting = 1\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config)
    text = "\n".join(raised.value.problems)
    assert "key 'disk_threshold' = 'full'" in text
    assert "unknown key 'no_such_setting'" in text


def test_an_unknown_key_inside_a_section_is_named_by_its_dotted_path(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[[escalation.people]]\nid = "ann"\nname = "Ann"\nslack_usr = "U1"\n'
        '[deployments]\nprobe_interval_seconds = "often"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config)
    text = "\n".join(raised.value.problems)
    assert "unknown key 'escalation.people[0].slack_usr'" in text
    assert "key 'deployments.probe_interval_seconds'" in text


def test_a_file_that_is_not_utf8_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_bytes(b"bounceback_port = 4000\n# caf\xe9\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config)
    assert "not UTF-8" in raised.value.problems[0]
    assert str(config) in raised.value.problems[0]


def test_a_broken_toml_file_is_reported_with_its_position(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("port = = 3\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config)
    assert "not valid TOML" in raised.value.problems[0]
    assert "line 1" in raised.value.problems[0]


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(config_file=tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/d", "postgresql+asyncpg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:////var/lib/bb.db", "sqlite+aiosqlite:////var/lib/bb.db"),
    ],
)
def test_database_url_spellings_pick_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().sqlalchemy_url == expected


def test_an_unsupported_database_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "DATABASE_URL" in raised.value.problems[0]
    assert "hunter2" not in raised.value.problems[0]


def test_secrets_are_masked_in_the_description(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db/bb")
    rows = describe(load_settings())
    shown = {row.name: row.value for row in rows}
    assert shown["DATABASE_URL"] == "********"
    assert all("hunter2" not in row.value for row in rows)


def test_every_field_is_described() -> None:
    names = {row.name for row in describe(load_settings())}
    assert names == {field.upper() for field in HubSettings.model_fields}
