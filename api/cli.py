"""``bounceback-hub``: serve, migrate, inspect configuration, manage tokens and integration keys."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import INTEGRATION_KINDS, Credentials, NameTaken
from bounceback.api.clock import SystemClock
from bounceback.api.config_loader import ConfigError, describe, load_settings
from bounceback.api.retention.job import Pass, prune_pass
from bounceback.api.settings import HubSettings, LogFormat
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _fail(message: str) -> None:
    click.echo(f"bounceback-hub: {message}", err=True)
    sys.exit(2)


def common_options(command: F) -> F:
    """--data-dir and --config, taken the same way by every subcommand."""
    command = click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="BOUNCEBACK_CONFIG",
        help="hub.toml with structured settings (env BOUNCEBACK_CONFIG).",
    )(command)
    command = click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where the embedded SQLite store lives (env BOUNCEBACK_DATA_DIR).",
    )(command)
    return command


def settings_from(config_file: Path | None, **flags: Any) -> HubSettings:
    names = {
        "data_dir": "bounceback_data_dir",
        "host": "bounceback_host",
        "port": "bounceback_port",
        "log_format": "bounceback_log_format",
    }
    try:
        return load_settings({names[k]: v for k, v in flags.items()}, config_file)
    except ConfigError as exc:
        click.echo("bounceback-hub: invalid configuration:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


def with_database(settings: HubSettings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
        try:
            await migrate(db)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="bounceback-hub")
def main() -> None:
    """Bounceback hub: alert intake, incidents, escalation and recovery."""


@main.command()
@click.option("--host", help="Address to listen on (env BOUNCEBACK_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port (env BOUNCEBACK_PORT, default 4000).")
@click.option(
    "--log-format",
    type=click.Choice([f.value for f in LogFormat]),
    help="Log as text or JSON lines (env BOUNCEBACK_LOG_FORMAT).",
)
@common_options
def serve(
    host: str | None,
    port: int | None,
    log_format: str | None,
    data_dir: Path | None,
    config_file: Path | None,
) -> None:
    """Run the hub until SIGTERM or Ctrl-C (in-flight requests and queued work are drained)."""
    settings = settings_from(
        config_file, host=host, port=port, log_format=log_format, data_dir=data_dir
    )
    from bounceback.api.server import run_server

    run_server(settings)


@main.command("migrate")
@common_options
def migrate_command(data_dir: Path | None, config_file: Path | None) -> None:
    """Apply the database migrations (the hub also does this at start)."""
    settings = settings_from(config_file, data_dir=data_dir)
    from bounceback.api.store.migrate import current_revision

    revision = with_database(settings, current_revision)
    click.echo(f"database is at revision {revision}")


@main.group()
def config() -> None:
    """Inspect and validate configuration."""


@config.command("show")
@common_options
def config_show(data_dir: Path | None, config_file: Path | None) -> None:
    """Print every setting, its effective value (secrets masked) and where it came from."""
    flags = {"bounceback_data_dir": data_dir}
    settings = settings_from(config_file, data_dir=data_dir)
    rows = describe(settings, flags, config_file)
    width = max(len(row.name) for row in rows)
    value_width = min(40, max(len(row.value) for row in rows))
    for row in rows:
        click.echo(f"{row.name:<{width}}  {row.value:<{value_width}}  {row.source}")


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def config_check(file: Path) -> None:
    """Validate FILE (a hub.toml) together with the current environment."""
    settings_from(file)
    click.echo(f"{file}: ok")


@main.group()
def token() -> None:
    """API tokens (stored hashed; shown once)."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True, help="A unique name, used to list and revoke it.")
@common_options
def token_create(role: str, name: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Create a token and print it (only it) on stdout."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def create(db: Database) -> str:
        return await Credentials(db, SystemClock()).create_token(name, Role(role))

    try:
        click.echo(with_database(settings, create))
    except NameTaken:
        _fail(f"--name: a token named {name!r} exists already (revoke it or pick another name)")


@token.command("list")
@common_options
def token_list(data_dir: Path | None, config_file: Path | None) -> None:
    """List tokens: name, role, created, revoked."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def rows(db: Database) -> list[Any]:
        return await Credentials(db, SystemClock()).list_tokens()

    for row in with_database(settings, rows):
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name}\t{row.kind}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@token.command("revoke")
@click.argument("name")
@common_options
def token_revoke(name: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Revoke the token called NAME."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def revoke(db: Database) -> bool:
        return await Credentials(db, SystemClock()).revoke_token(name)

    if not with_database(settings, revoke):
        _fail(f"NAME: no active token named {name!r}")
    click.echo(f"revoked {name}")


@main.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@common_options
def prune_command(dry_run: bool, data_dir: Path | None, config_file: Path | None) -> None:
    """Delete what retention lets go now (the hub also does it every interval)."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def run(db: Database) -> Pass:
        return await prune_pass(settings, db, SystemClock(), dry_run=dry_run)

    done = with_database(settings, run)
    if done.cutoffs.nothing:
        click.echo("retention keeps everything (every BOUNCEBACK_RETENTION_*_DAYS is 0)")
        return
    verb = "would delete" if dry_run else "deleted"
    for kind, rows in done.deleted.items():
        click.echo(f"{kind}\t{verb} {rows}")


@main.group()
def integration() -> None:
    """Integration keys for alert sources (Alertmanager, PagerDuty-style senders, generic)."""


@integration.command("create")
@click.option("--kind", required=True, type=click.Choice(INTEGRATION_KINDS))
@click.option("--name", required=True, help="A unique name; incidents record it.")
@common_options
def integration_create(
    kind: str, name: str, data_dir: Path | None, config_file: Path | None
) -> None:
    """Create an integration key and print it (only it) on stdout."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def create(db: Database) -> str:
        return await Credentials(db, SystemClock()).create_integration(name, kind)

    try:
        click.echo(with_database(settings, create))
    except NameTaken:
        _fail(f"--name: an integration named {name!r} exists already")


@integration.command("list")
@common_options
def integration_list(data_dir: Path | None, config_file: Path | None) -> None:
    """List integrations: name, kind, created, revoked."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def rows(db: Database) -> list[Any]:
        return await Credentials(db, SystemClock()).list_integrations()

    for row in with_database(settings, rows):
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name}\t{row.kind}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@integration.command("revoke")
@click.argument("name")
@common_options
def integration_revoke(name: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Revoke the integration key called NAME."""
    settings = settings_from(config_file, data_dir=data_dir)

    async def revoke(db: Database) -> bool:
        return await Credentials(db, SystemClock()).revoke_integration(name)

    if not with_database(settings, revoke):
        _fail(f"NAME: no active integration named {name!r}")
    click.echo(f"revoked {name}")


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 4000).")
@click.option("--exit-after-demo", is_flag=True, help="Stop once the demo events are in.")
@common_options
def demo(
    host: str | None,
    port: int | None,
    exit_after_demo: bool,
    data_dir: Path | None,
    config_file: Path | None,
) -> None:
    """Run the hub with demo data: sample Alertmanager and PagerDuty events, an admin token."""
    settings = settings_from(config_file, host=host, port=port, data_dir=data_dir)
    from bounceback.api.demo import run_demo

    run_demo(settings, exit_after_demo=exit_after_demo)
