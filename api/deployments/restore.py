"""Restoring configuration with a rollback, where a target declares how.

A target in hub.toml may name ``restore_config``: an action that each of its hosts' agents
declares in its own agent.toml (an ``execute_script`` that puts the previous configuration back,
say), with parameters that may refer to the rollback (``{to_version}``, ``{from_version}``,
``{deployment_id}``, ``{target}``, ``{environment}``). When a rollback is tracked — by the
rollback endpoint, the "Deployment Failure" recovery action or a guard performing one — the hub
issues that action as an agent command to every host of the rollback, in the same transaction,
and says so on the rollback's timeline. The agents run only what they declared, with their own
safety limits; the hub never reaches into a host. Health is then validated by the rollback's own
watch, which escalates if it does not return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import CommandKind
from bounceback.api.agents import commands
from bounceback.api.agents import store as agents_store
from bounceback.api.deployments import store
from bounceback.api.deployments.config import RestoreConfig

ACTOR = "deployment-rollback"


@dataclass(frozen=True)
class Planned:
    host: str
    action: str
    params: dict[str, str]
    skipped: str | None = None  # why this host gets no command


def rendered(params: Mapping[str, str], facts: Mapping[str, str]) -> dict[str, str]:
    return {name: value.format_map(dict(facts)) for name, value in params.items()}


def plan(
    restore: RestoreConfig,
    hosts: list[str],
    declared: Mapping[str, tuple[str, ...]],
    facts: Mapping[str, str],
) -> list[Planned]:
    """One command per host that declares the action; the others are skipped with the reason."""
    params = rendered(restore.params, facts)
    out = []
    for host in hosts:
        actions = declared.get(host)
        if actions is None:
            out.append(Planned(host, restore.action, params, "no agent of that id has reported"))
        elif restore.action not in actions:
            out.append(
                Planned(
                    host, restore.action, params, f"its agent does not declare {restore.action!r}"
                )
            )
        else:
            out.append(Planned(host, restore.action, params))
    return out


async def issue(
    conn: AsyncConnection,
    restore: RestoreConfig,
    rollback_id: int,
    hosts: list[str],
    facts: Mapping[str, str],
    now: datetime,
) -> None:
    """Queue the restore commands for ``hosts``, in the caller's transaction (the caller wakes
    the hosts' command polls once it commits)."""
    declared: dict[str, tuple[str, ...]] = {}
    for host in hosts:
        agent = await agents_store.get(conn, host)
        if agent is not None:
            declared[host] = tuple(agent.actions)
    for planned in plan(restore, hosts, declared, facts):
        details: dict[str, Any] = {"host": planned.host, "action": planned.action}
        if planned.skipped is not None:
            message = f"configuration not restored on {planned.host}: {planned.skipped}"
            await store.add_event(
                conn, rollback_id, now, "config_restore_skipped", message, details
            )
            continue
        command = await commands.issue(
            conn,
            agent_id=planned.host,
            kind=CommandKind.RUN_ACTION,
            target=planned.action,
            params=planned.params,
            issued_by=ACTOR,
            now=now,
        )
        details["command"] = command["id"]
        message = f"configuration restore ({planned.action}) sent to {planned.host}"
        await store.add_event(conn, rollback_id, now, "config_restore_requested", message, details)
    if not hosts:
        await store.add_event(
            conn,
            rollback_id,
            now,
            "config_restore_skipped",
            "configuration not restored: the rollback has no hosts",
        )
