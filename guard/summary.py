"""What the guard reports: the job summary's Markdown and the log's plain lines. Pure.

The most common complaint about deployment judges is a verdict without its reasons (guard.md
§7), so every metric gets its numbers: baseline, after deploy, ratio, the test's p-value and
interval, the threshold it was held to, and the judge's own sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bounceback.api.deployment_wire import (
    Deployment,
    DeploymentDetail,
    GateResult,
    MetricVerdict,
    TimelineEntry,
    Verdict,
    VerdictOutcome,
)
from bounceback.api.verdict_cells import number, statistics_cell
from bounceback.api.verdict_cells import with_n as _with_n

__all__ = [
    "RollbackNote",
    "failing_metrics",
    "gate_lines",
    "gate_markdown",
    "metric_line",
    "number",
    "report_markdown",
    "statistics_cell",
]

_ICONS = {
    VerdictOutcome.PASS: "✅ pass",
    VerdictOutcome.FAIL: "❌ fail",
    VerdictOutcome.INCONCLUSIVE: "⚠️ inconclusive",
    VerdictOutcome.NODATA: "⚪ nodata",
}


@dataclass(frozen=True)
class RollbackNote:
    """How the guard answered a failed verdict, for the summary's headline."""

    ref: str | None
    performed: bool  # the command ran and succeeded, or the workflow was dispatched
    how: str  # "rollback command", "workflow rollback.yml", or why it did not happen
    deployment_id: int | None = None


def failing_metrics(verdict: Verdict | None) -> list[MetricVerdict]:
    if verdict is None:
        return []
    return [m for m in verdict.metrics if m.outcome == VerdictOutcome.FAIL]


def metric_line(metric: MetricVerdict) -> str:
    """One log line: ``error_rate: fail — baseline 0.01, after 0.2, ratio 20 …``."""
    baseline = _with_n(metric.baseline, metric.baseline_n)
    return (
        f"{metric.name}: {metric.outcome.value} — baseline {baseline}"
        f", after deploy {_with_n(metric.current, metric.current_n)}, ratio {number(metric.ratio)}"
        f", test {statistics_cell(metric)}, threshold {number(metric.threshold)}."
        f" {metric.explanation}"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _metrics_table(metrics: Sequence[MetricVerdict]) -> list[str]:
    lines = [
        "| Metric | Baseline | After deploy | Ratio | Test (p-value, interval) | Threshold "
        "| Verdict |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for m in metrics:
        cells = [
            f"`{m.name}`",
            _with_n(m.baseline, m.baseline_n),
            _with_n(m.current, m.current_n),
            number(m.ratio),
            statistics_cell(m),
            number(m.threshold),
            _ICONS[m.outcome],
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    lines.extend(f"- **{_cell(m.name)}** — {_cell(m.explanation)}" for m in metrics)
    return lines


def _timeline(entries: Sequence[TimelineEntry]) -> list[str]:
    lines = ["| Time (UTC) | Event | Details |", "|---|---|---|"]
    for entry in entries:
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"| {at} | {_cell(entry.kind)} | {_cell(entry.message)} |")
    return lines


def _headline(deployment: Deployment, rollback: RollbackNote | None, dry_run: bool) -> str:
    verdict = deployment.verdict
    outcome = verdict.outcome.value if verdict else deployment.state.value
    text = f"**Verdict: {outcome}** (state `{deployment.state.value}`)"
    if verdict is not None:
        text += f" after look {verdict.look} of {verdict.max_looks}: {verdict.explanation}"
    if rollback is not None:
        if rollback.performed:
            text += f"\n\n**Rolled back** to `{rollback.ref}` by {rollback.how}."
        else:
            text += f"\n\n**Not rolled back**: {rollback.how}."
    if dry_run:
        text += "\n\n_Dry run: judged and reported; nothing was rolled back._"
    return text


def report_markdown(
    detail: DeploymentDetail,
    *,
    github_deployment_id: int | None = None,
    rollback: RollbackNote | None = None,
    dry_run: bool = False,
) -> str:
    d = detail.deployment
    lines = [
        f"## Bounceback guard: `{d.target}` {d.version} → {d.environment}",
        "",
        _headline(d, rollback, dry_run or d.dry_run),
        "",
        f"Hub deployment [{d.id}]({d.report_url})"
        + (f" · GitHub deployment {github_deployment_id}" if github_deployment_id else "")
        + (f" · previous version `{d.previous_version}`" if d.previous_version else ""),
        "",
    ]
    if d.verdict is not None and d.verdict.metrics:
        lines += ["### Metrics", "", *_metrics_table(d.verdict.metrics), ""]
    if detail.timeline:
        lines += ["### Timeline", "", *_timeline(detail.timeline), ""]
    return "\n".join(lines)


def gate_lines(result: GateResult) -> list[str]:
    state = "allowed" if result.allowed else "BLOCKED"
    lines = [f"gate for {result.target} in {result.environment}: {state}"]
    if not result.reasons:
        lines.append("  no reasons to hold the deploy")
    for reason in result.reasons:
        kind = "blocks" if reason.blocking else "note"
        lines.append(f"  [{kind}] {reason.code.value}: {reason.message}")
    return lines


def gate_markdown(result: GateResult) -> str:
    verdict = "✅ allowed" if result.allowed else "⛔ blocked"
    lines = [
        f"## Bounceback gate: `{result.target}` → {result.environment}: {verdict}",
        "",
    ]
    if result.reasons:
        lines += ["| Reason | Blocks | Message |", "|---|---|---|"]
        for reason in result.reasons:
            blocks = "yes" if reason.blocking else "no"
            lines.append(f"| `{reason.code.value}` | {blocks} | {_cell(reason.message)} |")
    else:
        lines.append("No reason to hold the deploy.")
    return "\n".join(lines)
