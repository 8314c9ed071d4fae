"""``bounceback-agent``: init, validate, check, run, enroll, install-service, actions, test."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from bounceback.agent.config import AgentConfig, ConfigError, load_config

# The daemon (`run`) stays resident for months: each command imports what it alone needs, so
# the daemon does not carry the code of `init`, `check`, `test`, `enroll` or `install-service`
# (tests/agent/test_agent_footprint.py keeps it so).

DEFAULT_CONFIG = Path("/etc/bounceback/agent.toml")
DEFAULT_UNIT = Path("/etc/systemd/system/bounceback-agent.service")


def _fail(message: str) -> NoReturn:
    click.echo(f"bounceback-agent: {message}", err=True)
    sys.exit(2)


def _config(path: Path) -> AgentConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo("bounceback-agent: invalid configuration:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    envvar="BOUNCEBACK_AGENT_CONFIG",
    show_default=True,
    help="agent.toml (env BOUNCEBACK_AGENT_CONFIG).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="bounceback-agent")
def main() -> None:
    """Bounceback agent: health checks and self-healing on this host."""


@main.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default="agent.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter agent.toml for this host to PATH."""
    from bounceback.agent.starter import starter_config

    if path.exists() and not force:
        _fail(f"PATH: {path} exists; pass --force to overwrite it")
    text = starter_config()
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}; check it with `bounceback-agent validate {path}`")


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def validate(file: Path) -> None:
    """Validate FILE (an agent.toml) together with the environment."""
    config = _config(file)
    click.echo(
        f"{file}: ok ({len(config.checks)} checks, {len(config.actions)} actions, "
        f"{len(config.processes)} processes, {len(config.dependencies)} dependencies)"
    )


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the readings as JSON.")
def check(config_path: Path, as_json: bool) -> None:
    """Run every check once and print the readings (exit 1 when one is failing)."""
    from bounceback.agent.check_table import format_table, readings_json
    from bounceback.agent.checks_evaluator import CheckEvaluator

    config = _config(config_path)

    async def one_pass() -> list[Any]:
        evaluator = CheckEvaluator(config.checks)
        try:
            return await evaluator.run_once()
        finally:
            await evaluator.aclose()

    readings = asyncio.run(one_pass())
    click.echo(readings_json(readings) if as_json else format_table(readings))
    if any(reading.status == "failing" for reading in readings):
        sys.exit(1)


@main.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Log what each action would do; change nothing.")
def run(config_path: Path, dry_run: bool) -> None:
    """Run the agent until SIGTERM or Ctrl-C."""
    from bounceback.agent import credentials
    from bounceback.agent.build import Options, build_agent
    from bounceback.api.logs import configure_logging

    config = _config(config_path)
    configure_logging(os.environ.get("BOUNCEBACK_LOG_FORMAT", "text"), "INFO")
    try:
        creds: credentials.Credentials | None = credentials.load(config.agent.credentials_file)
    except credentials.CredentialsError as exc:
        click.echo(f"bounceback-agent: running without a hub: {exc}", err=True)
        creds = None

    async def main_loop() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await build_agent(config, creds, Options(dry_run=dry_run)).run(stop)

    asyncio.run(main_loop())


@main.command()
@click.option("--hub", "hub_url", required=True, help="The hub's base URL.")
@click.option(
    "--token",
    required=True,
    help="An agent token (bounceback-hub token create --role agent --name AGENT_ID).",
)
@click.option("--agent-id", help="This agent's id (default: [agent] id of the config).")
@click.option("--no-verify", is_flag=True, help="Store without contacting the hub.")
@config_option
def enroll(
    hub_url: str, token: str, agent_id: str | None, no_verify: bool, config_path: Path
) -> None:
    """Store the hub URL and token (file mode 0600) and check that the hub accepts them."""
    from bounceback.agent import credentials
    from bounceback.agent.hub_client import HubClient, HubRefused, HubUnavailable

    config = _config(config_path) if config_path.exists() else AgentConfig()
    creds = credentials.Credentials(hub_url.rstrip("/"), agent_id or config.agent.id, token)
    if not no_verify:

        async def verify() -> None:
            client = HubClient(creds.hub_url, creds.agent_id, creds.token)
            try:
                await client.send_report(
                    {
                        "hostname": creds.agent_id,
                        "version": "0.1.0",
                        "interval_seconds": config.agent.interval_seconds,
                        "self_healing_enabled": config.safety.self_healing,
                        "events": [],
                    }
                )
            finally:
                await client.aclose()

        try:
            asyncio.run(verify())
        except HubRefused as exc:
            _fail(f"--token: the hub refused it ({exc})")
        except HubUnavailable as exc:
            _fail(f"--hub: cannot reach {creds.hub_url} ({exc}); --no-verify stores anyway")
    credentials.save(config.agent.credentials_file, creds)
    click.echo(
        f"enrolled {creds.agent_id} with {creds.hub_url} "
        f"(credentials in {config.agent.credentials_file})"
    )


@main.command("install-service")
@config_option
@click.option("--print", "to_stdout", is_flag=True, help="Write the unit to stdout instead.")
@click.option(
    "--unit-path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_UNIT,
    show_default=True,
)
def install_service(config_path: Path, to_stdout: bool, unit_path: Path) -> None:
    """Write a hardened systemd unit that runs the agent."""
    from bounceback.agent.systemd_unit import unit_text

    executable = shutil.which("bounceback-agent") or str(Path(sys.argv[0]).resolve())
    text = unit_text(executable, config_path.resolve())
    if to_stdout:
        click.echo(text, nl=False)
        return
    unit_path.write_text(text, encoding="utf-8")
    click.echo(
        f"wrote {unit_path}; now: systemctl daemon-reload && "
        f"systemctl enable --now {unit_path.stem}"
    )


@main.command()
@config_option
def actions(config_path: Path) -> None:
    """List the declared actions."""
    from bounceback.agent import action_cli

    click.echo(action_cli.describe_actions(_config(config_path).actions))


@main.command("test")
@click.argument("action")
@config_option
@click.option("--dry-run", is_flag=True, help="Show what it would do; change nothing.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter of an execute_script action (repeatable).",
)
def test_command(action: str, config_path: Path, dry_run: bool, params: tuple[str, ...]) -> None:
    """Run one declared ACTION now, through every safety limit."""
    from bounceback.agent import action_cli
    from bounceback.agent.healing import ActionRefused, Healer

    config = _config(config_path)
    values: dict[str, str] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"--param: expected NAME=VALUE, got {item!r}")
        values[name] = value
    healer = Healer(config.actions, config.safety)
    try:
        attempt = asyncio.run(action_cli.test_action(healer, action, dry_run, values))
    except ActionRefused as exc:
        _fail(f"ACTION: {exc}")
    click.echo(action_cli.format_attempt(attempt))
    click.echo(json.dumps(attempt.model_dump(mode="json"), indent=2))
    if attempt.outcome == "failed":
        sys.exit(1)
