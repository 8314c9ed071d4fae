"""The healer: runs declared actions through the safety gate and verifies that they worked.

Each check cycle the loop calls, in this order::

    attempts = await healer.observe_cycle(readings, metrics)   # verdicts on earlier actions
    await healer.trigger("clean-tmp", trigger="check:tmp-size", readings_before=metrics)

An action triggered by a check is *started*; it *succeeded* if that check reads ok within the
action's ``verify_cycles`` following cycles, otherwise it *failed*: its rollback runs (where
declared) and, once the episode's retries are used up, the attempt asks the hub to escalate.
An action triggered any other way (a hub command, the CLI, the supervisor) has no condition to
wait for: it succeeds when the executor does. Every attempt, skipped ones included, goes to
``on_attempt`` for the reporter — except a skip repeating the previous one for the same action
and target, so a long cooldown is reported once, not every cycle.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bounceback.agent.action_spec import ActionSpec, index_actions
from bounceback.agent.actions_context import ActionContext, ActionOutcome
from bounceback.agent.actions_dispatch import execute
from bounceback.agent.actions_params import ParameterError, validate_params
from bounceback.agent.safety import (
    ActionLimits,
    GateStatus,
    Key,
    SafetyGate,
    SafetySpec,
    Verdict,
    Verification,
    verify,
)
from bounceback.api.agent_wire import CheckReading, CheckStatus, HealingAttempt, HealingOutcome

log = logging.getLogger("bounceback.agent.healing")
RECENT_ATTEMPTS = 50


class ActionRefused(Exception):
    """The request names no declared action or carries invalid parameters: nothing ran.
    A hub command gets ``command_result`` outcome ``refused`` with this message."""


@dataclass
class _Pending:
    attempt: HealingAttempt  # as reported when it started
    spec: ActionSpec
    key: Key
    check: str
    cycles_left: int


@dataclass(frozen=True, slots=True)
class Verifying:
    attempt_id: str
    action: str
    target: str | None
    check: str
    cycles_left: int


@dataclass(frozen=True, slots=True)
class HealerStatus:
    enabled: bool
    dry_run: bool
    cycle: int
    actions: list[str]
    verifying: list[Verifying]
    gate: GateStatus
    recent: list[HealingAttempt]  # newest last


class Healer:
    def __init__(
        self,
        actions: Sequence[ActionSpec],
        safety: SafetySpec | None = None,
        ctx: ActionContext | None = None,
        *,
        on_attempt: Callable[[HealingAttempt], None] | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._actions = index_actions(actions)
        self._safety = safety or SafetySpec()
        self._ctx = ctx or ActionContext()
        self._on_attempt = on_attempt
        self._new_id = new_id
        self.enabled = self._safety.self_healing  # the hub's enable/disable commands set this
        self.dry_run = self._safety.dry_run or self._ctx.dry_run
        self._gate = SafetyGate(self._safety)
        self._cycle = 0
        self._latest: dict[str, CheckReading] = {}
        self._pending: dict[str, _Pending] = {}
        self._episode_check: dict[Key, str] = {}
        self._last_skip: dict[Key, str] = {}
        self._recent: deque[HealingAttempt] = deque(maxlen=RECENT_ATTEMPTS)

    @property
    def actions(self) -> list[str]:
        return list(self._actions)

    def action(self, name: str) -> ActionSpec:
        try:
            return self._actions[name]
        except KeyError:
            declared = ", ".join(self._actions) or "none"
            raise ActionRefused(
                f"{name!r} is not a declared action (declared: {declared})"
            ) from None

    async def trigger(
        self,
        action_name: str,
        *,
        trigger: str,
        target: str | None = None,
        readings_before: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        dry_run: bool | None = None,
    ) -> HealingAttempt:
        """Run one declared action if the safety limits allow; raises ActionRefused."""
        spec = self.action(action_name)
        values = _validated(spec, params or {})
        dry = self.dry_run if dry_run is None else dry_run
        target = target or spec.target
        key = (spec.name, target)
        check = trigger.removeprefix("check:") if trigger.startswith("check:") else None
        now = self._ctx.now()
        draft = HealingAttempt(
            attempt_id=self._new_id(),
            action=spec.name,
            type=spec.type,
            target=target,
            trigger=trigger,
            outcome=HealingOutcome.STARTED,
            started_at=now,
            before={**self._check_value(check), **(readings_before or {})},
        )
        limits = ActionLimits(timedelta(minutes=spec.cooldown_minutes), spec.max_retries)
        decision = self._gate.decide(
            key, limits, now=now, cycle=self._cycle, enabled=self.enabled, dry_run=dry
        )
        if decision.verdict is Verdict.SKIP or (decision.verdict is Verdict.GIVE_UP and dry):
            return self._skip(key, draft, decision.code, decision.reason)
        if decision.verdict is Verdict.GIVE_UP:
            self._gate.give_up(target)
            return self._finish(draft, HealingOutcome.GAVE_UP, decision.reason, escalate=True)

        self._gate.begin(key)
        outcome: ActionOutcome | None = None
        try:
            refusal = await self._pre_check(spec, check, dry)
            if refusal is None:
                self._record_start(key, check, dry, now)
                outcome = await self._execute(spec, values, dry)
        except BaseException:  # cancelled: the agent is shutting down
            self._gate.release(key)
            raise
        finally:
            self._gate.finished()
        if outcome is None:
            self._gate.release(key)
            return self._skip(key, draft, "pre_check", refusal or "pre-check failed")
        return await self._conclude(spec, key, check, draft, outcome, dry)

    async def observe_cycle(
        self, readings: Sequence[CheckReading], metrics: Mapping[str, float]
    ) -> list[HealingAttempt]:
        """Take this cycle's check readings: finish the verifications they decide (running
        rollbacks of failed ones) and end the episodes of triggers that cleared."""
        self._cycle += 1
        statuses = {reading.check: reading.status for reading in readings}
        self._latest.update({reading.check: reading for reading in readings})
        done: list[HealingAttempt] = []
        for attempt_id, pending in list(self._pending.items()):
            verdict = verify(statuses.get(pending.check), pending.cycles_left)
            if verdict is Verification.WAITING:
                pending.cycles_left -= 1
                continue
            del self._pending[attempt_id]
            self._gate.release(pending.key)
            after = {**pending.attempt.after, **self._check_value(pending.check), **metrics}
            started = pending.attempt.model_copy(update={"after": after})
            if verdict is Verification.SUCCEEDED:
                self._end_episode(pending.key)
                reason = f"{pending.check} cleared; {started.reason}"
                done.append(self._finish(started, HealingOutcome.SUCCEEDED, reason))
            else:
                window = pending.spec.verify_cycles
                reason = f"{pending.check} still not ok after {window} cycle(s); {started.reason}"
                done += await self._failed(pending.spec, pending.key, started, reason)
        for key, check in list(self._episode_check.items()):
            if statuses.get(check) is CheckStatus.OK and not self._is_pending(key):
                self._end_episode(key)
        return done

    def reset(self, target: str | None = None) -> None:
        """A human's go-ahead: act on a given-up target (or on all) again."""
        self._gate.reset(target)
        for key in [k for k in self._last_skip if target is None or k[1] == target]:
            del self._last_skip[key]

    def status(self) -> HealerStatus:
        def cooldown(name: str) -> timedelta:
            return timedelta(minutes=self._actions[name].cooldown_minutes)

        verifying = [
            Verifying(p.attempt.attempt_id, p.key[0], p.key[1], p.check, p.cycles_left)
            for p in self._pending.values()
        ]
        return HealerStatus(
            enabled=self.enabled,
            dry_run=self.dry_run,
            cycle=self._cycle,
            actions=self.actions,
            verifying=verifying,
            gate=self._gate.status(now=self._ctx.now(), cooldown=cooldown),
            recent=list(self._recent),
        )

    # --- effects -----------------------------------------------------------------------------

    def _record_start(self, key: Key, check: str | None, dry: bool, now: datetime) -> None:
        self._last_skip.pop(key, None)
        if dry:
            if check is not None:
                self._gate.note_dry_run(key, now=now)
            return
        self._gate.commit(key, now=now, cycle=self._cycle)
        if check is not None:
            self._episode_check[key] = check

    async def _pre_check(self, spec: ActionSpec, check: str | None, dry: bool) -> str | None:
        pre = spec.pre_check
        reading = self._latest.get(check) if check is not None else None
        if (
            pre.require_failing
            and reading is not None
            and reading.status is not CheckStatus.FAILING
        ):
            return f"pre-check: {check} is {reading.status}, not failing"
        if pre.command is None or dry:
            return None
        try:
            async with asyncio.timeout(pre.timeout_seconds):
                result = await self._ctx.runner(pre.command, env=self._ctx.base_env)
        except TimeoutError:
            return f"pre-check {pre.command[0]} timed out after {pre.timeout_seconds:g} s"
        except Exception as exc:
            return f"pre-check {pre.command[0]} could not run: {exc}"
        if result.exit_code != 0:
            return f"pre-check {pre.command[0]} exited {result.exit_code}"
        return None

    async def _execute(
        self, spec: ActionSpec, values: Mapping[str, str], dry: bool
    ) -> ActionOutcome:
        ctx = replace(self._ctx, dry_run=dry)
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                return await execute(spec, values, ctx)
        except TimeoutError:
            return ActionOutcome(False, f"timed out after {spec.timeout_seconds:g} s")
        except Exception as exc:  # one broken action never stops the loop
            log.exception("action %s raised", spec.name)
            return ActionOutcome(False, f"{type(exc).__name__}: {exc}")

    async def _conclude(
        self,
        spec: ActionSpec,
        key: Key,
        check: str | None,
        draft: HealingAttempt,
        outcome: ActionOutcome,
        dry: bool,
    ) -> HealingAttempt:
        started = draft.model_copy(
            update={"after": {f"action.{k}": v for k, v in outcome.details.items()}}
        )
        if dry:
            self._gate.release(key)
            reason = outcome.message if outcome.ok else f"would fail: {outcome.message}"
            return self._finish(started, HealingOutcome.DRY_RUN, reason)
        if outcome.refused:
            self._gate.release(key)
            escalate = spec.escalate_on_failure
            return self._finish(started, HealingOutcome.SKIPPED, outcome.message, escalate=escalate)
        if not outcome.ok:
            self._gate.release(key)
            failed = await self._failed(spec, key, started, outcome.message)
            return failed[0]
        if check is None:
            self._gate.release(key)
            self._end_episode(key)
            return self._finish(started, HealingOutcome.SUCCEEDED, outcome.message)
        started = started.model_copy(update={"reason": outcome.message})
        self._pending[started.attempt_id] = _Pending(started, spec, key, check, spec.verify_cycles)
        return self._emit(started)

    async def _failed(
        self, spec: ActionSpec, key: Key, attempt: HealingAttempt, reason: str
    ) -> list[HealingAttempt]:
        """Report the failure (escalating once the retries are used up), then roll back."""
        exhausted = self._gate.episode_attempts(key) >= spec.max_retries
        escalate = spec.escalate_on_failure and exhausted
        if exhausted:
            reason += f" ({spec.max_retries} of {spec.max_retries} attempts used)"
        results = [self._finish(attempt, HealingOutcome.FAILED, reason, escalate=escalate)]
        if spec.rollback is not None:
            results.append(await self._rollback(self._actions[spec.rollback], attempt))
        return results

    async def _rollback(self, spec: ActionSpec, failed: HealingAttempt) -> HealingAttempt:
        """Run a failed action's rollback: no gate, no verification, no rollback of its own."""
        now = self._ctx.now()
        self._gate.commit_rollback(now=now, cycle=self._cycle)
        outcome = await self._execute(spec, {}, dry=False)
        attempt = HealingAttempt(
            attempt_id=self._new_id(),
            action=spec.name,
            type=spec.type,
            target=spec.target,
            trigger=f"rollback:{failed.action}",
            outcome=HealingOutcome.STARTED,
            started_at=now,
            after={f"action.{k}": v for k, v in outcome.details.items()},
        )
        if outcome.ok:
            return self._finish(attempt, HealingOutcome.SUCCEEDED, outcome.message)
        reason = f"rollback failed: {outcome.message}"
        return self._finish(attempt, HealingOutcome.FAILED, reason, escalate=True)

    def _skip(self, key: Key, draft: HealingAttempt, code: str, reason: str) -> HealingAttempt:
        update = {"outcome": HealingOutcome.SKIPPED, "reason": reason}
        attempt = draft.model_copy(update={**update, "finished_at": self._ctx.now()})
        repeated = self._last_skip.get(key) == code
        self._last_skip[key] = code
        return attempt if repeated else self._emit(attempt)

    def _finish(
        self,
        attempt: HealingAttempt,
        outcome: HealingOutcome,
        reason: str,
        *,
        escalate: bool = False,
    ) -> HealingAttempt:
        update = {"outcome": outcome, "reason": reason, "finished_at": self._ctx.now()}
        return self._emit(attempt.model_copy(update={**update, "escalate": escalate}))

    def _emit(self, attempt: HealingAttempt) -> HealingAttempt:
        level = logging.WARNING if attempt.escalate else logging.INFO
        what = (attempt.action, attempt.outcome, attempt.target, attempt.reason)
        log.log(level, "%s %s on %s: %s", *what)
        self._recent.append(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)
        return attempt

    def _end_episode(self, key: Key) -> None:
        self._gate.end_episode(key)
        self._episode_check.pop(key, None)
        self._last_skip.pop(key, None)

    def _is_pending(self, key: Key) -> bool:
        return any(p.key == key for p in self._pending.values())

    def _check_value(self, check: str | None) -> dict[str, float]:
        reading = self._latest.get(check) if check is not None else None
        if reading is None or reading.value is None:
            return {}
        return {f"check.{reading.check}": reading.value}


NOTE = "reason"  # the hub's note on a forced action ("why"), for the record, not a parameter


def _validated(spec: ActionSpec, params: Mapping[str, Any]) -> dict[str, str]:
    parameters = getattr(spec, "parameters", None)
    if NOTE in params and NOTE not in (parameters or {}):
        params = {name: value for name, value in params.items() if name != NOTE}
    if parameters is None:
        if params:
            raise ActionRefused(f"action {spec.name!r} ({spec.type}) takes no parameters")
        return {}
    try:
        return validate_params(parameters, params)
    except ParameterError as exc:
        raise ActionRefused(f"action {spec.name!r}: {exc}") from None
