"""agent.toml: references between sections, the seed's variables, errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bounceback.agent.config import AgentConfig, ConfigError, load_config, parse_config
from bounceback.agent.starter import installed_services, starter_config

BASE = """
[agent]
id = "web-1"

[[checks]]
name = "mem"
type = "memory"

[[checks]]
name = "tmp-size"
type = "dir_size"
path = "/tmp/app"
max_mb = 10
action = "clean-tmp"

[[actions]]
name = "clean-tmp"
type = "clean_temp"
directories = ["/tmp/app"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={})
    assert config.agent.id == "web-1"
    assert [check.name for check in config.checks] == ["mem", "tmp-size"]
    assert config.agent.interval_seconds == 60


def test_seed_variables_fill_in_thresholds_and_override_the_interval(tmp_path: Path) -> None:
    environ = {
        "MEMORY_THRESHOLD": "70",
        "HEALTH_CHECK_INTERVAL": "5",
        "SELF_HEALING_ENABLED": "false",
    }
    config = load_config(write(tmp_path, BASE), environ=environ)
    memory = config.checks[0]
    assert memory.threshold == 70  # type: ignore[union-attr]
    assert config.agent.interval_seconds == 5
    assert config.safety.self_healing is False


def test_a_threshold_in_the_file_beats_the_seed_default(tmp_path: Path) -> None:
    text = BASE.replace('type = "memory"', 'type = "memory"\nthreshold = 95')
    config = load_config(write(tmp_path, text), environ={"MEMORY_THRESHOLD": "70"})
    assert config.checks[0].threshold == 95  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('action = "clean-tmp"', 'action = "nope"'), "action 'nope' is not declared"),
        (("max_mb = 10", 'max_mb = "big"'), "checks[1] (tmp-size).max_mb = 'big'"),
        (('directories = ["/tmp/app"]', 'directories = ["tmp"]'), "actions[0] (clean-tmp)"),
        (('id = "web-1"', 'id = "web 1"'), "agent.id = 'web 1'"),
        (('type = "memory"', 'type = "memroy"'), "checks[0] (mem)"),
    ],
)
def test_errors_name_the_key_and_value(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, BASE.replace(*change)), environ={})
    assert expected in "\n".join(raised.value.problems)


def test_a_dependency_must_name_a_declared_check() -> None:
    data = tomllib.loads(BASE + '\n[[dependencies]]\nname = "db"\nkind = "database"\ncheck = "x"\n')
    with pytest.raises(ConfigError, match="check 'x' is not declared"):
        parse_config(data, source="agent.toml", environ={})


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="surprise: Extra inputs are not permitted"):
        load_config(write(tmp_path, BASE + "\n[surprise]\nx = 1\n"), environ={})


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bounceback-agent init"):
        load_config(tmp_path / "none.toml")


def test_the_starter_file_is_valid_and_covers_the_mounts() -> None:
    text = starter_config(mounts=["/", "/var"], services=["nginx"])
    data = tomllib.loads(text)
    config = AgentConfig.model_validate(data)
    names = {check.name for check in config.checks}
    assert {"memory", "cpu", "disk-root", "disk-var", "service-nginx"} <= names
    assert text.startswith("# Bounceback agent configuration")


def test_services_are_only_suggested_where_systemd_runs(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "nginx.service").write_text("")
    assert installed_services((units,), systemd_dir=tmp_path / "absent") == []
    booted = tmp_path / "booted"
    booted.mkdir()
    assert installed_services((units,), systemd_dir=booted) == ["nginx"]


@pytest.mark.parametrize(
    ("document", "environ", "where"),
    [
        ({"agent": 3}, {"HEALTH_CHECK_INTERVAL": "15"}, "agent"),
        ({"safety": [1]}, {"SELF_HEALING_ENABLED": "false"}, "safety"),
        ({"checks": True}, {"MEMORY_THRESHOLD": "80"}, "checks"),
    ],
)
def test_a_section_of_the_wrong_type_is_a_problem_under_its_name_not_a_crash(
    document: dict[str, object], environ: dict[str, str], where: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document, source="agent.toml", environ=environ)
    assert any(problem.startswith(f"agent.toml: {where}") for problem in raised.value.problems)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b"[agent]\nid = 'caf\xe9'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, environ={})


def test_a_boolean_parameters_default_stays_a_boolean_when_shown() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "agent.toml"
    shown = load_config(example, environ={}).model_dump(mode="json")
    [custom] = [action for action in shown["actions"] if action["name"] == "custom-memory-cleanup"]
    assert custom["parameters"]["aggressive"]["default"] is False  # was 0
