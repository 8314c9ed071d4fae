"""What ending a deployment does, in the caller's transaction: the terminal state, the rollback
request, the incident that pages people, and the fate of the deployment a rollback undoes.

- failed: ``rollback_requested`` when auto-rollback is on (not for dry runs, not for rollbacks);
  an incident opens for the target (high; critical when a rollback failed: health did not come
  back and people must act). The guard's watch performs the rollback in CI.
- a rollback that succeeds: the deployment it undoes becomes ``rolled_back`` and its incident is
  resolved (health came back); one that fails: the undone deployment goes back to ``failed``.
- inconclusive: never rolls back by itself; it is recorded for a person to decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents.alerts import apply as apply_alert
from bounceback.api.deployment_wire import DeploymentState
from bounceback.api.deployments import store
from bounceback.api.deployments.store import DeploymentRow
from bounceback.api.deployments.watch import wants_rollback
from bounceback.api.intake.event import AlertEvent, EventAction
from bounceback.api.schema import Severity

SOURCE = "bounceback-deployments"
AUTO_ROLLBACK_ACTOR = "hub:auto-rollback"


def _alert(row: DeploymentRow, action: EventAction, severity: Severity, summary: str) -> AlertEvent:
    key = f"deployment:{row.id}"
    return AlertEvent(
        fingerprint=f"deployment:{key}",
        dedup_key=key,
        action=action,
        severity=severity,
        summary=summary[:1024],
        source=SOURCE,
        actor="hub:deployments",
        service=row.target,
        labels={
            "target": row.target,
            "environment": row.environment,
            "version": row.version[:200],
            "deployment_id": str(row.id),
            "alert": "deployment_failed",
        },
        data={"deployment_id": row.id, "kind": row.kind},
    )


async def finish(
    conn: AsyncConnection,
    row: DeploymentRow,
    state: DeploymentState,
    now: datetime,
    *,
    reason: str,
    auto_rollback: bool,
    details: dict[str, Any] | None = None,
) -> None:
    """Move ``row`` (locked by the caller, not terminal) to the terminal ``state``."""
    values: dict[str, Any] = {"state": state.value, "finished_at": now, "updated_at": now}
    await store.add_event(conn, row.id, now, state.value, reason, details)
    if state is DeploymentState.FAILED:
        values.update(await _failed(conn, row, now, reason, auto_rollback))
    await store.update(conn, row.id, values)
    if row.is_rollback and row.rolls_back is not None:
        await _rollback_ended(conn, row, state, now)


async def _failed(
    conn: AsyncConnection, row: DeploymentRow, now: datetime, reason: str, auto_rollback: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if wants_rollback(
        auto_rollback=auto_rollback, dry_run=row.dry_run, is_rollback=row.is_rollback
    ):
        values.update(
            rollback_requested=True,
            rollback_reason=reason,
            rollback_requested_by=AUTO_ROLLBACK_ACTOR,
        )
        await store.add_event(
            conn, row.id, now, "rollback_requested", "auto-rollback is on: roll back now"
        )
    elif row.dry_run:
        await store.add_event(conn, row.id, now, "dry_run", "dry run: no rollback is requested")
    if row.is_rollback:
        severity = Severity.CRITICAL
        summary = (
            f"rollback of {row.target} ({row.environment}) to {row.version} failed; health did "
            f"not return: {reason}"
        )
    else:
        severity = Severity.HIGH
        summary = f"deployment of {row.target} {row.version} ({row.environment}) failed: {reason}"
    incident_id = await apply_alert(conn, _alert(row, EventAction.TRIGGER, severity, summary), now)
    if incident_id is not None:
        values["incident_id"] = incident_id
        await store.add_event(
            conn, row.id, now, "incident", f"incident {incident_id} opened", {"id": incident_id}
        )
    return values


async def _rollback_ended(
    conn: AsyncConnection, rollback: DeploymentRow, state: DeploymentState, now: datetime
) -> None:
    assert rollback.rolls_back is not None
    undone = await store.get(conn, rollback.rolls_back, lock=True)
    if undone is None or undone.rolled_back_by != rollback.id:
        return  # a newer rollback took over
    if state is DeploymentState.SUCCEEDED:
        await _settle(
            conn,
            undone,
            DeploymentState.ROLLED_BACK,
            now,
            "rolled_back",
            f"rolled back to {rollback.version} by deployment {rollback.id}",
            rollback.id,
        )
        resolve = _alert(undone, EventAction.RESOLVE, Severity.HIGH, "rolled back; health is back")
        await apply_alert(conn, resolve, now)
    elif undone.state == DeploymentState.ROLLING_BACK.value:
        await _settle(
            conn,
            undone,
            DeploymentState.FAILED,
            now,
            "rollback_failed",
            f"rollback deployment {rollback.id} ended {state.value}",
            rollback.id,
        )


async def _settle(
    conn: AsyncConnection,
    undone: DeploymentRow,
    state: DeploymentState,
    now: datetime,
    kind: str,
    message: str,
    rollback_id: int,
) -> None:
    """The undone deployment's final state once its rollback ended, on its timeline."""
    values = {"state": state.value, "updated_at": now, "finished_at": undone.finished_at or now}
    await store.update(conn, undone.id, values)
    await store.add_event(conn, undone.id, now, kind, message, {"rollback": rollback_id})
