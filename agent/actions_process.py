"""Actions on services and processes: restart_service, restart_process, memory_cleanup,
reset_connections, scale_resources and execute_script.

Every program runs through ``ctx.runner`` as an argv list (no shell), starting from
``ctx.base_env`` rather than the agent's own environment. In a dry run only read-only steps
happen (``systemctl show``, finding a pid); the message says what would have been done.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Mapping, Sequence

import httpx

from bounceback.agent.action_spec import (
    ExecuteScript,
    HttpCall,
    MemoryCleanup,
    ResetConnections,
    RestartProcess,
    RestartService,
    ScaleResources,
)
from bounceback.agent.actions_context import ActionContext, ActionOutcome, RunResult
from bounceback.agent.actions_params import as_args, as_env, validate_params

SYSTEMCTL = "systemctl"
_SHOW = "--property=LoadState,ActiveState,SubState,Result,NRestarts"
_UP = frozenset({"active", "activating", "reloading"})
_PID_FILE_LIMIT = 64


def systemd_refusal(unit: str, state: Mapping[str, str], max_nrestarts: int) -> str | None:
    """Why the agent must leave ``unit`` to systemd (or to a human), or None to go ahead.

    An agent-initiated restart counts against the same start limit as systemd's own restarts;
    restarting a unit systemd is already restarting, or has given up on, only makes it worse.
    """
    if state.get("Result") == "start-limit-hit":
        return f"systemd gave up on {unit} (Result=start-limit-hit); a restart would fight it"
    if state.get("SubState") == "auto-restart":
        return f"systemd is already restarting {unit} (SubState=auto-restart)"
    restarts = state.get("NRestarts", "0")
    if restarts.isdigit() and int(restarts) >= max_nrestarts:
        return f"systemd has restarted {unit} {restarts} times (NRestarts ≥ {max_nrestarts})"
    return None


def parse_show(output: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in output.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


async def restart_service(spec: RestartService, ctx: ActionContext) -> ActionOutcome:
    shown = await _run(ctx, [SYSTEMCTL, "show", _SHOW, "--", spec.unit])
    if shown.exit_code != 0:
        return _failed(f"systemctl show {spec.unit}", shown)
    state = parse_show(shown.output)
    nrestarts = float(state["NRestarts"]) if state.get("NRestarts", "").isdigit() else 0.0
    details = {"nrestarts_before": nrestarts}
    if state.get("LoadState") == "not-found":
        return ActionOutcome(False, f"unit {spec.unit} not found", details)
    refusal = systemd_refusal(spec.unit, state, spec.max_nrestarts)
    if refusal is not None:
        return ActionOutcome(False, refusal, details, refused=True)
    summary = f"{state.get('ActiveState', '?')}/{state.get('SubState', '?')}"
    if ctx.dry_run:
        return ActionOutcome(True, f"would restart {spec.unit} (now {summary})", details)
    restarted = await _run(ctx, [SYSTEMCTL, "restart", "--", spec.unit])
    if restarted.exit_code != 0:
        return _failed(f"systemctl restart {spec.unit}", restarted, details)
    after = await _run(ctx, [SYSTEMCTL, "show", _SHOW, "--", spec.unit])
    active = parse_show(after.output).get("ActiveState", "unknown")
    if active not in _UP:
        return ActionOutcome(False, f"restarted {spec.unit} but it is {active}", details)
    return ActionOutcome(True, f"restarted {spec.unit} (was {summary}, now {active})", details)


async def restart_process(spec: RestartProcess, ctx: ActionContext) -> ActionOutcome:
    return await _restart_supervised(spec.process, ctx)


async def memory_cleanup(spec: MemoryCleanup, ctx: ActionContext) -> ActionOutcome:
    if spec.method == "restart":
        assert spec.process is not None  # the model requires it for method = "restart"
        return await _restart_supervised(spec.process, ctx)
    return _send_signal(spec.process, spec.pid_file, spec.signal, ctx)


async def reset_connections(spec: ResetConnections, ctx: ActionContext) -> ActionOutcome:
    if spec.command is not None:
        return await _command(spec.command, ctx)
    assert spec.signal is not None
    return _send_signal(spec.process, spec.pid_file, spec.signal, ctx)


async def scale_resources(spec: ScaleResources, ctx: ActionContext) -> ActionOutcome:
    if spec.command is not None:
        return await _command(spec.command, ctx)
    assert spec.http is not None
    return await _http(spec.http, ctx, spec.timeout_seconds)


async def execute_script(
    spec: ExecuteScript, params: Mapping[str, object], ctx: ActionContext
) -> ActionOutcome:
    values = validate_params(spec.parameters, params)  # raises ParameterError
    argv = list(spec.command)
    env = {**ctx.base_env, **spec.env}
    match spec.pass_as:
        case "args":
            argv += as_args(values)
        case "env":
            env |= as_env(values)
    return await _command(argv, ctx, env)


async def _restart_supervised(name: str, ctx: ActionContext) -> ActionOutcome:
    if ctx.processes is None:
        return ActionOutcome(False, f"no process supervisor: cannot restart {name!r}")
    before = ctx.processes.pid(name)
    if ctx.dry_run:
        return ActionOutcome(True, f"would restart process {name} (pid {before})")
    await ctx.processes.restart(name)
    after = ctx.processes.pid(name)
    if after is None:
        return ActionOutcome(False, f"restarted process {name} but it is not running")
    return ActionOutcome(True, f"restarted process {name} (pid {before} → {after})")


def _send_signal(
    process: str | None, pid_file: os.PathLike[str] | None, name: str, ctx: ActionContext
) -> ActionOutcome:
    if process is not None:
        pid = ctx.processes.pid(process) if ctx.processes is not None else None
        where = f"process {process}"
    else:
        assert pid_file is not None
        pid, where = _read_pid_file(os.fspath(pid_file)), os.fspath(pid_file)
    if pid is None or pid <= 1:
        return ActionOutcome(False, f"no process to signal: {where} has no usable pid")
    details = {"pid": float(pid)}
    if ctx.dry_run:
        return ActionOutcome(True, f"would send {name} to pid {pid} ({where})", details)
    try:
        ctx.kill(pid, signal.Signals[name].value)
    except ProcessLookupError:
        return ActionOutcome(False, f"pid {pid} ({where}) is gone", details)
    except PermissionError:
        return ActionOutcome(False, f"not allowed to signal pid {pid} ({where})", details)
    return ActionOutcome(True, f"sent {name} to pid {pid} ({where})", details)


def _read_pid_file(path: str) -> int | None:
    """A pid from a pid file that is a regular file no one else could have written."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as pid_file:
        info = os.fstat(pid_file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & stat.S_IWOTH:
            return None
        text = pid_file.read(_PID_FILE_LIMIT).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


async def _command(
    argv: Sequence[str], ctx: ActionContext, env: Mapping[str, str] | None = None
) -> ActionOutcome:
    if ctx.dry_run:
        return ActionOutcome(True, f"would run {list(argv)}")
    result = await _run(ctx, argv, env)
    details = {"exit_code": float(result.exit_code)}
    if result.exit_code != 0:
        return _failed(argv[0], result, details)
    return ActionOutcome(True, f"{argv[0]} exited 0{_last_line(result.output)}", details)


async def _http(call: HttpCall, ctx: ActionContext, seconds: float) -> ActionOutcome:
    url = str(call.url)
    if ctx.dry_run:
        return ActionOutcome(True, f"would {call.method} {url}")
    client = ctx.http if ctx.http is not None else httpx.AsyncClient()
    try:
        response = await client.request(
            call.method, url, headers=call.headers, json=call.body, timeout=seconds
        )
    except httpx.HTTPError as exc:
        return ActionOutcome(False, f"{call.method} {url} failed: {exc!r}")
    finally:
        if client is not ctx.http:
            await client.aclose()
    status = response.status_code
    ok = status in call.expect_status if call.expect_status else 200 <= status < 300
    message = f"{call.method} {url} answered {status}"
    return ActionOutcome(ok, message, {"status_code": float(status)})


async def _run(
    ctx: ActionContext, argv: Sequence[str], env: Mapping[str, str] | None = None
) -> RunResult:
    return await ctx.runner(argv, env=env if env is not None else ctx.base_env)


def _failed(what: str, result: RunResult, details: dict[str, float] | None = None) -> ActionOutcome:
    return ActionOutcome(
        False, f"{what} exited {result.exit_code}{_last_line(result.output)}", details or {}
    )


def _last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return f": {lines[-1][:200]}" if lines else ""
