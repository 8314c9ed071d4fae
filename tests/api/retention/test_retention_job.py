"""Retention on a running hub: a pass every interval on one replica, audited and counted; the
CLI's pass on demand; and the recovery scan, whose chain must survive its finished rows going."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bounceback.api.auth.roles import Role
from bounceback.api.cli import main
from bounceback.api.clock import FakeClock
from bounceback.api.recovery.names import SCAN
from bounceback.api.retention.job import KIND, run_key
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate
from bounceback.api.store.tables import agent_events, audit_log, scheduled_work
from bounceback.api.testing import RunningHub, running_hub
from bounceback.api.work.policy import next_boundary
from tests.api.retention.rows import add_agent, add_audit, add_events, add_work, days_ago

pytestmark = pytest.mark.anyio


async def settle(hub: RunningHub) -> None:
    """Run everything that is due now, to the end."""
    scheduler = hub.hub.scheduler
    while await scheduler.run_once():
        await scheduler.drain()
    await scheduler.drain()


async def count(db: Database, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def test_a_running_hub_prunes_every_interval_audits_the_pass_and_counts_it_in_metrics(
    db_settings: HubSettings, clock: FakeClock
) -> None:
    async with running_hub(db_settings, clock=clock) as hub:
        db, now = hub.hub.db, clock.now()
        due = next_boundary(now, 3600)
        assert await count(db, scheduled_work, scheduled_work.c.key == run_key(due)) == 1
        await add_agent(db, now)
        await add_events(db, now, [30, 20, 1])
        await add_audit(db, now, "token.create", [400, 2])
        await add_work(db, now, "old-done", "done", 10, finished_at=days_ago(10, now))

        await clock.advance(due - now)
        await settle(hub)

        assert await count(db, agent_events) == 1
        assert await count(db, scheduled_work, scheduled_work.c.key == "old-done") == 0
        async with db.read() as conn:
            [record] = (
                await conn.execute(
                    sa.select(audit_log).where(audit_log.c.action == "retention.prune")
                )
            ).all()
        assert record.actor == "retention"
        assert record.details["deleted"]["agent_events"] == 2
        assert record.details["deleted"]["audit_log"] == 1
        # the next pass is on the schedule, one interval on
        next_key = run_key(due + timedelta(hours=1))
        assert await count(db, scheduled_work, scheduled_work.c.key == next_key) == 1
        metrics = await hub.client.get("/metrics", headers=hub.auth(Role.VIEWER))
        assert 'bounceback_retention_deleted_rows_total{kind="agent_events"} 2.0' in metrics.text


async def test_every_replica_schedules_the_same_pass_so_only_one_runs_it(
    db_settings: HubSettings, clock: FakeClock
) -> None:
    async with (
        running_hub(db_settings, clock=clock) as first,
        running_hub(db_settings, clock=clock, create_credentials=False),
    ):
        assert await count(first.hub.db, scheduled_work, scheduled_work.c.kind == KIND) == 1


async def test_a_pass_with_nothing_past_retention_writes_no_audit_record(
    db_settings: HubSettings, clock: FakeClock
) -> None:
    async with running_hub(db_settings, clock=clock) as hub:
        done = await hub.hub.retention.prune_now()
        assert done.total == 0
        assert await count(hub.hub.db, audit_log, audit_log.c.action == "retention.prune") == 0


async def test_the_recovery_scan_keeps_one_chain_when_its_finished_rows_were_pruned(
    db_settings: HubSettings, clock: FakeClock
) -> None:
    async with running_hub(db_settings, clock=clock) as hub:
        await settle(hub)  # scan 0 runs and schedules scan 1
        db = hub.hub.db
        async with db.transaction() as conn:  # a week later, retention took the finished scan
            await conn.execute(
                sa.delete(scheduled_work).where(
                    scheduled_work.c.kind == SCAN, scheduled_work.c.state == "done"
                )
            )
    async with running_hub(db_settings, clock=clock, create_credentials=False) as again:
        scans = scheduled_work.c.kind == SCAN
        assert await count(again.hub.db, scheduled_work, scans) == 1  # no second chain
        assert (
            await count(again.hub.db, scheduled_work, scans, scheduled_work.c.state == "pending")
            == 1
        )


async def test_the_recovery_scan_starts_again_after_its_chain_ran_out_of_attempts(
    db_settings: HubSettings, clock: FakeClock
) -> None:
    async with running_hub(db_settings, clock=clock) as hub:
        await settle(hub)
        async with hub.hub.db.transaction() as conn:  # the chain died: no pending scan
            await conn.execute(
                sa.update(scheduled_work)
                .where(scheduled_work.c.kind == SCAN, scheduled_work.c.state == "pending")
                .values(state="failed")
            )
    async with running_hub(db_settings, clock=clock, create_credentials=False) as again:
        pending = await count(
            again.hub.db,
            scheduled_work,
            scheduled_work.c.kind == SCAN,
            scheduled_work.c.state == "pending",
        )
        assert pending == 1


def test_the_prune_command_deletes_what_is_past_retention_and_a_dry_run_only_counts(
    tmp_path: Path,
) -> None:
    settings = HubSettings(bounceback_data_dir=tmp_path / "data")
    now = datetime.now(UTC)

    async def fill() -> None:
        db = Database(settings.sqlalchemy_url)
        await migrate(db)
        await add_agent(db, now)
        await add_events(db, now, [30, 1])
        await db.dispose()

    asyncio.run(fill())
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    dry = runner.invoke(main, ["prune", "--dry-run", *data])
    assert dry.exit_code == 0, dry.output
    assert "agent_events\twould delete 1" in dry.output
    done = runner.invoke(main, ["prune", *data])
    assert done.exit_code == 0, done.output
    assert "agent_events\tdeleted 1" in done.output
    again = runner.invoke(main, ["prune", *data])
    assert "agent_events\tdeleted 0" in again.output


def test_the_prune_command_says_when_retention_keeps_everything(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["prune", "--data-dir", str(tmp_path / "data")],
        env={
            "BOUNCEBACK_RETENTION_AGENT_EVENTS_DAYS": "0",
            "BOUNCEBACK_RETENTION_AUDIT_DAYS": "0",
            "BOUNCEBACK_RETENTION_WORK_DAYS": "0",
        },
    )
    assert result.exit_code == 0, result.output
    assert "keeps everything" in result.output


def test_the_prune_command_refuses_a_retention_under_a_day_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        main,
        ["prune", "--data-dir", str(tmp_path / "data")],
        env={"BOUNCEBACK_RETENTION_WORK_DAYS": "0.25"},
    )
    assert result.exit_code == 2
    assert "BOUNCEBACK_RETENTION_WORK_DAYS" in result.output
