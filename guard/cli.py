"""``bounceback-guard``: the deployment guard's command line, as used by action.yml.

Every flag has an environment variable, so the composite action passes its inputs through
``env:`` and never interpolates them into a script. Exit status: 0 ok, 1 blocked / rolled back /
failed, 2 a flag or variable is missing or wrong (or the hub refused the request as invalid or
unauthorised), 3 the hub is unreachable (0 with a warning for gate, watch and full when
``--fail-open-on-hub-error`` is set).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from bounceback.guard.commands import split_command
from bounceback.guard.context import Exit, GuardContext, Runtime
from bounceback.guard.credentials import CredentialError, OidcCredential, StaticToken
from bounceback.guard.durations import Duration
from bounceback.guard.flow import finish, full, gate, start
from bounceback.guard.github_types import DeploymentsApi, GitHubError
from bounceback.guard.hub_client import HubClient, HubError
from bounceback.guard.rollback import manual_rollback
from bounceback.guard.settings import (
    GuardSettings,
    UsageProblem,
    parse_thresholds,
    run_url_from,
    split_urls,
)
from bounceback.guard.watch import watch
from bounceback.guard.workflow import Console

__all__ = ["main"]

F = Callable[..., Any]


def _option(*declarations: str, **attrs: Any) -> Callable[[F], F]:
    return click.option(*declarations, show_envvar=True, **attrs)


_OPTIONS: list[Callable[[F], F]] = [
    _option("--hub-url", envvar="BOUNCEBACK_HUB_URL", help="The hub's public URL."),
    _option(
        "--hub-token",
        envvar="BOUNCEBACK_HUB_TOKEN",
        help="A hub token with the guard role; without one, a GitHub OIDC token is used.",
    ),
    _option(
        "--hub-attempts",
        envvar="BOUNCEBACK_HUB_ATTEMPTS",
        type=click.IntRange(1, 10),
        default=4,
        help="Tries per hub call on 5xx or network errors, with backoff 1 s, 2 s, 4 s, …",
    ),
    _option(
        "--oidc-audience",
        envvar="BOUNCEBACK_OIDC_AUDIENCE",
        help="Audience of the OIDC token [default: the hub URL].",
    ),
    _option("--github-token", envvar="GITHUB_TOKEN", help="Token for GitHub deployments."),
    _option(
        "--github-api-url",
        envvar="GITHUB_API_URL",
        help="GitHub's REST API [default: from GITHUB_SERVER_URL, else api.github.com].",
    ),
    _option("--repository", envvar="GITHUB_REPOSITORY", help="owner/name on GitHub."),
    _option("--environment", envvar="BOUNCEBACK_ENVIRONMENT", default="production"),
    _option("--target", envvar="BOUNCEBACK_TARGET", help="The service being deployed."),
    _option(
        "--version",
        "version",
        envvar=["BOUNCEBACK_VERSION", "GITHUB_SHA"],
        help="What is deployed: a commit SHA, tag or image digest.",
    ),
    _option("--deploy-command", envvar="BOUNCEBACK_DEPLOY_COMMAND"),
    _option("--rollback-command", envvar="BOUNCEBACK_ROLLBACK_COMMAND"),
    _option(
        "--rollback-workflow",
        envvar="BOUNCEBACK_ROLLBACK_WORKFLOW",
        help="Workflow file to dispatch with the last good ref instead of a rollback command.",
    ),
    _option(
        "--rollback-workflow-ref",
        envvar=["BOUNCEBACK_ROLLBACK_WORKFLOW_REF", "GITHUB_REF_NAME"],
        help="Branch the rollback workflow is dispatched on [default: this run's branch].",
    ),
    _option(
        "--rollback-ref",
        envvar="BOUNCEBACK_ROLLBACK_REF",
        help="Version to roll back to [default: the last good one].",
    ),
    _option("--reason", envvar="BOUNCEBACK_ROLLBACK_REASON", help="Why (manual rollback)."),
    _option(
        "--health-url",
        "health_urls",
        multiple=True,
        envvar="BOUNCEBACK_HEALTH_URL",
        help="A URL the hub probes; repeat, or separate with new lines.",
    ),
    _option("--environment-url", envvar="BOUNCEBACK_ENVIRONMENT_URL"),
    _option(
        "--stabilization",
        envvar="BOUNCEBACK_STABILIZATION",
        type=Duration("m"),
        help="Stabilization period, e.g. 15 or 15m [default: the hub's].",
    ),
    _option(
        "--monitoring",
        envvar="BOUNCEBACK_MONITORING",
        type=Duration("m"),
        help="Monitoring duration, e.g. 60 or 1h [default: the hub's].",
    ),
    _option(
        "--thresholds",
        envvar="BOUNCEBACK_THRESHOLDS",
        help="Judge thresholds: name=value pairs (error_rate_ratio=2, …) or a JSON object.",
    ),
    _option("--dry-run", envvar="BOUNCEBACK_DRY_RUN", is_flag=True, default=False),
    _option(
        "--fail-open-on-hub-error",
        envvar="BOUNCEBACK_FAIL_OPEN_ON_HUB_ERROR",
        is_flag=True,
        default=False,
    ),
    _option(
        "--poll-interval",
        envvar="BOUNCEBACK_POLL_INTERVAL",
        type=Duration("s"),
        default="30s",
        help="How often watch asks the hub; a bare number is seconds.",
    ),
    _option(
        "--watch-timeout",
        envvar="BOUNCEBACK_WATCH_TIMEOUT",
        type=Duration("m"),
        help="Give up waiting for a verdict [default: twice the watch plus 15 minutes].",
    ),
    _option(
        "--deployment-id",
        envvar=["BOUNCEBACK_DEPLOYMENT_ID", "BOUNCEBACK_GUARD_DEPLOYMENT_ID"],
        type=click.IntRange(min=1),
    ),
    _option(
        "--github-deployment-id",
        envvar=["BOUNCEBACK_GITHUB_DEPLOYMENT_ID", "BOUNCEBACK_GUARD_GITHUB_DEPLOYMENT_ID"],
        type=click.IntRange(min=1),
    ),
    _option(
        "--production-environment/--no-production-environment",
        "production",
        envvar="BOUNCEBACK_PRODUCTION_ENVIRONMENT",
        default=None,
        help="[default: when the environment is named production]",
    ),
    _option("--transient-environment", envvar="BOUNCEBACK_TRANSIENT_ENVIRONMENT", is_flag=True),
    _option(
        "--outcome",
        envvar="BOUNCEBACK_OUTCOME",
        type=click.Choice(["succeeded", "failed", "cancelled", "success", "failure"]),
        help="finish: what the workflow saw (job.status values work too).",
    ),
]


def _guard_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def _api_url(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    server = os.environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    if server and server != "https://github.com":
        return f"{server}/api/v3"
    return None


# option: flag, environment variable, more than, at most (seconds; the hub's limits).
_DURATION_LIMITS: dict[str, tuple[str, str, float | None, float | None]] = {
    "poll_interval": ("--poll-interval", "BOUNCEBACK_POLL_INTERVAL", 0.0, None),
    "watch_timeout": ("--watch-timeout", "BOUNCEBACK_WATCH_TIMEOUT", 0.0, None),
    "stabilization": ("--stabilization", "BOUNCEBACK_STABILIZATION", None, 24 * 3600.0),
    "monitoring": ("--monitoring", "BOUNCEBACK_MONITORING", None, 7 * 24 * 3600.0),
}


def _settings(options: dict[str, Any]) -> GuardSettings:
    if not options["hub_url"]:
        raise UsageProblem("--hub-url (or BOUNCEBACK_HUB_URL) is required")
    commands: dict[str, tuple[str, ...] | None] = {}
    for name, flag in (
        ("deploy_command", "--deploy-command"),
        ("rollback_command", "--rollback-command"),
    ):
        text = options[name]
        try:
            commands[name] = split_command(text, flag=flag) if text and text.strip() else None
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
    for name, (flag, env, more_than, at_most) in _DURATION_LIMITS.items():
        value = options[name]
        if value is None:
            continue
        if more_than is not None and value <= more_than:
            raise UsageProblem(f"{flag} (or {env}) must be more than {more_than:g} seconds")
        if at_most is not None and value > at_most:
            raise UsageProblem(f"{flag} (or {env}) must be at most {at_most / 3600:g} hours")
    poll = options["poll_interval"]
    minutes = {
        k: (options[k] / 60 if options[k] is not None else None)
        for k in ("stabilization", "monitoring")
    }
    return GuardSettings(
        hub_url=options["hub_url"].rstrip("/"),
        target=options["target"] or None,
        environment=options["environment"] or "production",
        version=options["version"] or None,
        repository=options["repository"] or None,
        run_url=run_url_from(os.environ),
        actor=os.environ.get("GITHUB_ACTOR"),
        health_urls=split_urls(options["health_urls"]),
        environment_url=options["environment_url"] or None,
        stabilization_minutes=minutes["stabilization"],
        monitoring_minutes=minutes["monitoring"],
        thresholds=parse_thresholds(options["thresholds"]),
        dry_run=options["dry_run"],
        fail_open=options["fail_open_on_hub_error"],
        poll_interval=poll,
        watch_timeout=options["watch_timeout"],
        deploy_command=commands["deploy_command"],
        rollback_command=commands["rollback_command"],
        rollback_workflow=options["rollback_workflow"] or None,
        rollback_workflow_ref=options["rollback_workflow_ref"] or None,
        rollback_ref=options["rollback_ref"] or None,
        reason=options["reason"] or None,
        deployment_id=options["deployment_id"],
        github_deployment_id=options["github_deployment_id"],
        production=options["production"],
        transient=options["transient_environment"],
    )


def _connect_github(
    options: dict[str, Any], console: Console, runtime: Runtime
) -> DeploymentsApi | None:
    token, repository = options["github_token"], options["repository"]
    if not (token and repository):
        console.info("GitHub deployments are not recorded: no GITHUB_TOKEN or GITHUB_REPOSITORY")
        return None
    console.mask(token)
    # PyGithub is imported only here: `--help` and the hub-only paths stay fast.
    from bounceback.guard.github import PyGithubDeployments

    return PyGithubDeployments.connect(
        token,
        _api_url(options["github_api_url"]),
        sleep=runtime.sleep,
        pace_writes=runtime.pace_github_writes,
    )


def _credential(
    options: dict[str, Any], hub_url: str, console: Console
) -> StaticToken | OidcCredential:
    if options["hub_token"]:
        console.mask(options["hub_token"])
        return StaticToken(options["hub_token"])
    request_url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if request_url and request_token:
        console.mask(request_token)
        return OidcCredential(
            request_url, request_token, options["oidc_audience"] or hub_url, on_token=console.mask
        )
    raise UsageProblem(
        "no hub credential: set --hub-token (or BOUNCEBACK_HUB_TOKEN), or run in GitHub Actions "
        "with `permissions: id-token: write` to use an OIDC token"
    )


def _run(command: Callable[[GuardContext, dict[str, Any]], Exit], options: dict[str, Any]) -> None:
    runtime = click.get_current_context().find_object(Runtime) or Runtime()
    console = Console.from_environ(os.environ)
    github: DeploymentsApi | None = None
    try:
        settings = _settings(options)
        credential = _credential(options, settings.hub_url, console)
        github = _connect_github(options, console, runtime)
        with HubClient(
            settings.hub_url, credential, attempts=options["hub_attempts"], sleep=runtime.sleep
        ) as hub:
            ctx = GuardContext(
                settings=settings,
                hub=hub,
                console=console,
                github=github,
                runner=runtime.runner,
                sleep=runtime.sleep,
                monotonic=runtime.monotonic,
            )
            code = command(ctx, options)
    except UsageProblem as exc:
        raise click.UsageError(console.scrub(str(exc))) from None
    except CredentialError as exc:
        console.error(str(exc), title="No hub credential")
        code = Exit.USAGE
    except HubError as exc:
        if exc.unreachable:
            console.error(exc.message, title="Bounceback hub unreachable")
            code = Exit.HUB_UNREACHABLE
        else:
            console.error(exc.message, title="The hub refused the request")
            code = Exit.USAGE if exc.status in (400, 401, 403, 404, 422) else Exit.FAILED
    except GitHubError as exc:
        console.error(exc.message, title="GitHub deployment failed")
        code = Exit.FAILED
    finally:
        close = getattr(github, "close", None)
        if close is not None:
            close()
    raise SystemExit(int(code))


def _watch(ctx: GuardContext, _options: dict[str, Any]) -> Exit:
    s = ctx.settings
    if s.deployment_id is None:
        raise UsageProblem(
            "watch needs --deployment-id (or BOUNCEBACK_DEPLOYMENT_ID, set by start in this job)"
        )
    return watch(ctx, s.deployment_id, s.github_deployment_id)


def _start(ctx: GuardContext, _options: dict[str, Any]) -> Exit:
    start(ctx)
    return Exit.OK


def _rollback(ctx: GuardContext, _options: dict[str, Any]) -> Exit:
    note = manual_rollback(ctx)
    ctx.console.set_output("rolled-back", "true" if note.performed else "false")
    return Exit.OK if note.performed else Exit.FAILED


_COMMANDS: dict[str, tuple[Callable[[GuardContext, dict[str, Any]], Exit], str]] = {
    "gate": (
        lambda ctx, _o: gate(ctx),
        "Ask the hub whether deploying now is safe; list every reason.",
    ),
    "start": (_start, "Track the deployment at the hub and create its GitHub deployment."),
    "watch": (
        _watch,
        "Tell the hub the deploy is done, follow it to a verdict, roll back if asked.",
    ),
    "finish": (
        lambda ctx, o: finish(ctx, o["outcome"]),
        "Close a deployment with --outcome and set its final GitHub status.",
    ),
    "rollback": (
        _rollback,
        "Roll back to the last good version (or --rollback-ref) with --rollback-command.",
    ),
    "full": (
        lambda ctx, _o: full(ctx),
        "gate, start, run --deploy-command, watch (and roll back) in one step.",
    ),
}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
def main() -> None:
    """Bounceback deployment guard: gate, track, watch and roll back a deployment.

    Every flag can also be set by the environment variable shown in its help. Exit status: 0 ok,
    1 blocked, rolled back or failed, 2 usage error, 3 hub unreachable.
    """


def _make(name: str, run: Callable[[GuardContext, dict[str, Any]], Exit], help_text: str) -> None:
    def command(**options: Any) -> None:
        _run(run, options)

    command.__name__ = name
    main.command(name=name, help=help_text, context_settings={"show_default": True})(
        _guard_options(command)
    )


for _name, (_run_command, _help) in _COMMANDS.items():
    _make(_name, _run_command, _help)
