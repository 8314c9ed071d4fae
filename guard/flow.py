"""The guard's commands before and around the watch: gate, start, finish, and full.

``full`` is gate → start → the deploy command → watch, in one step. Each returns the exit status
(``Exit``); a ``HubError`` that is not about reachability, or a ``UsageProblem``, propagates to
the CLI, which names the problem and exits 2.
"""

from __future__ import annotations

from bounceback.api.deployment_wire import (
    TERMINAL_STATES,
    Deployment,
    DeploymentState,
    FinishRequest,
    GateRequest,
    TrackRequest,
)
from bounceback.guard.context import Exit, GuardContext
from bounceback.guard.github_types import DeploymentState as GitHubState
from bounceback.guard.github_types import GitHubError
from bounceback.guard.hub_client import HubError
from bounceback.guard.settings import UsageProblem
from bounceback.guard.summary import gate_lines, gate_markdown, report_markdown
from bounceback.guard.watch import watch

__all__ = ["finish", "full", "gate", "start"]

FINISH_OUTCOMES = {
    "succeeded": DeploymentState.SUCCEEDED,
    "success": DeploymentState.SUCCEEDED,
    "failed": DeploymentState.FAILED,
    "failure": DeploymentState.FAILED,
    "cancelled": DeploymentState.CANCELLED,
}
_GITHUB_FINAL = {
    DeploymentState.SUCCEEDED: GitHubState.SUCCESS,
    DeploymentState.INCONCLUSIVE: GitHubState.SUCCESS,
    DeploymentState.FAILED: GitHubState.FAILURE,
    DeploymentState.ROLLING_BACK: GitHubState.FAILURE,
    DeploymentState.ROLLED_BACK: GitHubState.FAILURE,
    DeploymentState.CANCELLED: GitHubState.INACTIVE,
}


def gate(ctx: GuardContext) -> Exit:
    s = ctx.settings
    target = s.need(s.target, "--target", "BOUNCEBACK_TARGET", "gate")
    request = GateRequest(
        target=target, environment=s.environment, version=s.version, health_urls=list(s.health_urls)
    )
    try:
        with ctx.console.group(f"Gate: {target} → {s.environment}"):
            result = ctx.hub.gate(request)
            for line in gate_lines(result):
                ctx.console.info(line)
    except HubError as exc:
        if not exc.unreachable:
            raise
        ctx.console.set_output("verdict", "unknown")
        return ctx.hub_down(exc, what="the gate was not checked")
    ctx.console.summary(gate_markdown(result))
    ctx.console.set_output("verdict", "allowed" if result.allowed else "blocked")
    if result.allowed:
        return Exit.OK
    blocking = [reason for reason in result.reasons if reason.blocking]
    for reason in blocking:
        annotate = ctx.console.warning if s.dry_run else ctx.console.error
        annotate(reason.message, title=f"Deploy blocked: {reason.code.value}")
    if s.dry_run:
        ctx.console.warning("dry run: the gate would have blocked this deploy", title="Dry run")
        return Exit.OK
    return Exit.FAILED


def start(ctx: GuardContext) -> tuple[Deployment, int | None]:
    """Track the deployment at the hub, then record it on GitHub with the hub's id."""
    s = ctx.settings
    target = s.need(s.target, "--target", "BOUNCEBACK_TARGET", "start")
    version = s.need(s.version, "--version", "BOUNCEBACK_VERSION or GITHUB_SHA", "start")
    previous = None
    if ctx.github is not None:
        try:
            previous = ctx.github.last_successful_ref(ctx.repository, s.environment)
        except GitHubError as exc:
            ctx.console.warning(exc.message, title="Previous deployment not found on GitHub")
    deployment = ctx.hub.track(
        TrackRequest(
            target=target,
            environment=s.environment,
            version=version,
            previous_version=previous,
            repository=s.repository,
            run_url=s.run_url,
            health_urls=list(s.health_urls),
            stabilization_minutes=s.stabilization_minutes,
            monitoring_minutes=s.monitoring_minutes,
            thresholds=s.thresholds,
            dry_run=s.dry_run,
        )
    )
    ctx.console.info(f"tracking deployment {deployment.id}: {deployment.report_url}")
    ctx.console.set_output("deployment-id", str(deployment.id))
    ctx.console.set_output("report-url", deployment.report_url)
    ctx.console.set_env("BOUNCEBACK_GUARD_DEPLOYMENT_ID", str(deployment.id))
    github_id = ctx.create_github_deployment(
        ref=version,
        payload={
            "bounceback_deployment_id": deployment.id,
            "target": target,
            "report_url": deployment.report_url,
        },
        description=f"Bounceback-guarded deploy of {target} {version}"
        + (" (dry run)" if s.dry_run else ""),
    )
    if github_id is not None:
        ctx.console.info(f"GitHub deployment {github_id} created in {s.environment}")
        ctx.console.set_output("github-deployment-id", str(github_id))
        ctx.console.set_env("BOUNCEBACK_GUARD_GITHUB_DEPLOYMENT_ID", str(github_id))
        ctx.github_status(github_id, GitHubState.QUEUED, "queued", log_url=deployment.report_url)
        ctx.github_status(
            github_id, GitHubState.IN_PROGRESS, "deploying", log_url=deployment.report_url
        )
    return deployment, github_id


def finish(ctx: GuardContext, outcome: str | None) -> Exit:
    """Close a deployment with the outcome the workflow saw and mirror it on GitHub."""
    s = ctx.settings
    if s.deployment_id is None:
        raise UsageProblem(
            "finish needs --deployment-id (or BOUNCEBACK_DEPLOYMENT_ID, set by start in this job)"
        )
    detail = ctx.hub.get(s.deployment_id)
    d = detail.deployment
    if d.state not in TERMINAL_STATES:
        if outcome is None:
            raise UsageProblem(
                f"deployment {d.id} is {d.state.value}: finish needs --outcome "
                "(or BOUNCEBACK_OUTCOME): succeeded, failed or cancelled"
            )
        state = FINISH_OUTCOMES[outcome]
        d = ctx.hub.finish(d.id, FinishRequest(outcome=state, message=f"finished as {outcome}"))
        detail = ctx.hub.get(d.id)
        d = detail.deployment
    ctx.console.info(f"deployment {d.id} is {d.state.value}")
    github_state = _GITHUB_FINAL.get(d.state, GitHubState.ERROR)
    ctx.github_status(
        s.github_deployment_id, github_state, f"{d.state.value} at the hub", log_url=d.report_url
    )
    if github_state == GitHubState.SUCCESS:
        ctx.deactivate_superseded(d.environment, s.github_deployment_id)
    ctx.console.set_output("deployment-id", str(d.id))
    ctx.console.set_output("report-url", d.report_url)
    ctx.console.set_output("verdict", d.verdict.outcome.value if d.verdict else d.state.value)
    ctx.console.summary(report_markdown(detail, github_deployment_id=s.github_deployment_id))
    return Exit.FAILED if github_state == GitHubState.FAILURE else Exit.OK


def full(ctx: GuardContext) -> Exit:
    """Gate, start, run the deploy command, watch; the rollback happens inside the watch."""
    s = ctx.settings
    s.need(s.target, "--target", "BOUNCEBACK_TARGET", "full")
    if not s.deploy_command and not s.dry_run:
        raise UsageProblem("full needs --deploy-command (or BOUNCEBACK_DEPLOY_COMMAND)")
    code = gate(ctx)
    if code != Exit.OK:
        return code
    try:
        deployment, github_id = start(ctx)
    except HubError as exc:
        if not (exc.unreachable and s.fail_open):
            raise
        ctx.hub_down(exc, what="deploying without the guard's watch")
        return _unguarded(ctx)
    if s.dry_run:
        ctx.console.info("dry run: the deploy command is not run")
    else:
        assert s.deploy_command is not None
        env = ctx.command_env(deployment.id, deployment.version)
        with ctx.console.group(f"Deploy command: {' '.join(s.deploy_command)}"):
            status = ctx.runner.run(s.deploy_command, env)
        if status != 0:
            message = f"the deploy command exited {status}"
            ctx.hub.finish(
                deployment.id, FinishRequest(outcome=DeploymentState.FAILED, message=message)
            )
            ctx.github_status(
                github_id, GitHubState.FAILURE, message, log_url=deployment.report_url
            )
            ctx.console.error(message, title="Deploy failed")
            ctx.console.set_output("verdict", "failed")
            ctx.console.set_output("rolled-back", "false")
            return Exit.FAILED
    return watch(ctx, deployment.id, github_id)


def _unguarded(ctx: GuardContext) -> Exit:
    """Fail-open with the hub down: deploy and record it on GitHub, without a verdict."""
    s = ctx.settings
    if s.dry_run or s.deploy_command is None or s.version is None:
        return Exit.OK
    try:
        github_id = ctx.create_github_deployment(
            ref=s.version,
            payload={"target": s.target, "bounceback": "unguarded: hub unreachable"},
            description=f"Deploy of {s.target} {s.version} (not verified: hub unreachable)",
        )
    except GitHubError as exc:
        ctx.console.warning(exc.message, title="GitHub deployment not recorded")
        github_id = None
    ctx.github_status(github_id, GitHubState.IN_PROGRESS, "deploying (not verified)")
    with ctx.console.group(f"Deploy command: {' '.join(s.deploy_command)}"):
        status = ctx.runner.run(s.deploy_command, ctx.command_env(None, s.version))
    ok = status == 0
    ctx.github_status(
        github_id,
        GitHubState.SUCCESS if ok else GitHubState.FAILURE,
        "deployed (not verified: hub unreachable)" if ok else f"deploy command exited {status}",
    )
    ctx.console.set_output("verdict", "unknown")
    ctx.console.set_output("rolled-back", "false")
    if not ok:
        ctx.console.error(f"the deploy command exited {status}", title="Deploy failed")
    return Exit.OK if ok else Exit.FAILED
