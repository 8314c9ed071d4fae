"""The healer end to end: checks trigger real actions, verification, retries, rollback,
escalation, refusals and dry runs, with a fake clock and a fake supervisor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bounceback.agent import action_cli
from bounceback.agent.action_spec import ActionSpec
from bounceback.agent.actions_context import ActionContext, RunResult
from bounceback.agent.healing import ActionRefused, Healer
from bounceback.agent.safety import SafetySpec
from bounceback.api.agent_wire import CheckReading, CheckStatus, HealingAttempt, HealingOutcome

S = HealingOutcome
THRESHOLD = 1000  # bytes


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, minutes: float) -> None:
        self.at += timedelta(minutes=minutes)


@dataclass
class FakeProcesses:
    pids: dict[str, int] = field(default_factory=lambda: {"myapp": 100})
    restarts: list[str] = field(default_factory=list)
    hang: asyncio.Event | None = None  # restart() waits for it

    async def restart(self, name: str) -> None:
        if self.hang is not None:
            await self.hang.wait()
        self.restarts.append(name)
        self.pids[name] += 1

    def pid(self, name: str) -> int | None:
        return self.pids.get(name)


@dataclass
class Rig:
    healer: Healer
    clock: Clock
    reported: list[HealingAttempt]
    processes: FakeProcesses


def rig(
    actions: list[dict[str, Any]],
    *,
    safety: SafetySpec | None = None,
    runner: Any = None,
) -> Rig:
    clock = Clock()
    processes = FakeProcesses()
    specs = TypeAdapter(list[ActionSpec]).validate_python(actions)
    ctx = ActionContext(now=clock.now, processes=processes)
    if runner is not None:
        ctx = ActionContext(now=clock.now, processes=processes, runner=runner)
    reported: list[HealingAttempt] = []
    ids = iter(range(1, 1000))
    healer = Healer(specs, safety, ctx, on_attempt=reported.append, new_id=lambda: f"a{next(ids)}")
    return Rig(healer, clock, reported, processes)


def reading(check: str, status: CheckStatus, value: float | None = None) -> CheckReading:
    return CheckReading(check=check, type="test", status=status, value=value)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def size_check(path: Path) -> CheckReading:
    size = dir_size(path)
    status = CheckStatus.FAILING if size > THRESHOLD else CheckStatus.OK
    return CheckReading(
        check="tmp-size", type="directory_size", status=status, value=size, threshold=THRESHOLD
    )


def old_file(path: Path, size: int, hours: float, now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = now.timestamp() - hours * 3600
    os.utime(path, (when, when))


@pytest.mark.anyio
async def test_directory_over_threshold_runs_clean_temp_once_and_it_succeeds(
    tmp_path: Path,
) -> None:
    temp = tmp_path / "tmp"
    r = rig([{"name": "clean-tmp", "type": "clean_temp", "directories": [str(temp)]}])
    old_file(temp / "big.tmp", 5000, 48, r.clock.now())
    old_file(temp / "fresh.tmp", 10, 1, r.clock.now())
    runs = 0

    for _ in range(5):  # the agent loop: observe, then act on what fails
        check = size_check(temp)
        metrics = {"tmp_bytes": float(check.value or 0)}
        await r.healer.observe_cycle([check], metrics)
        if check.status is CheckStatus.FAILING:
            runs += 1
            await r.healer.trigger("clean-tmp", trigger="check:tmp-size", readings_before=metrics)
        r.clock.advance(1)

    assert runs == 1
    assert [(a.outcome, a.attempt_id) for a in r.reported] == [
        (S.STARTED, "a1"),
        (S.SUCCEEDED, "a1"),
    ]
    done = r.reported[-1]
    assert not (temp / "big.tmp").exists() and (temp / "fresh.tmp").exists()
    assert done.before == {"check.tmp-size": 5010.0, "tmp_bytes": 5010.0}
    assert done.after["tmp_bytes"] == 10.0
    assert done.after["action.files_removed"] == 1
    assert done.trigger == "check:tmp-size" and done.type == "clean_temp"
    assert done.finished_at == r.clock.now() - timedelta(minutes=4)
    assert r.healer.status().verifying == []


RESTART_WITH_ROLLBACK: list[dict[str, Any]] = [
    {
        "name": "restart-app",
        "type": "restart_process",
        "process": "myapp",
        "rollback": "cleanup",
        "max_retries": 2,
        "cooldown_minutes": 10,
    },
    {"name": "cleanup", "type": "memory_cleanup", "process": "myapp", "method": "restart"},
]


async def failing_cycles(r: Rig, cycles: int, *, act: str = "restart-app") -> None:
    for _ in range(cycles):
        await r.healer.observe_cycle([reading("mem", CheckStatus.FAILING)], {"mem": 95.0})
        await r.healer.trigger(act, trigger="check:mem", readings_before={"mem": 95.0})
        r.clock.advance(1)


@pytest.mark.anyio
async def test_a_condition_that_never_clears_fails_rolls_back_retries_then_escalates() -> None:
    r = rig(RESTART_WITH_ROLLBACK, safety=SafetySpec(max_attempts_per_target=10))

    await failing_cycles(r, 30)

    outcomes = [(a.action, a.outcome, a.escalate) for a in r.reported]
    assert outcomes == [
        ("restart-app", S.STARTED, False),
        ("restart-app", S.SKIPPED, False),  # in progress (reported once)
        ("restart-app", S.FAILED, False),
        ("cleanup", S.SUCCEEDED, False),
        ("restart-app", S.SKIPPED, False),  # cooldown
        ("restart-app", S.STARTED, False),
        ("restart-app", S.SKIPPED, False),
        ("restart-app", S.FAILED, True),  # 2 of 2 attempts: escalate
        ("cleanup", S.SUCCEEDED, False),
        ("restart-app", S.SKIPPED, False),  # retries used up, from now on
    ]
    failed = r.reported[2]
    assert failed.reason.startswith("mem still not ok after 2 cycle(s)")
    assert failed.after["mem"] == 95.0
    assert r.reported[3].trigger == "rollback:restart-app"
    assert "attempts on myapp this episode" in r.reported[-1].reason
    # two restarts by the action, two by its rollback
    assert r.processes.restarts == ["myapp"] * 4

    await r.healer.observe_cycle([reading("mem", CheckStatus.OK)], {"mem": 40.0})
    await r.healer.observe_cycle([reading("mem", CheckStatus.FAILING)], {"mem": 95.0})
    again = await r.healer.trigger("restart-app", trigger="check:mem")
    assert again.outcome is S.STARTED  # the episode ended when the condition cleared


@pytest.mark.anyio
async def test_a_flapping_condition_hits_the_restart_loop_limit_and_gives_up() -> None:
    r = rig(
        [{"name": "restart-app", "type": "restart_process", "process": "myapp"}],
        safety=SafetySpec(max_attempts_per_target=3, attempts_window_cycles=60),
    )
    for _ in range(4):  # the restart helps, then memory climbs again
        await r.healer.observe_cycle([reading("mem", CheckStatus.FAILING)], {})
        await r.healer.trigger("restart-app", trigger="check:mem")
        await r.healer.observe_cycle([reading("mem", CheckStatus.OK)], {})
        r.clock.advance(11)
        for _ in range(8):
            await r.healer.observe_cycle([reading("mem", CheckStatus.OK)], {})

    outcomes = [a.outcome for a in r.reported]
    assert outcomes == [S.STARTED, S.SUCCEEDED] * 3 + [S.GAVE_UP]
    gave_up = r.reported[-1]
    assert gave_up.escalate
    assert "3 attempts on myapp within 60 cycles" in gave_up.reason
    assert r.healer.status().gate.given_up == ["myapp"]

    await r.healer.observe_cycle([reading("mem", CheckStatus.FAILING)], {})
    skipped = await r.healer.trigger("restart-app", trigger="check:mem")
    assert skipped.outcome is S.SKIPPED and "reset required" in skipped.reason

    r.healer.reset("myapp")
    assert (await r.healer.trigger("restart-app", trigger="check:mem")).outcome is S.STARTED


@pytest.mark.anyio
async def test_undeclared_actions_and_bad_parameters_are_refused() -> None:
    r = rig(
        [
            {
                "name": "script",
                "type": "execute_script",
                "command": ["/opt/s.sh"],
                "parameters": {"n": {"type": "integer"}},
            },
            {"name": "restart-app", "type": "restart_process", "process": "myapp"},
        ]
    )
    with pytest.raises(ActionRefused, match=r"'rm -rf /' is not a declared action"):
        await r.healer.trigger("rm -rf /", trigger="command:7")
    with pytest.raises(ActionRefused, match="'n': expected integer"):
        await r.healer.trigger("script", trigger="command:8", params={"n": "1; reboot"})
    with pytest.raises(ActionRefused, match="takes no parameters"):
        await r.healer.trigger("restart-app", trigger="command:9", params={"x": 1})
    assert r.reported == []
    assert r.processes.restarts == []


@pytest.mark.anyio
async def test_the_hubs_reason_for_a_forced_action_is_not_taken_for_a_parameter() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    attempt = await r.healer.trigger(
        "restart-app", trigger="command:9", params={"reason": "stuck workers"}, dry_run=True
    )
    assert attempt.outcome == "dry_run"


@pytest.mark.anyio
async def test_dry_run_changes_nothing_and_reports_dry_run(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    r = rig([{"name": "clean-tmp", "type": "clean_temp", "directories": [str(temp)]}])
    old_file(temp / "big.tmp", 5000, 48, r.clock.now())

    attempt = await action_cli.test_action(r.healer, "clean-tmp", dry_run=True)

    assert attempt.outcome is S.DRY_RUN
    assert attempt.reason == "would remove 1 file(s) (4.9 KB)"
    assert attempt.after["action.files_removed"] == 1
    assert (temp / "big.tmp").exists()
    # a dry run is not an attempt: the real one is not held back by a cooldown
    real = await action_cli.test_action(r.healer, "clean-tmp", dry_run=False)
    assert real.outcome is S.SUCCEEDED
    assert not (temp / "big.tmp").exists()


@pytest.mark.anyio
async def test_dry_run_mode_reports_a_failing_check_once_per_cooldown(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    r = rig(
        [{"name": "clean-tmp", "type": "clean_temp", "directories": [str(temp)]}],
        safety=SafetySpec(dry_run=True),
    )
    old_file(temp / "big.tmp", 5000, 48, r.clock.now())
    for _ in range(12):
        await r.healer.observe_cycle([size_check(temp)], {})
        await r.healer.trigger("clean-tmp", trigger="check:tmp-size")
        r.clock.advance(1)
    assert [a.outcome for a in r.reported] == [S.DRY_RUN, S.SKIPPED, S.DRY_RUN, S.SKIPPED]
    assert (temp / "big.tmp").exists()


@pytest.mark.anyio
async def test_disabled_self_healing_skips_but_still_dry_runs() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    r.healer.enabled = False
    skipped = await r.healer.trigger("restart-app", trigger="manual")
    assert (
        skipped.outcome is S.SKIPPED and skipped.reason == "self-healing is disabled on this host"
    )
    dry = await r.healer.trigger("restart-app", trigger="manual", dry_run=True)
    assert dry.outcome is S.DRY_RUN
    assert r.processes.restarts == []


@pytest.mark.anyio
async def test_manual_runs_succeed_with_the_executor_and_respect_the_cooldown() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    first = await r.healer.trigger("restart-app", trigger="manual")
    assert first.outcome is S.SUCCEEDED
    assert first.reason == "restarted process myapp (pid 100 → 101)"
    second = await r.healer.trigger("restart-app", trigger="manual")
    assert second.outcome is S.SKIPPED and "cooling down for 600 s" in second.reason
    assert r.healer.status().gate.cooldowns == {"restart-app@myapp": 600.0}
    r.clock.advance(10)
    assert (await r.healer.trigger("restart-app", trigger="manual")).outcome is S.SUCCEEDED


@pytest.mark.anyio
async def test_repeated_skips_are_reported_once() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    await r.healer.trigger("restart-app", trigger="manual")
    for _ in range(5):
        attempt = await r.healer.trigger("restart-app", trigger="manual")
        assert attempt.outcome is S.SKIPPED
        r.clock.advance(1)
    assert [a.outcome for a in r.reported] == [S.SUCCEEDED, S.SKIPPED]


@pytest.mark.anyio
async def test_pre_check_require_failing_skips_once_the_condition_cleared() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    await r.healer.observe_cycle([reading("mem", CheckStatus.OK)], {})
    attempt = await r.healer.trigger("restart-app", trigger="check:mem")
    assert attempt.outcome is S.SKIPPED
    assert attempt.reason == "pre-check: mem is ok, not failing"
    assert r.processes.restarts == []


@pytest.mark.anyio
async def test_a_failing_pre_check_command_skips_without_using_an_attempt() -> None:
    calls: list[list[str]] = []
    exit_code = [1]

    async def runner(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        calls.append(list(argv))
        return RunResult(exit_code[0], "")

    r = rig(
        [
            {
                "name": "restart-app",
                "type": "restart_process",
                "process": "myapp",
                "pre_check": {"command": ["/usr/bin/is-safe", "myapp"]},
            }
        ],
        runner=runner,
    )
    skipped = await r.healer.trigger("restart-app", trigger="manual")
    assert skipped.outcome is S.SKIPPED and skipped.reason == "pre-check /usr/bin/is-safe exited 1"
    exit_code[0] = 0
    assert (await r.healer.trigger("restart-app", trigger="manual")).outcome is S.SUCCEEDED
    assert calls == [["/usr/bin/is-safe", "myapp"]] * 2


@pytest.mark.anyio
async def test_a_failed_executor_fails_at_once_and_rolls_back() -> None:
    async def runner(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        return RunResult(2, "pool busy")

    r = rig(
        [
            {
                "name": "reset-pool",
                "type": "reset_connections",
                "command": ["/opt/app/reset-pool"],
                "rollback": "restart-app",
                "max_retries": 1,
            },
            {"name": "restart-app", "type": "restart_process", "process": "myapp"},
        ],
        runner=runner,
    )
    await r.healer.observe_cycle([reading("db", CheckStatus.FAILING)], {})
    failed = await r.healer.trigger("reset-pool", trigger="check:db")
    assert failed.outcome is S.FAILED and failed.escalate
    assert failed.reason == "/opt/app/reset-pool exited 2: pool busy (1 of 1 attempts used)"
    assert [a.action for a in r.reported] == ["reset-pool", "restart-app"]
    assert r.processes.restarts == ["myapp"]


@pytest.mark.anyio
async def test_an_action_that_hangs_times_out_and_frees_its_slot() -> None:
    r = rig(
        [
            {
                "name": "restart-app",
                "type": "restart_process",
                "process": "myapp",
                "timeout_seconds": 0.05,
            }
        ],
        safety=SafetySpec(max_concurrent_actions=1),
    )
    r.processes.hang = asyncio.Event()
    attempt = await r.healer.trigger("restart-app", trigger="manual")
    assert attempt.outcome is S.FAILED
    assert attempt.reason.startswith("timed out after 0.05 s")
    assert r.healer.status().gate.executing == 0


@pytest.mark.anyio
async def test_the_global_concurrency_limit_skips_a_second_action() -> None:
    r = rig(
        [
            {"name": "restart-app", "type": "restart_process", "process": "myapp"},
            {"name": "restart-other", "type": "restart_process", "process": "other"},
        ],
        safety=SafetySpec(max_concurrent_actions=1),
    )
    r.processes.pids["other"] = 200
    r.processes.hang = asyncio.Event()
    first = asyncio.ensure_future(r.healer.trigger("restart-app", trigger="manual"))
    await asyncio.sleep(0)
    second = await r.healer.trigger("restart-other", trigger="manual")
    assert second.outcome is S.SKIPPED and "1 actions already running" in second.reason
    r.processes.hang.set()
    assert (await first).outcome is S.SUCCEEDED


@pytest.mark.anyio
async def test_a_systemd_refusal_is_a_skip_that_escalates() -> None:
    async def systemctl(argv: Sequence[str], *, env: Mapping[str, str]) -> RunResult:
        assert argv[1] == "show"
        return RunResult(0, "ActiveState=failed\nResult=start-limit-hit\nNRestarts=5")

    r = rig(
        [{"name": "restart-db", "type": "restart_service", "unit": "postgresql.service"}],
        runner=systemctl,
    )
    attempt = await r.healer.trigger("restart-db", trigger="manual")
    assert attempt.outcome is S.SKIPPED and attempt.escalate
    assert "start-limit-hit" in attempt.reason


@pytest.mark.anyio
async def test_the_host_rate_limit_holds_across_actions() -> None:
    r = rig(
        [{"name": f"restart-{i}", "type": "restart_process", "process": "myapp"} for i in range(3)],
        safety=SafetySpec(max_actions_per_hour=2, max_attempts_per_target=10),
    )
    results = [await r.healer.trigger(f"restart-{i}", trigger="manual") for i in range(3)]
    assert [a.outcome for a in results] == [S.SUCCEEDED, S.SUCCEEDED, S.SKIPPED]
    assert "2 actions in the last hour" in results[2].reason
    r.clock.advance(60)
    assert (await r.healer.trigger("restart-2", trigger="manual")).outcome is S.SUCCEEDED


@pytest.mark.anyio
async def test_status_shows_what_is_being_verified() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    await r.healer.observe_cycle([reading("mem", CheckStatus.FAILING)], {})
    started = await r.healer.trigger("restart-app", trigger="check:mem")
    status = r.healer.status()
    assert status.actions == ["restart-app"]
    assert [(v.attempt_id, v.check, v.cycles_left) for v in status.verifying] == [
        (started.attempt_id, "mem", 2)
    ]
    assert status.recent == [started]
    assert status.cycle == 1


def test_describe_actions_lists_every_declared_action() -> None:
    specs = TypeAdapter(list[ActionSpec]).validate_python(
        [
            {"name": "clean-tmp", "type": "clean_temp", "directories": ["/var/tmp/app"]},
            {
                "name": "restart-db",
                "type": "restart_service",
                "unit": "postgresql.service",
                "rollback": "clean-tmp",
                "cooldown_minutes": 30,
            },
        ]
    )
    lines = action_cli.describe_actions(specs).splitlines()
    assert lines[0].split() == [
        "NAME",
        "TYPE",
        "TARGET",
        "COOLDOWN",
        "RETRIES",
        "VERIFY",
        "ROLLBACK",
    ]
    assert lines[1].split() == [
        "clean-tmp",
        "clean_temp",
        "/var/tmp/app",
        "10",
        "min",
        "3",
        "2",
        "cycles",
        "-",
    ]
    assert lines[2].split()[:4] == ["restart-db", "restart_service", "postgresql.service", "30"]
    assert action_cli.describe_actions([]).startswith("No actions declared")


@pytest.mark.anyio
async def test_format_attempt_for_the_cli() -> None:
    r = rig([{"name": "restart-app", "type": "restart_process", "process": "myapp"}])
    text = action_cli.format_attempt(
        await action_cli.test_action(r.healer, "restart-app", dry_run=True)
    )
    assert text.splitlines() == [
        "restart-app (restart_process) on myapp: dry_run",
        "  would restart process myapp (pid 100)",
    ]
