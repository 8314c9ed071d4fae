"""What the Recovery page shows, shaped from the recovery store's rows (pure).

Kept apart from the page's routes so the shaping can be read, and tested, without a hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup

from bounceback.api.dashboard import charts, impact, recovery_trends
from bounceback.api.dashboard.timefmt import span, when
from bounceback.api.recovery.models import RecoveryAction
from bounceback.api.recovery.store import AttemptRow


def trigger_of(action: RecoveryAction) -> str:
    """What starts the action, in one line: its thresholds held for a duration, or its alerts."""
    parts = []
    thresholds = action.conditions.metric_thresholds
    if thresholds:
        held = " and ".join(f"{name} > {limit:g}" for name, limit in sorted(thresholds.items()))
        duration = action.conditions.duration
        parts.append(held + (f" for {duration:g} min" if duration else ""))
    alerts = action.conditions.alerts
    if alerts is not None:
        matched = [f"{k}={v}" for k, v in sorted(alerts.labels.items())]
        if alerts.severity:
            matched.append("severity " + "/".join(s.value for s in alerts.severity))
        if alerts.source:
            matched.append("source " + "/".join(alerts.source))
        if alerts.summary_contains:
            matched.append(f"summary ~ {alerts.summary_contains!r}")
        parts.append("alert " + (", ".join(matched) or "any"))
    return "; ".join(parts) or "manual only"


def action_rows(found: Mapping[str, RecoveryAction], provisioned: Iterable[str]) -> list[Any]:
    fixed = set(provisioned)
    return [
        {
            "id": a.id,
            "name": a.name,
            "description": a.description,
            "trigger": trigger_of(a),
            "cooldown": f"{a.cooldown_period:g} min",
            "max_retries": a.max_retries,
            "auto_execute": a.auto_execute,
            "enabled": a.enabled,
            "provisioned": a.id in fixed,
        }
        for _, a in sorted(found.items())
    ]


def command_ids(rows: Iterable[AttemptRow]) -> list[int]:
    return [int(s["command_id"]) for r in rows for s in r.steps if s.get("command_id") is not None]


def step_of(row: AttemptRow, command_states: Mapping[int, str]) -> str:
    """Where an open attempt is: the first unfinished step of its latest phase, or its note."""
    if not row.steps:
        return row.note
    phase = row.steps[-1]["phase"]
    steps = [s for s in row.steps if s["phase"] == phase]
    outcomes = [
        command_states.get(int(s["command_id"]), "pending")
        if s.get("command_id") is not None
        else str(s.get("outcome") or "pending")
        for s in steps
    ]
    done = sum(o == "done" for o in outcomes)
    for step, outcome in zip(steps, outcomes, strict=True):
        if outcome != "done":
            return (
                f"{phase} step {done + 1} of {len(steps)}: {step['type']} "
                f"{step.get('target', '')} ({outcome})"
            )
    return f"{phase}: {len(steps)} of {len(steps)} steps done; {row.note}"


def active_rows(
    hub_rows: Iterable[AttemptRow],
    agent_rows: Iterable[Mapping[str, Any]],
    command_states: Mapping[int, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Open hub attempts and the agents' running self-healing, oldest first."""
    out: list[dict[str, Any]] = [
        {
            "source": "hub",
            "id": r.id,
            "action": r.action.get("name") or r.action_id,
            "action_id": r.action_id,
            "target": r.target,
            "trigger": f"{r.trigger} ({r.triggered_by})",
            "state": r.state,
            "try": f"{r.try_number} of {r.action.get('maxRetries', '?')}",
            "step": step_of(r, command_states),
            "started_at": r.created_at,
            "incident_id": r.incident_id,
        }
        for r in hub_rows
    ]
    out += [
        {
            "source": "agent",
            "id": None,
            "action": a["action"],
            "action_id": a["action"],
            "target": f"{a['host']}" + (f": {a['target']}" if a.get("target") else ""),
            "trigger": a["trigger"],
            "state": "running",
            "try": "—",
            "step": f"{a['type']} running on the agent",
            "started_at": datetime.fromisoformat(a["started_at"]),
            "incident_id": a.get("incident_id"),
        }
        for a in agent_rows
    ]
    out.sort(key=lambda entry: entry["started_at"])
    for entry in out:
        started: datetime = entry["started_at"]
        entry["elapsed"] = span((now - started).total_seconds())
        entry["started"] = when(started)
    return out


def history_rows(rows: Iterable[AttemptRow]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        shown = r.shown()
        out.append(
            {
                "id": r.id,
                "action": r.action.get("name") or r.action_id,
                "action_id": r.action_id,
                "target": r.target,
                "trigger": r.trigger,
                "state": r.state,
                "try": r.try_number,
                "started": when(r.created_at),
                "duration": span(shown["duration_seconds"]),
                "incident_id": r.incident_id,
                "note": r.note,
            }
        )
    return out


def trend_charts(found: list[recovery_trends.Bucket], window: str) -> dict[str, Markup]:
    every = "hour" if found and found[0].hourly else "day"
    mttr, unit = recovery_trends.mttr_series(found)
    return {
        "success": charts.columns(
            recovery_trends.success_rate_series(found),
            title=f"Success rate per {every} (last {window})",
            unit="%",
            y_max=100,
        ),
        "mttr": charts.columns(mttr, title=f"Mean time to recovery per {every}", unit=unit),
    }


def impact_cards(found: Iterable[impact.ActionImpact], names: Mapping[str, str]) -> list[Any]:
    """One card per action: its mean readings before and after, as a table and a chart."""
    cards = []
    for entry in found:
        title = names.get(entry.action, entry.action) if entry.source == "hub" else entry.action
        rows = [(m.metric, m.before, m.after) for m in entry.metrics]
        cards.append(
            {
                "title": title,
                "source": "hub recovery" if entry.source == "hub" else "agent self-healing",
                "attempts": entry.attempts,
                "succeeded": entry.succeeded,
                "metrics": entry.metrics,
                "chart": charts.before_after(rows, title=f"{title}: mean before / after")
                if rows
                else None,
            }
        )
    return cards


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"
