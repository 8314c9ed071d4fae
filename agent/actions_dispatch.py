"""One entry point for every action type: ``await execute(spec, params, ctx)``."""

from __future__ import annotations

from collections.abc import Mapping

from bounceback.agent import actions_files, actions_process
from bounceback.agent.action_spec import (
    ActionSpec,
    CleanLogs,
    CleanTemp,
    ClearCache,
    ExecuteScript,
    MemoryCleanup,
    ResetConnections,
    RestartProcess,
    RestartService,
    ScaleResources,
)
from bounceback.agent.actions_context import ActionContext, ActionOutcome


async def execute(
    spec: ActionSpec, params: Mapping[str, object], ctx: ActionContext
) -> ActionOutcome:
    """Run (or, with ``ctx.dry_run``, describe) one action. ``params`` only reach
    execute_script, validated against its declared parameters; other types take none."""
    if params and not isinstance(spec, ExecuteScript):
        raise ValueError(f"action {spec.name!r} ({spec.type}) takes no parameters")
    match spec:
        case ClearCache() | CleanTemp() | CleanLogs():
            return await actions_files.execute(spec, ctx)
        case RestartService():
            return await actions_process.restart_service(spec, ctx)
        case RestartProcess():
            return await actions_process.restart_process(spec, ctx)
        case MemoryCleanup():
            return await actions_process.memory_cleanup(spec, ctx)
        case ResetConnections():
            return await actions_process.reset_connections(spec, ctx)
        case ScaleResources():
            return await actions_process.scale_resources(spec, ctx)
        case ExecuteScript():
            return await actions_process.execute_script(spec, params, ctx)
