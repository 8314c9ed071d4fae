"""What ``bounceback-agent actions`` and ``bounceback-agent test ACTION [--dry-run]`` print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bounceback.agent.action_spec import ActionSpec
from bounceback.agent.healing import Healer
from bounceback.api.agent_wire import HealingAttempt

_COLUMNS = ("NAME", "TYPE", "TARGET", "COOLDOWN", "RETRIES", "VERIFY", "ROLLBACK")
_TARGET_WIDTH = 48


def describe_actions(actions: Sequence[ActionSpec]) -> str:
    """A table of the declared actions, one line each."""
    if not actions:
        return "No actions declared ([[actions]] in agent.toml)."
    rows = [_COLUMNS] + [
        (
            action.name,
            action.type,
            _shorten(action.target),
            f"{action.cooldown_minutes:g} min",
            str(action.max_retries),
            f"{action.verify_cycles} cycles",
            action.rollback or "-",
        )
        for action in actions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def test_action(
    healer: Healer, name: str, dry_run: bool, params: Mapping[str, Any] | None = None
) -> HealingAttempt:
    """Run one declared action by hand, through every safety limit (trigger ``manual``).
    Raises `bounceback.agent.healing.ActionRefused` for an undeclared name or bad parameters."""
    return await healer.trigger(name, trigger="manual", params=params, dry_run=dry_run)


def format_attempt(attempt: HealingAttempt) -> str:
    lines = [f"{attempt.action} ({attempt.type}) on {attempt.target}: {attempt.outcome}"]
    if attempt.reason:
        lines.append(f"  {attempt.reason}")
    for key, value in sorted(attempt.after.items()):
        lines.append(f"  {key} = {value:g}")
    if attempt.escalate:
        lines.append("  escalated to the hub")
    return "\n".join(lines)


def _shorten(text: str) -> str:
    return text if len(text) <= _TARGET_WIDTH else text[: _TARGET_WIDTH - 1] + "…"
