"""Probes against real parts: a loopback HTTP server, TCP listeners, real executables.
systemd is the exception (none runs here): its ``systemctl`` is a fake runner."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import pytest

from bounceback.agent.check_spec import CommandCheck, HttpCheck, SystemdCheck, TcpCheck
from bounceback.agent.checks import CheckContext, measure
from bounceback.agent.checks_probes import parse_properties
from bounceback.agent.subprocesses import OUTPUT_LIMIT, RunResult, run_subprocess

pytestmark = pytest.mark.anyio


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        time.sleep(float(query.get("delay", ["0"])[0]))
        status = int(query.get("status", ["200"])[0])
        body = query.get("body", ["status: all good"])[0].encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the probe gave up waiting

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def http(url: str, **fields: object) -> HttpCheck:
    return HttpCheck.model_validate({"name": "web", "url": url, **fields})


async def test_healthy_endpoint_reports_its_latency(web: str) -> None:
    measured = await measure(http(f"{web}/health", body_contains="all good"), CheckContext())
    assert measured.breached is False
    assert measured.value is not None and 0 < measured.value < 5000
    assert (measured.unit, measured.target, measured.message) == (
        "ms",
        f"{web}/health",
        "status 200",
    )


async def test_unexpected_status_is_breached(web: str) -> None:
    measured = await measure(http(f"{web}/health?status=503"), CheckContext())
    assert measured.breached is True
    assert measured.message == "status 503, expected 200"


async def test_expected_non_200_status_is_fine(web: str) -> None:
    measured = await measure(http(f"{web}/?status=204&body=", expect_status=204), CheckContext())
    assert measured.breached is False


async def test_body_without_the_expected_text_is_breached(web: str) -> None:
    async with httpx.AsyncClient() as client:
        ctx = CheckContext(http=client)
        measured = await measure(http(f"{web}/?body=degraded", body_contains="ok"), ctx)
    assert measured.breached is True
    assert measured.message == "body does not contain 'ok'"


async def test_slow_answer_beyond_max_latency_is_breached(web: str) -> None:
    measured = await measure(http(f"{web}/?delay=0.3", max_latency_ms=100), CheckContext())
    assert measured.breached is True
    assert measured.value is not None and measured.value >= 300
    assert measured.message.startswith("took ") and "more than 100 ms" in measured.message


async def test_no_answer_within_the_timeout_is_breached(web: str) -> None:
    started = time.perf_counter()
    measured = await measure(http(f"{web}/?delay=2", timeout=0.2), CheckContext())
    assert time.perf_counter() - started < 1.5
    assert (measured.breached, measured.message) == (True, "no response within 0.2 s")


async def test_refused_connection_is_breached() -> None:
    measured = await measure(http(f"http://127.0.0.1:{free_port()}/"), CheckContext())
    assert measured.breached is True
    assert measured.message.startswith("request failed")


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_tcp_port_that_accepts_is_fine(listener: int) -> None:
    spec = TcpCheck(name="db", host="127.0.0.1", port=listener)
    measured = await measure(spec, CheckContext())
    assert (measured.breached, measured.target) == (False, f"127.0.0.1:{listener}")
    assert measured.value is not None and measured.value >= 0


async def test_closed_tcp_port_is_breached() -> None:
    spec = TcpCheck(name="db", host="127.0.0.1", port=free_port(), timeout=2)
    measured = await measure(spec, CheckContext())
    assert measured.breached is True
    assert measured.message.startswith("cannot connect")


def python(code: str, **fields: object) -> CommandCheck:
    return CommandCheck.model_validate(
        {"name": "cmd", "argv": [sys.executable, "-c", code], **fields}
    )


async def test_command_exiting_as_expected_is_fine() -> None:
    measured = await measure(python("print('queue depth 3')"), CheckContext())
    assert (measured.value, measured.breached) == (0.0, False)
    assert measured.message == "exit 0: queue depth 3"


async def test_command_with_another_exit_status_is_breached() -> None:
    measured = await measure(python("import sys; print('too deep'); sys.exit(2)"), CheckContext())
    assert (measured.value, measured.breached) == (2.0, True)
    assert measured.message == "exit 2, expected 0: too deep"


async def test_command_may_be_expected_to_fail() -> None:
    measured = await measure(python("raise SystemExit(1)", expect_exit=1), CheckContext())
    assert measured.breached is False


async def test_hung_command_is_killed_and_breached() -> None:
    started = time.perf_counter()
    measured = await measure(python("import time; time.sleep(30)", timeout=0.3), CheckContext())
    assert time.perf_counter() - started < 5
    assert (measured.breached, measured.message) == (True, "still running after 0.3 s")


async def test_command_arguments_never_reach_a_shell() -> None:
    spec = python("import sys; print(sys.argv[1])")
    spec = spec.model_copy(update={"argv": [*spec.argv, "$(echo hi); exit 7"]})
    measured = await measure(spec, CheckContext())
    assert measured.message == "exit 0: $(echo hi); exit 7"


async def test_missing_executable_is_an_error_not_a_breach() -> None:
    spec = CommandCheck(name="cmd", argv=["/nonexistent/bin/check-it"])
    measured = await measure(spec, CheckContext())
    assert measured.breached is None
    assert "not an executable file" in measured.message


async def test_commands_do_not_inherit_the_agents_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOUNCEBACK_AGENT_TOKEN", "s3cret")
    measured = await measure(
        python("import os; print(os.environ.get('BOUNCEBACK_AGENT_TOKEN'))"), CheckContext()
    )
    assert measured.message == "exit 0: None"


async def test_runner_keeps_only_the_tail_of_long_output() -> None:
    code = "print('x' * 20000); print('last line')"
    result = await run_subprocess([sys.executable, "-c", code], env={})
    assert result.exit_code == 0
    assert len(result.output) <= OUTPUT_LIMIT
    assert result.output.endswith("last line")


async def test_runner_reports_a_program_that_cannot_start() -> None:
    result = await run_subprocess(["/nonexistent/bin/x"], env={})
    assert result.exit_code == 127
    assert "cannot start" in result.output


async def test_cancelling_the_runner_kills_everything_the_command_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    running = asyncio.create_task(run_subprocess([sys.executable, "-c", code], env={}))
    for _ in range(200):  # until the grandchild exists
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.025)
    grandchild = psutil.Process(int(pidfile.read_text()))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    for _ in range(200):  # SIGKILL lands once the process leaves uninterruptible sleep
        if not alive(grandchild):
            break
        await asyncio.sleep(0.025)
    assert not alive(grandchild)


def alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


ACTIVE = "ActiveState=active\nSubState=running\nResult=success\nNRestarts=0\n"


@dataclass
class FakeSystemctl:
    output: str = ACTIVE
    exit_code: int = 0
    hang: bool = False
    calls: list[list[str]] = field(default_factory=list)

    async def __call__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        self.calls.append(list(argv))
        if self.hang:
            await asyncio.Event().wait()
        return RunResult(self.exit_code, self.output)


def systemd_context(runner: FakeSystemctl, *, running: bool = True) -> CheckContext:
    return CheckContext(runner=runner, systemd_running=lambda: running)


UNIT = SystemdCheck(name="nginx", unit="nginx.service", timeout=0.2)


async def test_active_unit_is_fine_and_asked_without_a_shell() -> None:
    runner = FakeSystemctl()
    measured = await measure(UNIT, systemd_context(runner))
    assert (measured.breached, measured.value, measured.unit) == (False, 0.0, "restarts")
    assert measured.message == "active/running, result success, 0 restarts"
    assert runner.calls == [
        ["systemctl", "show", "--property=ActiveState,SubState,Result,NRestarts", "nginx.service"]
    ]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "ActiveState=failed\nSubState=failed\nResult=exit-code\nNRestarts=5\n",
            "failed/failed, result exit-code, 5 restarts",
        ),
        (
            "ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nNRestarts=7\n",
            "activating/auto-restart, result exit-code, 7 restarts",
        ),
        ("ActiveState=inactive\nSubState=dead\nResult=success\n", "inactive/dead, result success"),
    ],
    ids=["failed", "crash-loop", "stopped"],
)
async def test_unit_not_active_is_breached(output: str, message: str) -> None:
    measured = await measure(UNIT, systemd_context(FakeSystemctl(output=output)))
    assert (measured.breached, measured.message) == (True, message)


async def test_without_systemd_the_check_is_unavailable() -> None:
    runner = FakeSystemctl()
    measured = await measure(UNIT, systemd_context(runner, running=False))
    assert measured.breached is None
    assert measured.message.startswith("unavailable")
    assert runner.calls == []


@pytest.mark.parametrize(
    "runner",
    [
        FakeSystemctl(exit_code=1, output="Failed to connect to bus"),
        FakeSystemctl(hang=True),
        FakeSystemctl(output="SubState=running\n"),
    ],
    ids=["bus-error", "timeout", "no-active-state"],
)
async def test_systemctl_trouble_is_an_error(runner: FakeSystemctl) -> None:
    measured = await measure(UNIT, systemd_context(runner))
    assert measured.breached is None
    assert measured.message


def test_systemctl_properties_parse_values_with_equals_signs() -> None:
    text = "ActiveState=active\nStatusText=a=b\n\nnoise\n"
    assert parse_properties(text) == {"ActiveState": "active", "StatusText": "a=b"}
