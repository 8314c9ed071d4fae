"""``bounceback-agent`` subcommands through click's CliRunner."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bounceback.agent import credentials
from bounceback.agent.cli import main

CONFIG = """
[agent]
id = "web-1"
spool_dir = "{spool}"
credentials_file = "{creds}"

[[checks]]
name = "tmp-size"
type = "dir_size"
path = "{tmp}"
max_mb = 1
action = "clean-tmp"

[[actions]]
name = "clean-tmp"
type = "clean_temp"
directories = ["{tmp}"]
older_than_hours = 1
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / "agent.toml"
    path.write_text(
        CONFIG.format(spool=tmp_path / "spool", creds=tmp_path / "creds.toml", tmp=work)
    )
    return path


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_valid_starter_file_and_will_not_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    assert invoke("init", path)[0] == 0
    assert invoke("validate", path)[0] == 0
    code, _, err = invoke("init", path)
    assert code == 2
    assert "--force" in err


def test_validate_names_the_bad_key_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[[checks]]\nname = "m"\ntype = "memory"\nthreshold = "high"\n')
    code, _, err = invoke("validate", path)
    assert code == 2
    assert "checks[0] (m).threshold = 'high'" in err


def test_check_prints_a_table_and_json(config: Path) -> None:
    code, out, _ = invoke("check", "--config", config)
    assert code == 0
    assert "tmp-size" in out and "dir_size" in out
    code, out, _ = invoke("check", "--config", config, "--json")
    readings = json.loads(out)
    assert readings[0]["check"] == "tmp-size"
    assert readings[0]["status"] == "ok"


def test_actions_lists_the_declared_actions(config: Path) -> None:
    code, out, _ = invoke("actions", "--config", config)
    assert code == 0
    assert "clean-tmp" in out and "clean_temp" in out


def test_test_runs_a_declared_action_dry(config: Path) -> None:
    code, out, _ = invoke("test", "clean-tmp", "--config", config, "--dry-run")
    assert code == 0
    assert '"outcome": "dry_run"' in out


def test_test_refuses_an_undeclared_action(config: Path) -> None:
    code, _, err = invoke("test", "rm-everything", "--config", config)
    assert code == 2
    assert "not a declared action" in err


def test_install_service_prints_a_hardened_unit(config: Path) -> None:
    code, out, _ = invoke("install-service", "--config", config, "--print")
    assert code == 0
    assert "ExecStart=" in out and f"--config {config}" in out
    assert "NoNewPrivileges=yes" in out
    assert "StartLimitIntervalSec=0" in out


def test_install_service_writes_the_unit_file(config: Path, tmp_path: Path) -> None:
    unit = tmp_path / "bounceback-agent.service"
    code, _, _ = invoke("install-service", "--config", config, "--unit-path", unit)
    assert code == 0
    assert "[Service]" in unit.read_text()


def test_enroll_without_verify_stores_credentials_readable_only_by_us(
    config: Path, tmp_path: Path
) -> None:
    code, out, _ = invoke(
        "enroll",
        "--hub",
        "http://127.0.0.1:9/",
        "--token",
        "bbt_x",
        "--no-verify",
        "--config",
        config,
    )
    assert code == 0, out
    path = tmp_path / "creds.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = credentials.load(path)
    assert stored == credentials.Credentials("http://127.0.0.1:9", "web-1", "bbt_x")


def test_enroll_reports_an_unreachable_hub_naming_the_flag(config: Path) -> None:
    code, _, err = invoke(
        "enroll", "--hub", "http://127.0.0.1:9", "--token", "t", "--config", config
    )
    assert code == 2
    assert "--hub" in err


def test_credentials_readable_by_others_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    credentials.save(path, credentials.Credentials("http://h", "a", "t"))
    path.chmod(0o644)
    with pytest.raises(credentials.CredentialsError, match="chmod 600"):
        credentials.load(path)
