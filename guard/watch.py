"""Watching a deployment: tell the hub the deploy is done, follow it to a verdict, act on it.

The hub's clock drives the phases (warm-up, stabilization, monitoring looks); the guard only
polls ``GET /{id}`` every ``poll_interval`` and reports each change of state or new look. When the
hub asks for a rollback the guard performs it (never in a dry run), then sets the GitHub
statuses and outputs.
"""

from __future__ import annotations

from bounceback.api.deployment_wire import (
    TERMINAL_STATES,
    DeployedRequest,
    Deployment,
    DeploymentDetail,
    DeploymentState,
    VerdictOutcome,
)
from bounceback.guard.context import Exit, GuardContext
from bounceback.guard.github_types import DeploymentState as GitHubState
from bounceback.guard.hub_client import HubError
from bounceback.guard.rollback import roll_back
from bounceback.guard.summary import (
    RollbackNote,
    failing_metrics,
    metric_line,
    number,
    report_markdown,
)

__all__ = ["WatchTimeout", "conclude", "follow", "watch"]

_GRACE_SECONDS = 15 * 60.0


class WatchTimeout(Exception):
    pass


def watch(ctx: GuardContext, deployment_id: int, github_id: int | None) -> Exit:
    try:
        detail = ctx.hub.get(deployment_id)
        if detail.deployment.state in (DeploymentState.REGISTERED, DeploymentState.DEPLOYING):
            message = f"GitHub deployment {github_id}" if github_id else ""
            ctx.hub.deployed(
                deployment_id,
                DeployedRequest(succeeded=True, message=message, github_deployment_id=github_id),
            )
        ctx.github_status(
            github_id,
            GitHubState.IN_PROGRESS,
            "watched by Bounceback",
            log_url=detail.deployment.report_url,
        )
        final = follow(ctx, deployment_id)
    except WatchTimeout as exc:
        # The hub answers but has not decided: not a hub error, so never failed open.
        ctx.console.error(str(exc), title="No verdict in time")
        ctx.github_status(github_id, GitHubState.ERROR, "not verified: no verdict in time")
        ctx.console.set_output("verdict", "unknown")
        return Exit.HUB_UNREACHABLE
    except HubError as error:
        if not error.unreachable:
            raise
        code = ctx.hub_down(error, what="the deployment was not verified")
        state = GitHubState.SUCCESS if code == Exit.OK else GitHubState.ERROR
        ctx.github_status(github_id, state, "not verified: the Bounceback hub was unreachable")
        ctx.console.set_output("verdict", "unknown")
        return code
    return conclude(ctx, final, github_id)


def follow(ctx: GuardContext, deployment_id: int) -> DeploymentDetail:
    """Poll until the deployment is terminal or the hub asks for a rollback."""
    started = ctx.monotonic()
    seen: tuple[DeploymentState, int] | None = None
    while True:
        detail = ctx.hub.get(deployment_id)
        d = detail.deployment
        look = d.verdict.look if d.verdict else 0
        if seen != (d.state, look):
            seen = (d.state, look)
            ctx.console.info(_progress(d))
        if d.rollback_requested or d.state in TERMINAL_STATES:
            return detail
        limit = ctx.settings.watch_timeout
        if limit is None:
            limit = 2 * 60.0 * (d.stabilization_minutes + d.monitoring_minutes) + _GRACE_SECONDS
        if ctx.monotonic() - started >= limit:
            raise WatchTimeout(
                f"the hub gave no verdict on deployment {deployment_id} within "
                f"{limit / 60:.0f} minutes (--watch-timeout); it is still {d.state.value}"
            )
        ctx.sleep(ctx.settings.poll_interval)


def _progress(d: Deployment) -> str:
    line = f"deployment {d.id}: {d.state.value}"
    if d.verdict is not None:
        v = d.verdict
        line += f", look {v.look}/{v.max_looks}: {v.outcome.value} — {v.explanation}"
    return line


def conclude(ctx: GuardContext, detail: DeploymentDetail, github_id: int | None) -> Exit:
    """Report the verdict, roll back if asked, close the GitHub deployment; the exit status."""
    d = detail.deployment
    dry_run = ctx.settings.dry_run or d.dry_run
    outcome = d.verdict.outcome.value if d.verdict else d.state.value
    ctx.console.set_output("verdict", outcome)
    ctx.console.set_output("report-url", d.report_url)
    with ctx.console.group(f"Verdict for {d.target} {d.version}: {outcome}"):
        for metric in d.verdict.metrics if d.verdict else []:
            ctx.console.info(metric_line(metric))
    failing = failing_metrics(d.verdict)
    reason = "; ".join(f"{m.name}: {m.explanation}" for m in failing) or (
        d.verdict.explanation if d.verdict else f"deployment {d.state.value}"
    )
    rollback: RollbackNote | None = None
    code = Exit.OK
    if d.rollback_requested or d.state in (DeploymentState.FAILED, DeploymentState.ROLLED_BACK):
        # A dry run never fails the job: what would have failed it is a warning (as at the gate).
        annotate = ctx.console.warning if dry_run else ctx.console.error
        for metric in failing:
            annotate(
                f"{metric.explanation} (baseline {number(metric.baseline)}, after deploy "
                f"{number(metric.current)}, threshold {number(metric.threshold)})",
                title=f"Deployment verdict: {metric.name} failed",
            )
        if not failing:
            annotate(reason, title=f"Deployment {d.state.value}")
        ctx.github_status(github_id, GitHubState.FAILURE, reason, log_url=d.report_url)
        if dry_run:
            ctx.console.warning(
                "dry run: the deployment would have been rolled back", title="Dry run"
            )
            code = Exit.OK
        else:
            if d.rollback_requested:
                rollback = roll_back(ctx, d, reason)
            code = Exit.FAILED
    elif d.state == DeploymentState.SUCCEEDED and dry_run:
        # Nothing says the version was deployed: the GitHub deployment must not become the
        # environment's last successful one (what rollbacks restore), nor retire the live one.
        ctx.github_status(
            github_id, GitHubState.INACTIVE, "dry run: would pass", log_url=d.report_url
        )
    elif d.state == DeploymentState.SUCCEEDED:
        ctx.github_status(
            github_id, GitHubState.SUCCESS, "verified by Bounceback", log_url=d.report_url
        )
        ctx.deactivate_superseded(d.environment, github_id)
    elif d.state == DeploymentState.INCONCLUSIVE:
        # The judge ends "inconclusive" on too little evidence and on no data at all (nodata);
        # neither rolls back, and each says which it was.
        nodata = d.verdict is not None and d.verdict.outcome == VerdictOutcome.NODATA
        label = "nodata" if nodata else "inconclusive"
        advice = (
            "nothing after the deploy could be compared with the baseline; check the health URLs "
            "and hosts the hub watches"
            if nodata
            else "inconclusive verdicts never roll back by themselves; have a look"
        )
        ctx.console.warning(f"{reason}. {advice}.", title=f"Deployment verdict {label}")
        ctx.github_status(
            github_id, GitHubState.SUCCESS, f"{label}: {reason}", log_url=d.report_url
        )
    else:  # cancelled, or something newer than this guard
        ctx.console.error(
            f"deployment {d.id} ended {d.state.value}", title="Deployment not verified"
        )
        ctx.github_status(github_id, GitHubState.INACTIVE, f"{d.state.value} at the hub")
        code = Exit.FAILED
    ctx.console.set_output("rolled-back", "true" if rollback and rollback.performed else "false")
    final = ctx.hub.get(d.id) if rollback is not None else detail
    ctx.console.summary(
        report_markdown(final, github_deployment_id=github_id, rollback=rollback, dry_run=dry_run)
    )
    return code
