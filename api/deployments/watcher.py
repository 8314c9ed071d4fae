"""The watch as leased scheduled work: probe rounds and looks.

``deployment.probe`` (plain: it calls the health URLs) runs round 0 at track — the baseline
burst of ``baseline_samples`` requests per URL — then a round of ``probe_samples`` requests every
``probe_interval_seconds`` until the deployment ends or its monitoring does. Probe rows are keyed
by (deployment, round, URL, request), so a round retried after its owner died stores each
request once. Rounds before ``deployed`` are baseline.

``deployment.watch`` (transactional: its state changes and verdicts happen exactly once) runs
when monitoring starts and at each look: it moves the phase, judges, stores the verdict with its
per-metric numbers, ends the deployment when the verdict says so, or schedules the next look.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.deployment_wire import DeploymentState, Thresholds
from bounceback.api.deployments import outcomes, render, samples, store, watch
from bounceback.api.deployments.engine import PROBE_KIND, WATCH_KIND, Engine
from bounceback.api.deployments.judge import judge
from bounceback.api.deployments.lifecycle import (
    PROBED_STATES,
    WATCHED_STATES,
    probe_key,
    schedule_of,
    watch_key,
)
from bounceback.api.deployments.store import DeploymentRow
from bounceback.api.work.queue import WorkItem
from bounceback.api.work.scheduler import Outcome

log = logging.getLogger("bounceback.deployments")


class Watcher:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def register(self) -> None:
        self._engine.scheduler.register(PROBE_KIND, self.probe)
        self._engine.scheduler.register_transactional(WATCH_KIND, self.look)

    # -- probes ---------------------------------------------------------------------------------

    async def probe(self, item: WorkItem) -> Outcome:
        engine = self._engine
        deployment_id, round_number = int(item.payload["id"]), int(item.payload["round"])
        async with engine.db.read() as conn:
            row = await store.get(conn, deployment_id)
        if row is None or row.state not in PROBED_STATES or not row.health_urls:
            return None
        if row.deployed_at is not None and engine.clock.now() >= schedule_of(engine, row).ends:
            return None
        count = engine.config.baseline_samples if round_number == 0 else engine.config.probe_samples
        probes = await engine.prober.probe(row.health_urls, count)
        now = engine.clock.now()
        async with engine.db.transaction() as conn:
            await store.insert_probes(conn, deployment_id, round_number, probes)
            if round_number == 0:
                await self._baseline_captured(conn, row, len(probes), now)
            following = round_number + 1
            await engine.scheduler.schedule(
                PROBE_KIND,
                probe_key(deployment_id, following),
                now + timedelta(seconds=engine.config.probe_interval_seconds),
                {"id": deployment_id, "round": following},
                conn=conn,
            )
        return None

    async def _baseline_captured(
        self, conn: AsyncConnection, row: DeploymentRow, count: int, now: datetime
    ) -> None:
        current = await store.get(conn, row.id, lock=True)
        if current is None or current.state != DeploymentState.REGISTERED.value:
            return  # deployed already, or a retried round
        await store.update(
            conn, row.id, {"state": DeploymentState.DEPLOYING.value, "updated_at": now}
        )
        await store.add_event(
            conn,
            row.id,
            now,
            "baseline",
            f"baseline captured: {count} probe requests to {len(row.health_urls)} health URLs",
        )

    # -- looks ----------------------------------------------------------------------------------

    async def look(self, item: WorkItem, conn: AsyncConnection) -> Outcome:
        engine = self._engine
        row = await store.get(conn, int(item.payload["id"]), lock=True)
        if row is None or row.state not in WATCHED_STATES or row.deployed_at is None:
            return None
        now = engine.clock.now()
        schedule = schedule_of(engine, row)
        last_look = int(row.verdict["look"]) if row.verdict else 0
        step = watch.step(schedule, now, last_look)
        if step.state.value != row.state:
            await store.update(conn, row.id, {"state": step.state.value, "updated_at": now})
            await store.add_event(
                conn,
                row.id,
                now,
                step.state.value,
                f"monitoring until {schedule.ends.isoformat()}: judged every "
                f"{engine.config.look_interval_seconds:g} s",
            )
        if step.look is not None:
            ended = await self._judge(conn, row, schedule, step.look, now)
            if ended:
                return None
        if step.next_at is not None:
            await engine.scheduler.schedule(
                WATCH_KIND,
                watch_key(row.id, step.next_look),
                step.next_at,
                {"id": row.id},
                conn=conn,
            )
        return None

    async def _judge(
        self,
        conn: AsyncConnection,
        row: DeploymentRow,
        schedule: watch.Schedule,
        look: int,
        now: datetime,
    ) -> bool:
        """Judge ``look``; True when the verdict ended the deployment."""
        engine = self._engine
        assert row.deployed_at is not None
        config = engine.config
        baseline, current = samples.Side(), samples.Side()
        probes = await store.probes_between(conn, row.id, None, None)
        # Round 0 is the baseline burst, even when the deploy finished before it did.
        samples.add_probes(
            baseline, [p for p in probes if p.round_number == 0 or p.at < row.deployed_at]
        )
        samples.add_probes(
            current,
            [p for p in probes if p.round_number > 0 and p.at >= schedule.monitoring_starts],
        )
        agent_since = row.created_at - timedelta(minutes=config.agent_baseline_minutes)
        await samples.add_agent_metrics(conn, baseline, row.hosts, agent_since, row.deployed_at)
        await samples.add_agent_metrics(
            conn, current, row.hosts, schedule.monitoring_starts, now + timedelta(microseconds=1)
        )
        await samples.add_incident_rate(conn, baseline, row.target, agent_since, row.deployed_at)
        await samples.add_incident_rate(conn, current, row.target, row.deployed_at, now)
        baseline.health["no_critical_incident"] = True
        if row.hosts:
            baseline.health["circuits_closed"] = True
        await samples.add_health(conn, current, row.target, row.hosts, row.deployed_at)
        before, after = baseline.frozen(), current.frozen()
        policy = samples.policy_for(
            config.judge, Thresholds.model_validate(row.thresholds), before, config.latency_floor_ms
        )
        result = judge(before, after, policy, look=look, max_looks=schedule.max_looks)
        shown = render.verdict(result, now)
        await store.update(
            conn,
            row.id,
            {
                "verdict": shown.model_dump(mode="json"),
                "baseline": samples.summary(before),
                "updated_at": now,
            },
        )
        await store.add_event(
            conn,
            row.id,
            now,
            "look",
            result.explanation,
            {"look": look, "max_looks": schedule.max_looks, "outcome": result.outcome.value},
        )
        state = watch.conclusion(result.outcome, look, schedule.max_looks)
        if state is None:
            return False
        switch = await engine.auto_rollback(conn)
        await outcomes.finish(
            conn,
            row,
            state,
            now,
            reason=result.explanation,
            auto_rollback=switch.enabled,
            details={"verdict": result.outcome.value},
        )
        log.info("deployment %s ended %s: %s", row.id, state.value, result.explanation)
        return True
