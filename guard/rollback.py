"""Rolling back: recorded as its own deployment at the hub and on GitHub, then performed.

The rollback is a deployment of the last good version (``kind=rollback``, ``rolls_back`` = the
failed one) with its own GitHub deployment (task ``deploy:rollback``). It is performed by the
rollback command, run without a shell, or by dispatching a workflow with the ref to restore; a
dispatched workflow closes the record itself with ``bounceback-guard rollback`` or ``finish``.
Bookkeeping failures on GitHub warn and never stop the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass

from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentKind,
    DeploymentState,
    FinishRequest,
    RollbackRequest,
    TrackRequest,
)
from bounceback.guard.context import GuardContext
from bounceback.guard.github_types import DeploymentState as GitHubState
from bounceback.guard.github_types import GitHubError
from bounceback.guard.hub_client import HubError
from bounceback.guard.settings import UsageProblem
from bounceback.guard.summary import RollbackNote

__all__ = ["manual_rollback", "roll_back", "rollback_ref"]


def rollback_ref(ctx: GuardContext, failed: Deployment) -> str | None:
    """What to restore: the flag, else the hub's last good version, else GitHub's."""
    if ctx.settings.rollback_ref:
        return ctx.settings.rollback_ref
    if failed.last_good_version:
        return failed.last_good_version
    if failed.previous_version:
        return failed.previous_version
    if ctx.github is not None:
        try:
            return ctx.github.last_successful_ref(ctx.repository, failed.environment)
        except GitHubError as exc:
            ctx.console.warning(exc.message, title="Last good ref not found on GitHub")
    return None


def roll_back(ctx: GuardContext, failed: Deployment, reason: str) -> RollbackNote:
    """Undo ``failed``: track the rollback, record it on GitHub, run or dispatch it."""
    s = ctx.settings
    if not (s.rollback_command or s.rollback_workflow):
        ctx.console.error(
            "the hub asked for a rollback but neither --rollback-command nor --rollback-workflow "
            "is set; roll back by hand",
            title="Rollback not performed",
        )
        return RollbackNote(None, False, "no rollback command or workflow configured")
    ref = rollback_ref(ctx, failed)
    if ref is None:
        ctx.console.error(
            f"no last good version is known for {failed.target} in {failed.environment}; set "
            "--rollback-ref",
            title="Rollback not performed",
        )
        return RollbackNote(None, False, "no last good version known")
    try:
        record: Deployment | None = ctx.hub.track(
            TrackRequest(
                target=failed.target,
                environment=failed.environment,
                version=ref,
                previous_version=failed.version,
                kind=DeploymentKind.ROLLBACK,
                rolls_back=failed.id,
                repository=s.repository,
                run_url=s.run_url,
                health_urls=list(s.health_urls),
                stabilization_minutes=s.stabilization_minutes,
                monitoring_minutes=s.monitoring_minutes,
                thresholds=s.thresholds,
            )
        )
    except HubError as exc:
        # The rollback matters more than its record: go on without the hub.
        ctx.console.warning(exc.message, title="Rollback not recorded at the hub")
        record = None
    if record is not None:
        ctx.console.info(f"rollback of deployment {failed.id} recorded as deployment {record.id}")
    plan = _Plan(
        hub_id=record.id if record else None,
        version=ref,
        environment=failed.environment,
        report_url=record.report_url if record else failed.report_url,
    )
    github_id = _github_rollback(ctx, plan, failed, reason)
    ctx.console.set_output("rollback-ref", ref)
    if s.rollback_workflow and not s.rollback_command:
        return _dispatch(ctx, plan, github_id)
    return _perform(ctx, plan, github_id)


def manual_rollback(ctx: GuardContext) -> RollbackNote:
    """``bounceback-guard rollback``: perform a recorded rollback, or start one."""
    s = ctx.settings
    if s.deployment_id is not None:
        known = ctx.hub.get(s.deployment_id).deployment
        if known.kind != DeploymentKind.ROLLBACK:
            return roll_back(ctx, known, s.reason or f"manual rollback of deployment {known.id}")
        ctx.console.set_output("rollback-ref", known.version)
        return _perform(ctx, _Plan.of(known), s.github_deployment_id)
    target = s.need(s.target, "--target", "BOUNCEBACK_TARGET", "rollback")
    if not (s.rollback_command or s.rollback_workflow):
        raise UsageProblem(
            "rollback needs --rollback-command (or BOUNCEBACK_ROLLBACK_COMMAND), or "
            "--rollback-workflow (or BOUNCEBACK_ROLLBACK_WORKFLOW)"
        )
    reason = s.reason or f"manual rollback by {s.actor or 'bounceback-guard'}"
    record = _request_rollback(ctx, target, reason)
    ctx.console.info(f"the hub recorded rollback deployment {record.id} to {record.version}")
    ctx.console.set_output("rollback-ref", record.version)
    plan = _Plan.of(record)
    github_id = None
    if record.rolls_back is not None:
        failed = ctx.hub.get(record.rolls_back).deployment
        github_id = _github_rollback(ctx, plan, failed, reason)
    if s.rollback_workflow and not s.rollback_command:
        return _dispatch(ctx, plan, github_id)
    return _perform(ctx, plan, github_id)


def _request_rollback(ctx: GuardContext, target: str, reason: str) -> Deployment:
    """``POST /{target}/rollback`` to the flag's version, else the hub's last good one, else
    (when the hub knows none: 409) the last successful deployment on GitHub."""
    s = ctx.settings

    def ask(version: str | None) -> Deployment:
        request = RollbackRequest(reason=reason, environment=s.environment, to_version=version)
        return ctx.hub.rollback(target, request)

    try:
        return ask(s.rollback_ref)
    except HubError as exc:
        if exc.status != 409 or s.rollback_ref:
            raise
    version = None
    if ctx.github is not None:
        try:
            version = ctx.github.last_successful_ref(ctx.repository, s.environment)
        except GitHubError as exc:
            ctx.console.warning(exc.message, title="Last good ref not found on GitHub")
    if version is None:
        raise UsageProblem(
            f"neither the hub nor GitHub knows a good version of {target} in {s.environment}: "
            "set --rollback-ref (or BOUNCEBACK_ROLLBACK_REF)"
        )
    ctx.console.info(f"the hub knows no good version; GitHub's last successful one is {version}")
    return ask(version)


@dataclass(frozen=True)
class _Plan:
    hub_id: int | None  # None when the hub could not record it
    version: str
    environment: str
    report_url: str

    @classmethod
    def of(cls, record: Deployment) -> _Plan:
        return cls(record.id, record.version, record.environment, record.report_url)


def _finish_at_hub(ctx: GuardContext, plan: _Plan, outcome: DeploymentState, message: str) -> None:
    if plan.hub_id is None:
        return
    try:
        ctx.hub.finish(plan.hub_id, FinishRequest(outcome=outcome, message=message))
    except HubError as exc:
        ctx.console.warning(exc.message, title="Rollback outcome not recorded at the hub")


def _perform(ctx: GuardContext, plan: _Plan, github_id: int | None) -> RollbackNote:
    """Run the rollback command and close the rollback's records with its outcome."""
    argv = ctx.settings.rollback_command
    if not argv:
        raise UsageProblem("rollback needs --rollback-command (or BOUNCEBACK_ROLLBACK_COMMAND)")
    if plan.hub_id is not None:
        ctx.console.set_output("rollback-deployment-id", str(plan.hub_id))
    ctx.github_status(
        github_id,
        GitHubState.IN_PROGRESS,
        f"rolling back to {plan.version}",
        log_url=plan.report_url,
    )
    env = ctx.command_env(plan.hub_id, plan.version) | {"BOUNCEBACK_ROLLBACK_REF": plan.version}
    with ctx.console.group(f"Rollback command: {' '.join(argv)}"):
        status = ctx.runner.run(argv, env)
    if status != 0:
        message = f"the rollback command exited {status}"
        _finish_at_hub(ctx, plan, DeploymentState.FAILED, message)
        ctx.github_status(github_id, GitHubState.FAILURE, message, log_url=plan.report_url)
        ctx.console.error(
            f"{message}; the failed version may still be running. The hub escalates.",
            title="Rollback failed",
        )
        return RollbackNote(plan.version, False, message, plan.hub_id)
    _finish_at_hub(ctx, plan, DeploymentState.SUCCEEDED, "the rollback command succeeded")
    ctx.github_status(
        github_id, GitHubState.SUCCESS, f"rolled back to {plan.version}", log_url=plan.report_url
    )
    ctx.deactivate_superseded(plan.environment, github_id)
    ctx.console.set_output("rolled-back", "true")
    return RollbackNote(plan.version, True, "the rollback command", plan.hub_id)


def _github_rollback(ctx: GuardContext, plan: _Plan, failed: Deployment, reason: str) -> int | None:
    payload: dict[str, object] = {"rolls_back": failed.id, "report_url": plan.report_url}
    if plan.hub_id is not None:
        payload["bounceback_deployment_id"] = plan.hub_id
    try:
        github_id = ctx.create_github_deployment(
            ref=plan.version,
            payload=payload,
            description=f"Bounceback rollback of {failed.version}: {reason}",
            task="deploy:rollback",
        )
    except GitHubError as exc:
        ctx.console.warning(exc.message, title="GitHub rollback deployment not recorded")
        return None
    if github_id is not None:
        ctx.console.set_output("rollback-github-deployment-id", str(github_id))
    ctx.github_status(github_id, GitHubState.QUEUED, "rollback queued", log_url=plan.report_url)
    return github_id


def _dispatch(ctx: GuardContext, plan: _Plan, github_id: int | None) -> RollbackNote:
    s = ctx.settings
    assert s.rollback_workflow is not None
    if ctx.github is None:
        raise UsageProblem("--rollback-workflow needs --github-token and --repository")
    workflow_ref = s.rollback_workflow_ref or "main"
    if plan.hub_id is not None:
        ctx.console.set_output("rollback-deployment-id", str(plan.hub_id))
    inputs = {"ref": plan.version}
    if plan.hub_id is not None:
        inputs["deployment-id"] = str(plan.hub_id)
    if github_id is not None:
        inputs["github-deployment-id"] = str(github_id)
    try:
        ctx.github.dispatch_workflow(ctx.repository, s.rollback_workflow, workflow_ref, inputs)
    except GitHubError as exc:
        message = f"dispatching {s.rollback_workflow} failed: {exc.message}"
        _finish_at_hub(ctx, plan, DeploymentState.FAILED, message)
        ctx.github_status(github_id, GitHubState.ERROR, message, log_url=plan.report_url)
        ctx.console.error(message, title="Rollback failed")
        return RollbackNote(plan.version, False, message, plan.hub_id)
    ctx.console.info(
        f"dispatched {s.rollback_workflow} on {workflow_ref} to restore {plan.version}"
        + (f" (rollback deployment {plan.hub_id})" if plan.hub_id else "")
    )
    ctx.console.set_output("rolled-back", "true")
    return RollbackNote(plan.version, True, f"workflow {s.rollback_workflow}", plan.hub_id)
