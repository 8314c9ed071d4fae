"""Checks that ask something else: a TCP port, an HTTP endpoint, a command, a systemd unit.

A probe that gets a wrong answer, or none in time, is *breached* (the service is unhealthy and
its dependency breaker should hear about it). Only a probe that cannot be asked at all — no
systemd on this host, a missing executable — is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time

import httpx

from bounceback.agent.check_spec import CommandCheck, HttpCheck, SystemdCheck, TcpCheck
from bounceback.agent.checks_context import CheckContext, Measurement

BODY_LIMIT = 1024 * 1024  # bytes of a response body searched for body_contains
SYSTEMD_PROPERTIES = ("ActiveState", "SubState", "Result", "NRestarts")


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


async def probe_tcp(spec: TcpCheck) -> Measurement:
    target = f"{spec.host}:{spec.port}"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout):
            _, writer = await asyncio.open_connection(spec.host, spec.port)
    except TimeoutError:
        return Measurement(None, True, "ms", target, f"no connection within {spec.timeout:g} s")
    except OSError as exc:
        return Measurement(None, True, "ms", target, f"cannot connect: {exc.strerror or exc}")
    latency = _elapsed_ms(started)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Measurement(latency, False, "ms", target, "connected")


async def probe_http(spec: HttpCheck, ctx: CheckContext) -> Measurement:
    if ctx.http is not None:
        return await _get(ctx.http, spec)
    async with httpx.AsyncClient() as client:
        return await _get(client, spec)


async def _get(client: httpx.AsyncClient, spec: HttpCheck) -> Measurement:
    started = time.perf_counter()
    body = bytearray()
    try:
        async with (
            asyncio.timeout(spec.timeout),
            client.stream("GET", spec.url, timeout=spec.timeout) as response,
        ):
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) >= BODY_LIMIT:
                    break
    except (TimeoutError, httpx.TimeoutException):
        return Measurement(None, True, "ms", spec.url, f"no response within {spec.timeout:g} s")
    except httpx.HTTPError as exc:
        return Measurement(None, True, "ms", spec.url, f"request failed: {exc}")
    latency = _elapsed_ms(started)
    problems = []
    if response.status_code != spec.expect_status:
        problems.append(f"status {response.status_code}, expected {spec.expect_status}")
    if spec.body_contains is not None and spec.body_contains.encode() not in body:
        problems.append(f"body does not contain {spec.body_contains!r}")
    if spec.max_latency_ms is not None and latency > spec.max_latency_ms:
        problems.append(f"took {latency:.0f} ms, more than {spec.max_latency_ms:g} ms")
    message = "; ".join(problems) or f"status {response.status_code}"
    return Measurement(latency, bool(problems), "ms", spec.url, message)


async def probe_command(spec: CommandCheck, ctx: CheckContext) -> Measurement:
    program = spec.argv[0]
    if shutil.which(program, path=ctx.base_env.get("PATH", os.defpath)) is None:
        return Measurement(None, None, "", program, f"{program!r} is not an executable file")
    try:
        async with asyncio.timeout(spec.timeout):
            result = await ctx.runner(spec.argv, env=ctx.base_env)
    except TimeoutError:
        return Measurement(None, True, "", program, f"still running after {spec.timeout:g} s")
    breached = result.exit_code != spec.expect_exit
    message = f"exit {result.exit_code}" + (f", expected {spec.expect_exit}" if breached else "")
    return Measurement(
        float(result.exit_code), breached, "", program, message + _last_line(result.output)
    )


async def probe_systemd(spec: SystemdCheck, ctx: CheckContext) -> Measurement:
    if not ctx.systemd_running():
        return Measurement(None, None, "", spec.unit, "unavailable: systemd is not running here")
    argv = ["systemctl", "show", "--property=" + ",".join(SYSTEMD_PROPERTIES), spec.unit]
    try:
        async with asyncio.timeout(spec.timeout):
            result = await ctx.runner(argv, env=ctx.base_env)
    except TimeoutError:
        return Measurement(
            None, None, "", spec.unit, f"systemctl show: no answer in {spec.timeout:g} s"
        )
    if result.exit_code != 0:
        message = f"systemctl show: exit {result.exit_code}{_last_line(result.output)}"
        return Measurement(None, None, "", spec.unit, message)
    props = parse_properties(result.output)
    active = props.get("ActiveState")
    if not active:
        return Measurement(None, None, "", spec.unit, "systemctl show printed no ActiveState")
    restarts = props.get("NRestarts", "")
    value = float(restarts) if restarts.isdigit() else None
    message = f"{active}/{props.get('SubState', '?')}, result {props.get('Result', '?')}"
    if value is not None:
        message += f", {restarts} restarts"
    return Measurement(value, active != "active", "restarts", spec.unit, message)


def _last_line(output: str) -> str:
    """The end of a command's output, as a hint after a colon ("" when it printed nothing)."""
    lines = output.strip().splitlines()
    return f": {lines[-1][:200]}" if lines else ""


def parse_properties(text: str) -> dict[str, str]:
    """``systemctl show`` output: one ``Key=value`` per line."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}
