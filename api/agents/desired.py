"""Whether self-healing should be on, per agent: an admin's per-host choice, else the fleet-wide
switch, else each agent's own config. And the pure rule that keeps agents in line with it.

An agent that registers or restarts with a state other than the one the hub wants gets an
enable/disable command in its next ack. The rule never nags: it waits for a command on its way,
accepts an agent's refusal (a person decides what next), and re-issues a done command only when
the agent reports the other state again ten minutes later (it restarted with its own config).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agent_wire import CommandKind
from bounceback.api.agents.commands import CommandState
from bounceback.api.agents.store import upsert
from bounceback.api.store.tables import switches

SELF_HEALING = "self_healing"
RECONCILE_PAUSE = timedelta(minutes=10)


@dataclass(frozen=True)
class Switch:
    enabled: bool
    changed_at: datetime | None = None  # None: nobody set it; the configured default applies
    changed_by: str | None = None

    @property
    def set_by_api(self) -> bool:
        return self.changed_at is not None


async def get_switch(conn: AsyncConnection, name: str, default: bool) -> Switch:
    row = (await conn.execute(sa.select(switches).where(switches.c.name == name))).first()
    if row is None:
        return Switch(default)
    return Switch(row.enabled, row.changed_at, row.changed_by)


async def set_switch(
    conn: AsyncConnection, name: str, enabled: bool, actor: str, now: datetime
) -> None:
    values = {"enabled": enabled, "changed_at": now, "changed_by": actor}
    await conn.execute(
        upsert(conn, switches)
        .values(name=name, **values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )


def fleet_target(switch: Switch) -> bool | None:
    """What agents without a per-host choice should be told.

    The admin's last fleet-wide choice; without one, SELF_HEALING_ENABLED=false means off and
    true means "whatever each agent's own config says" (None).
    """
    if switch.set_by_api:
        return switch.enabled
    return None if switch.enabled else False


def agent_target(override: bool | None, fleet: bool | None) -> bool | None:
    return override if override is not None else fleet


@dataclass(frozen=True)
class LastToggle:
    enable: bool
    state: CommandState
    issued_at: datetime


def reconcile(
    target: bool | None, reported: bool, last: LastToggle | None, now: datetime
) -> CommandKind | None:
    """The command to send so that the agent's self-healing matches ``target``, if any."""
    if target is None or target == reported:
        return None
    if last is not None and last.enable == target:
        if last.state in (CommandState.PENDING, CommandState.DELIVERED):
            return None  # on its way
        if last.state in (CommandState.REFUSED, CommandState.FAILED):
            return None  # the agent said no; a person decides
        if now - last.issued_at < RECONCILE_PAUSE:
            return None
    return CommandKind.ENABLE_SELF_HEALING if target else CommandKind.DISABLE_SELF_HEALING
