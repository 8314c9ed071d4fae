"""The status documents of the self-healing and circuit-breaker sections, and overview counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.agents import breakers, commands, desired, healing, store
from bounceback.api.agents.health import Thresholds
from bounceback.api.settings import HubSettings

RECENT = timedelta(hours=24)


def thresholds(settings: HubSettings) -> Thresholds:
    return Thresholds(
        memory_percent=settings.memory_threshold,
        cpu_percent=settings.cpu_threshold,
        disk_percent=settings.disk_threshold,
    )


async def self_healing_status(
    conn: AsyncConnection, settings: HubSettings, now: datetime
) -> dict[str, Any]:
    switch = await desired.get_switch(conn, desired.SELF_HEALING, settings.self_healing_enabled)
    fleet = desired.fleet_target(switch)
    agents = await store.list_all(conn)
    silent = sum(agent.silent_since is not None for agent in agents)
    enabled = sum(agent.self_healing_enabled for agent in agents)
    out_of_line = [
        agent.id
        for agent in agents
        if (target := desired.agent_target(agent.desired_self_healing, fleet)) is not None
        and target != agent.self_healing_enabled
    ]
    return {
        "enabled": switch.enabled,
        "switch": {
            "enabled": switch.enabled,
            "source": "api" if switch.set_by_api else "config",
            "changed_at": switch.changed_at.isoformat() if switch.changed_at else None,
            "changed_by": switch.changed_by,
        },
        "agents": {
            "total": len(agents),
            "reporting": len(agents) - silent,
            "silent": silent,
            "self_healing_enabled": enabled,
            "self_healing_disabled": len(agents) - enabled,
            "dry_run": sum(agent.dry_run for agent in agents),
            "host_overrides": sum(agent.desired_self_healing is not None for agent in agents),
            "not_yet_in_line": out_of_line,
        },
        "attempts": await healing.counts(conn, now - RECENT),
        "commands": await commands.counts(conn),
        "thresholds": {
            "memory_percent": settings.memory_threshold,
            "cpu_percent": settings.cpu_threshold,
            "disk_percent": settings.disk_threshold,
        },
        "health_check_interval_seconds": settings.health_check_interval,
    }


async def circuit_breaker_status(conn: AsyncConnection, settings: HubSettings) -> dict[str, Any]:
    counts = await breakers.counts(conn)
    open_now = [
        circuit["id"]
        for circuit in await breakers.list_circuits(conn)
        if circuit["state"] != "closed"
    ]
    return {
        "circuits": counts["total"],
        "hosts": counts["hosts"],
        "by_state": counts["by_state"],
        "not_closed": open_now,
        # The hub's defaults; each agent's breakers run with their own agent.toml values.
        "defaults": {
            "failure_threshold": settings.circuit_breaker_failure_threshold,
            "recovery_timeout_ms": settings.circuit_breaker_recovery_timeout,
            "success_threshold": settings.circuit_breaker_success_threshold,
        },
    }


async def overview_counts(conn: AsyncConnection, settings: HubSettings) -> dict[str, Any]:
    agent_counts = await store.counts(conn)
    switch = await desired.get_switch(conn, desired.SELF_HEALING, settings.self_healing_enabled)
    circuit_counts = await breakers.counts(conn)
    return {
        "self_healing": {
            "status": "enabled" if switch.enabled else "disabled",
            "agents": agent_counts["total"],
            "silent_agents": agent_counts["silent"],
            "active_attempts": await healing.active_count(conn),
        },
        "circuit_breakers": {
            "status": "running",
            "circuits": circuit_counts["total"],
            "open": circuit_counts["by_state"]["open"],
            "half_open": circuit_counts["by_state"]["half_open"],
        },
    }
