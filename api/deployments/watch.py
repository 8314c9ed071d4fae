"""The watch's pure decisions: which phase a deployment is in, when it is judged, and what a
verdict does to it. Times in, decisions out; ``watcher.py`` performs them.

After ``deployed`` at D: warm-up until D + warmup, stabilization until M = D + warmup +
stabilization (both ``stabilizing``: probed, not judged), then ``monitoring`` until
M + monitoring, judged at looks 1..K, look k at M + k·interval (the last one at the end). A look
that is missed (no hub ran at the time) is not replayed: the next run judges the latest look due,
which only spends less of alpha than planned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bounceback.api.deployment_wire import DeploymentState
from bounceback.api.deployments.verdict import Outcome


@dataclass(frozen=True)
class Schedule:
    deployed_at: datetime
    warmup: timedelta
    stabilization: timedelta
    monitoring: timedelta
    look_interval: timedelta

    @property
    def monitoring_starts(self) -> datetime:
        return self.deployed_at + self.warmup + self.stabilization

    @property
    def ends(self) -> datetime:
        return self.monitoring_starts + self.monitoring

    @property
    def max_looks(self) -> int:
        return max(1, math.ceil(self.monitoring / self.look_interval - 1e-9))

    def look_at(self, look: int) -> datetime:
        return min(self.monitoring_starts + look * self.look_interval, self.ends)

    def looks_due(self, now: datetime) -> int:
        """How many looks are due at ``now`` (0 before the first)."""
        if now < self.monitoring_starts:
            return 0
        return sum(1 for look in range(1, self.max_looks + 1) if self.look_at(look) <= now)


def schedule_for(
    deployed_at: datetime,
    *,
    warmup_seconds: float,
    stabilization_minutes: float,
    monitoring_minutes: float,
    look_interval_seconds: float,
) -> Schedule:
    return Schedule(
        deployed_at,
        timedelta(seconds=warmup_seconds),
        timedelta(minutes=stabilization_minutes),
        timedelta(minutes=monitoring_minutes),
        timedelta(seconds=look_interval_seconds),
    )


@dataclass(frozen=True)
class Step:
    state: DeploymentState  # the phase the deployment is in now
    look: int | None  # judge this look now
    next_at: datetime | None  # when the watch runs next; None after the last look
    next_look: int = 0  # the look it runs for then


def step(schedule: Schedule, now: datetime, last_look: int) -> Step:
    """What the watch does at ``now``, given the last look it judged."""
    due = schedule.looks_due(now)
    if due == 0:
        state = (
            DeploymentState.STABILIZING
            if now < schedule.monitoring_starts
            else DeploymentState.MONITORING
        )
        return Step(state, None, schedule.look_at(1), 1)
    look = due if due > last_look else None
    following = max(due, last_look) + 1
    if following > schedule.max_looks:
        return Step(DeploymentState.MONITORING, look, None)
    return Step(DeploymentState.MONITORING, look, schedule.look_at(following), following)


def conclusion(outcome: Outcome, look: int, max_looks: int) -> DeploymentState | None:
    """The terminal state a verdict leads to; None to keep monitoring.

    A failure ends the watch at once. Otherwise only the last look concludes: pass succeeds;
    inconclusive and nodata end inconclusive, which never rolls back by itself.
    """
    if outcome is Outcome.FAIL:
        return DeploymentState.FAILED
    if look < max_looks:
        return None
    if outcome is Outcome.PASS:
        return DeploymentState.SUCCEEDED
    return DeploymentState.INCONCLUSIVE


def wants_rollback(*, auto_rollback: bool, dry_run: bool, is_rollback: bool) -> bool:
    """A failed deployment asks for a rollback when auto-rollback is on, the deployment is not a
    dry run, and it is not itself a rollback (a failed rollback escalates to people)."""
    return auto_rollback and not dry_run and not is_rollback
