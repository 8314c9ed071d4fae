"""Service and process actions with real subprocesses, a real signal, a loopback HTTP server,
and a fake ``systemctl`` behind the injected runner (there is no systemd here)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from bounceback.agent.action_spec import ActionSpec
from bounceback.agent.actions_context import ActionContext, RunResult, run_subprocess
from bounceback.agent.actions_dispatch import execute
from bounceback.agent.actions_params import ParameterError
from bounceback.agent.actions_process import parse_show, systemd_refusal

REPORT = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}))
"""


def action(kind: str, **fields: Any) -> ActionSpec:
    return TypeAdapter(ActionSpec).validate_python({"name": "act", "type": kind, **fields})


@pytest.fixture
def reporter(tmp_path: Path) -> list[str]:
    """argv of a program printing the arguments and environment it received, as JSON."""
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    return [sys.executable, str(script)]


@dataclass
class FakeProcesses:
    pids: dict[str, int | None] = field(default_factory=lambda: {"myapp": 4242})
    restarts: list[str] = field(default_factory=list)

    async def restart(self, name: str) -> None:
        self.restarts.append(name)
        current = self.pids.get(name)
        self.pids[name] = (current or 1000) + 1

    def pid(self, name: str) -> int | None:
        return self.pids.get(name)


@dataclass
class FakeSystemctl:
    """Answers ``systemctl show`` with ``before`` until a restart, ``after`` once restarted."""

    before: dict[str, str]
    after: dict[str, str] = field(default_factory=lambda: {"ActiveState": "active"})
    restart_exit: int = 0
    calls: list[list[str]] = field(default_factory=list)

    async def __call__(self, argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        self.calls.append(list(argv))
        if argv[1] == "restart":
            return RunResult(self.restart_exit, "" if self.restart_exit == 0 else "Job failed")
        restarted = any(call[1] == "restart" for call in self.calls)
        state = self.after if restarted and self.restart_exit == 0 else self.before
        return RunResult(0, "\n".join(f"{k}={v}" for k, v in state.items()))

    @property
    def restarted(self) -> bool:
        return any(call[1] == "restart" for call in self.calls)


HEALTHY = {
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "Result": "success",
    "NRestarts": "0",
}


# --- the subprocess runner -------------------------------------------------------------------


@pytest.mark.anyio
async def test_runner_passes_argv_verbatim_without_a_shell(reporter: list[str]) -> None:
    argv = [*reporter, "; rm -rf /", "$HOME", "a b", "`id`"]
    result = await run_subprocess(argv, env={"ONLY": "this"})
    assert result.exit_code == 0
    received = json.loads(result.output)
    assert received["argv"] == ["; rm -rf /", "$HOME", "a b", "`id`"]
    assert received["env"]["ONLY"] == "this"
    assert "HOME" not in received["env"]


@pytest.mark.anyio
async def test_runner_reports_exit_code_output_and_a_missing_program() -> None:
    failing = [sys.executable, "-c", "import sys; print('broken'); sys.exit(3)"]
    assert await run_subprocess(failing, env={}) == RunResult(3, "broken")
    missing = await run_subprocess(["/nonexistent/program"], env={})
    assert missing.exit_code == 127
    assert "cannot start" in missing.output


@pytest.mark.anyio
async def test_cancelling_the_runner_kills_the_program_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    task = asyncio.ensure_future(run_subprocess([sys.executable, "-c", code], env={}))
    for _ in range(500):
        if pids.exists() and pids.read_text():
            break
        await asyncio.sleep(0.01)
    grandchild = int(pids.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):
        if not _alive(grandchild):
            break
        await asyncio.sleep(0.01)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return status != "Z"


# --- execute_script, reset_connections, scale_resources commands -----------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("pass_as", ["args", "env"])
async def test_execute_script_argv_and_environment_received(
    reporter: list[str], pass_as: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOUNCEBACK_AGENT_TOKEN", "secret")
    seen: list[tuple[list[str], dict[str, str]]] = []

    async def recording(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        seen.append((list(argv), dict(env)))
        return await run_subprocess(argv, env=env)

    spec = action(
        "execute_script",
        command=reporter,
        env={"MODE": "cleanup"},
        parameters={"target": {"required": True}, "aggressive": {"type": "boolean"}},
        pass_as=pass_as,
    )
    ctx = ActionContext(runner=recording)
    outcome = await execute(spec, {"target": "; rm -rf /", "aggressive": True}, ctx)

    assert outcome.ok, outcome.message
    argv, env = seen[0]
    assert env["MODE"] == "cleanup"
    assert "BOUNCEBACK_AGENT_TOKEN" not in env
    if pass_as == "args":
        assert argv == [*reporter, "--target=; rm -rf /", "--aggressive=true"]
        assert "BOUNCEBACK_PARAM_TARGET" not in env
    else:
        assert argv == reporter
        assert env["BOUNCEBACK_PARAM_TARGET"] == "; rm -rf /"
        assert env["BOUNCEBACK_PARAM_AGGRESSIVE"] == "true"


@pytest.mark.anyio
async def test_execute_script_refuses_invalid_parameters(reporter: list[str]) -> None:
    spec = action("execute_script", command=reporter, parameters={"n": {"type": "integer"}})
    with pytest.raises(ParameterError, match="'n'"):
        await execute(spec, {"n": "1; reboot"}, ActionContext())
    with pytest.raises(ParameterError, match="undeclared"):
        await execute(spec, {"other": "x"}, ActionContext())


@pytest.mark.anyio
async def test_other_actions_take_no_parameters(reporter: list[str]) -> None:
    spec = action("reset_connections", command=reporter)
    with pytest.raises(ValueError, match="takes no parameters"):
        await execute(spec, {"x": "y"}, ActionContext())


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["reset_connections", "scale_resources"])
async def test_declared_commands_succeed_on_exit_zero_and_fail_otherwise(kind: str) -> None:
    ok = action(kind, command=[sys.executable, "-c", "print('pool reset')"])
    outcome = await execute(ok, {}, ActionContext())
    assert outcome.ok
    assert "exited 0: pool reset" in outcome.message

    bad = action(kind, command=[sys.executable, "-c", "import sys; print('no pool'); sys.exit(4)"])
    outcome = await execute(bad, {}, ActionContext())
    assert not outcome.ok
    assert outcome.message.endswith("exited 4: no pool")


@pytest.mark.anyio
async def test_dry_run_commands_are_described_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = action("reset_connections", command=["/usr/bin/touch", str(marker)])
    outcome = await execute(spec, {}, ActionContext(dry_run=True))
    assert outcome.ok
    assert outcome.message == f"would run ['/usr/bin/touch', '{marker}']"
    assert not marker.exists()


# --- scale_resources over HTTP ---------------------------------------------------------------


@dataclass
class Autoscaler:
    url: str
    requests: list[dict[str, Any]]
    status: list[int]


@pytest.fixture
def autoscaler() -> Iterator[Autoscaler]:
    requests: list[dict[str, Any]] = []
    status = [202]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": json.loads(body),
                }
            )
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Autoscaler(f"http://127.0.0.1:{server.server_port}", requests, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.anyio
async def test_scale_resources_makes_the_declared_http_call(autoscaler: Autoscaler) -> None:
    spec = action(
        "scale_resources",
        http={
            "url": f"{autoscaler.url}/groups/web/scale",
            "headers": {"X-Api-Key": "k"},
            "body": {"delta": 1},
        },
    )
    outcome = await execute(spec, {}, ActionContext())
    assert outcome.ok, outcome.message
    assert outcome.details["status_code"] == 202
    [request] = autoscaler.requests
    assert (request["method"], request["path"], request["body"]) == (
        "POST",
        "/groups/web/scale",
        {"delta": 1},
    )
    assert request["headers"]["X-Api-Key"] == "k"


@pytest.mark.anyio
async def test_scale_resources_fails_on_an_unexpected_status(autoscaler: Autoscaler) -> None:
    autoscaler.status[0] = 500
    spec = action("scale_resources", http={"url": f"{autoscaler.url}/scale", "body": {}})
    async with httpx.AsyncClient() as client:
        outcome = await execute(spec, {}, ActionContext(http=client))
    assert not outcome.ok
    assert "answered 500" in outcome.message

    autoscaler.status[0] = 202
    strict = action(
        "scale_resources",
        http={"url": f"{autoscaler.url}/scale", "body": {}, "expect_status": [201]},
    )
    assert not (await execute(strict, {}, ActionContext())).ok


@pytest.mark.anyio
async def test_scale_resources_dry_run_sends_nothing(autoscaler: Autoscaler) -> None:
    spec = action("scale_resources", http={"url": f"{autoscaler.url}/scale"})
    outcome = await execute(spec, {}, ActionContext(dry_run=True))
    assert outcome.ok
    assert outcome.message == f"would POST {autoscaler.url}/scale"
    assert autoscaler.requests == []


@pytest.mark.anyio
async def test_scale_resources_reports_an_unreachable_endpoint() -> None:
    spec = action("scale_resources", http={"url": "http://127.0.0.1:9/scale"})
    outcome = await execute(spec, {}, ActionContext())
    assert not outcome.ok
    assert "failed" in outcome.message


# --- restart_service through a fake systemctl ------------------------------------------------


@pytest.mark.parametrize(
    ("state", "refusal"),
    [
        (HEALTHY, None),
        ({**HEALTHY, "Result": "start-limit-hit", "ActiveState": "failed"}, "start-limit-hit"),
        ({**HEALTHY, "SubState": "auto-restart"}, "SubState=auto-restart"),
        ({**HEALTHY, "NRestarts": "3"}, "restarted db.service 3 times"),
        ({**HEALTHY, "NRestarts": "2"}, None),
        ({"Result": "exit-code", "ActiveState": "failed"}, None),
    ],
)
def test_systemd_refusal(state: dict[str, str], refusal: str | None) -> None:
    reason = systemd_refusal("db.service", state, max_nrestarts=3)
    assert (reason is None) == (refusal is None)
    assert refusal is None or refusal in str(reason)


def test_parse_show_reads_key_value_lines() -> None:
    assert parse_show("A=1\nB=x=y\n\nnoise\n") == {"A": "1", "B": "x=y"}


@pytest.mark.anyio
async def test_restart_service_restarts_a_unit_systemd_is_not_handling() -> None:
    systemctl = FakeSystemctl({**HEALTHY, "ActiveState": "failed", "Result": "exit-code"})
    spec = action("restart_service", unit="postgresql.service")
    outcome = await execute(spec, {}, ActionContext(runner=systemctl))
    assert outcome.ok, outcome.message
    assert outcome.message == "restarted postgresql.service (was failed/running, now active)"
    assert systemctl.calls[0][:2] == ["systemctl", "show"]
    assert systemctl.calls[0][-2:] == ["--", "postgresql.service"]
    assert systemctl.calls[1] == ["systemctl", "restart", "--", "postgresql.service"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "state",
    [
        {**HEALTHY, "ActiveState": "failed", "Result": "start-limit-hit"},
        {**HEALTHY, "ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "1"},
        {**HEALTHY, "NRestarts": "7"},
    ],
)
async def test_restart_service_never_fights_systemds_own_restarts(state: dict[str, str]) -> None:
    systemctl = FakeSystemctl(state)
    outcome = await execute(
        action("restart_service", unit="db.service"), {}, ActionContext(runner=systemctl)
    )
    assert not outcome.ok
    assert outcome.refused
    assert not systemctl.restarted


@pytest.mark.anyio
async def test_restart_service_fails_when_the_unit_does_not_come_back() -> None:
    systemctl = FakeSystemctl(HEALTHY, after={"ActiveState": "failed"})
    outcome = await execute(
        action("restart_service", unit="db.service"), {}, ActionContext(runner=systemctl)
    )
    assert not outcome.ok and not outcome.refused
    assert outcome.message == "restarted db.service but it is failed"

    broken = FakeSystemctl(HEALTHY, restart_exit=1)
    outcome = await execute(
        action("restart_service", unit="db.service"), {}, ActionContext(runner=broken)
    )
    assert outcome.message == "systemctl restart db.service exited 1: Job failed"


@pytest.mark.anyio
async def test_restart_service_of_an_unknown_unit_fails() -> None:
    systemctl = FakeSystemctl({"LoadState": "not-found", "ActiveState": "inactive"})
    outcome = await execute(
        action("restart_service", unit="nope.service"), {}, ActionContext(runner=systemctl)
    )
    assert not outcome.ok
    assert "not found" in outcome.message
    assert not systemctl.restarted


@pytest.mark.anyio
async def test_restart_service_dry_run_only_reads_the_state() -> None:
    systemctl = FakeSystemctl(HEALTHY)
    outcome = await execute(
        action("restart_service", unit="db.service"),
        {},
        ActionContext(runner=systemctl, dry_run=True),
    )
    assert outcome.ok
    assert outcome.message == "would restart db.service (now active/running)"
    assert [call[1] for call in systemctl.calls] == ["show"]


# --- restart_process and memory_cleanup ------------------------------------------------------


@pytest.mark.anyio
async def test_restart_process_delegates_to_the_supervisor() -> None:
    processes = FakeProcesses()
    outcome = await execute(
        action("restart_process", process="myapp"), {}, ActionContext(processes=processes)
    )
    assert outcome.ok
    assert processes.restarts == ["myapp"]
    assert outcome.message == "restarted process myapp (pid 4242 → 4243)"


@pytest.mark.anyio
async def test_restart_process_needs_a_supervisor_and_a_dry_run_restarts_nothing() -> None:
    spec = action("restart_process", process="myapp")
    assert not (await execute(spec, {}, ActionContext())).ok
    processes = FakeProcesses()
    outcome = await execute(spec, {}, ActionContext(processes=processes, dry_run=True))
    assert outcome.message == "would restart process myapp (pid 4242)"
    assert processes.restarts == []


@pytest.mark.anyio
async def test_memory_cleanup_with_restart_method_restarts_the_process() -> None:
    processes = FakeProcesses()
    spec = action("memory_cleanup", process="myapp", method="restart")
    assert (await execute(spec, {}, ActionContext(processes=processes))).ok
    assert processes.restarts == ["myapp"]


SIGNAL_CHILD = """
import signal, sys, time
def handler(signum, frame):
    open(sys.argv[1], "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGHUP, handler)
signal.signal(signal.SIGUSR1, handler)
print("ready", flush=True)
time.sleep(30)
sys.exit(1)
"""


@pytest.mark.anyio
@pytest.mark.parametrize("by", ["process", "pid_file"])
async def test_memory_cleanup_signals_a_real_process(tmp_path: Path, by: str) -> None:
    received = tmp_path / "received"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SIGNAL_CHILD, str(received), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert await child.stdout.readline() == b"ready\n"
        if by == "process":
            fields: dict[str, Any] = {"process": "myapp"}
        else:
            pid_file = tmp_path / "app.pid"
            pid_file.write_text(f"{child.pid}\n")
            fields = {"pid_file": str(pid_file)}
        ctx = ActionContext(processes=FakeProcesses({"myapp": child.pid}))
        spec = action("memory_cleanup", signal="SIGUSR1", **fields)

        outcome = await execute(spec, {}, ctx)

        assert outcome.ok, outcome.message
        assert outcome.message.startswith(f"sent SIGUSR1 to pid {child.pid}")
        async with asyncio.timeout(10):
            assert await child.wait() == 0
        assert received.read_text() == "SIGUSR1"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


@pytest.mark.anyio
async def test_signals_go_through_the_injected_kill_and_not_in_a_dry_run() -> None:
    sent: list[tuple[int, int]] = []
    processes = FakeProcesses({"myapp": 777})
    spec = action("reset_connections", signal="SIGHUP", process="myapp")

    def kill(pid: int, signum: int) -> None:
        sent.append((pid, signum))

    dry = await execute(spec, {}, ActionContext(processes=processes, kill=kill, dry_run=True))
    assert dry.message == "would send SIGHUP to pid 777 (process myapp)"
    assert sent == []
    assert (await execute(spec, {}, ActionContext(processes=processes, kill=kill))).ok
    assert sent == [(777, signal.SIGHUP)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "setup",
    ["missing", "garbage", "init", "world_writable", "symlink"],
)
async def test_untrustworthy_pid_files_are_not_signalled(tmp_path: Path, setup: str) -> None:
    sent: list[tuple[int, int]] = []
    pid_file = tmp_path / "app.pid"
    real = tmp_path / "real.pid"
    real.write_text(f"{os.getpid()}")
    if setup == "garbage":
        pid_file.write_text("12; reboot")
    elif setup == "init":
        pid_file.write_text("1")
    elif setup == "world_writable":
        pid_file.write_text(f"{os.getpid()}")
        pid_file.chmod(0o666)
    elif setup == "symlink":
        pid_file.symlink_to(real)
    spec = action("memory_cleanup", pid_file=str(pid_file))

    def kill(pid: int, signum: int) -> None:
        sent.append((pid, signum))

    outcome = await execute(spec, {}, ActionContext(kill=kill))
    assert not outcome.ok
    assert "no usable pid" in outcome.message
    assert sent == []


@pytest.mark.anyio
async def test_signalling_a_vanished_process_fails() -> None:
    def kill(pid: int, signum: int) -> None:
        raise ProcessLookupError(pid)

    spec = action("memory_cleanup", process="myapp")
    outcome = await execute(spec, {}, ActionContext(processes=FakeProcesses(), kill=kill))
    assert not outcome.ok
    assert outcome.message == "pid 4242 (process myapp) is gone"


SHELL_CALLS = {"create_subprocess_shell", "system", "popen", "getoutput", "getstatusoutput"}


def test_no_agent_module_can_start_a_shell() -> None:
    agent = Path(__file__).parents[2] / "agent"
    offences = []
    for source in sorted(agent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            shell = any(
                k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in node.keywords
            )
            if name in SHELL_CALLS or shell:
                offences.append(f"{source.name}:{node.lineno}")
    assert offences == []
