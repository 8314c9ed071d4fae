"""``bounceback-hub`` subcommands through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from bounceback.api.cli import main
from bounceback.api.store.migrate import alembic_config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(main, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def test_token_create_prints_only_the_token(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = invoke(
        runner, "token", "create", "--role", "admin", "--name", "ops", "--data-dir", tmp_path
    )
    assert code == 0
    assert out.count("\n") == 1
    assert out.startswith("bbt_")
    assert len(out.strip()) > 40


def test_tokens_are_listed_and_revoked_by_name(runner: CliRunner, tmp_path: Path) -> None:
    invoke(runner, "token", "create", "--role", "viewer", "--name", "ro", "--data-dir", tmp_path)
    code, out, _ = invoke(runner, "token", "list", "--data-dir", tmp_path)
    assert code == 0
    assert out.startswith("ro\tviewer\t")
    assert "active" in out
    code, out, _ = invoke(runner, "token", "revoke", "ro", "--data-dir", tmp_path)
    assert code == 0
    _, listed, _ = invoke(runner, "token", "list", "--data-dir", tmp_path)
    assert "revoked" in listed


def test_the_token_itself_is_never_stored(runner: CliRunner, tmp_path: Path) -> None:
    _, token, _ = invoke(
        runner, "token", "create", "--role", "admin", "--name", "a", "--data-dir", tmp_path
    )
    raw = b"".join(path.read_bytes() for path in tmp_path.rglob("bounceback.db*"))
    assert token.strip().encode() not in raw


def test_a_duplicate_token_name_exits_2_naming_the_flag(runner: CliRunner, tmp_path: Path) -> None:
    args = ("token", "create", "--role", "admin", "--name", "dup", "--data-dir", tmp_path)
    invoke(runner, *args)
    code, out, err = invoke(runner, *args)
    assert code == 2
    assert out == ""
    assert "--name" in err


def test_an_unknown_role_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(
        runner, "token", "create", "--role", "god", "--name", "x", "--data-dir", tmp_path
    )
    assert code == 2
    assert "--role" in err


def test_revoking_an_unknown_token_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "token", "revoke", "ghost", "--data-dir", tmp_path)
    assert code == 2
    assert "ghost" in err


def test_integration_keys_are_created_listed_and_revoked(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = invoke(
        runner,
        "integration",
        "create",
        "--kind",
        "pagerduty",
        "--name",
        "dd",
        "--data-dir",
        tmp_path,
    )
    assert code == 0
    assert len(out.strip()) == 32
    _, listed, _ = invoke(runner, "integration", "list", "--data-dir", tmp_path)
    assert listed.startswith("dd\tpagerduty\t")
    assert invoke(runner, "integration", "revoke", "dd", "--data-dir", tmp_path)[0] == 0


def test_config_show_prints_value_and_source(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("cpu_threshold = 70\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@db/x")
    code, out, _ = invoke(runner, "config", "show", "--config", config, "--data-dir", tmp_path)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "70" in lines["CPU_THRESHOLD"] and "hub.toml" in lines["CPU_THRESHOLD"]
    assert "flag --data-dir" in lines["BOUNCEBACK_DATA_DIR"]
    assert "environment variable DATABASE_URL" in lines["DATABASE_URL"]
    assert "secret" not in out
    assert "default" in lines["L5_TIMEOUT_MINUTES"]


def test_config_check_accepts_a_good_file_and_names_the_bad_key(
    runner: CliRunner, tmp_path: Path
) -> None:
    good = tmp_path / "good.toml"
    good.write_text("escalation_enabled = true\nl1_timeout_minutes = 5\n")
    assert invoke(runner, "config", "check", good)[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("l1_timeout_minutes = -5\n")
    code, _, err = invoke(runner, "config", "check", bad)
    assert code == 2
    assert "l1_timeout_minutes" in err
    assert "-5" in err
    assert "greater than 0" in err


def test_serve_refuses_an_invalid_environment_with_status_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEALTH_CHECK_INTERVAL", "often")
    code, _, err = invoke(runner, "serve", "--data-dir", tmp_path)
    assert code == 2
    assert "HEALTH_CHECK_INTERVAL" in err and "'often'" in err


def test_serve_refuses_a_bad_port_flag(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "serve", "--port", "99999", "--data-dir", tmp_path)
    assert code == 2
    assert "--port" in err


def test_migrate_reports_the_revision(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = invoke(runner, "migrate", "--data-dir", tmp_path)
    assert code == 0
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"revision {head}" in out
