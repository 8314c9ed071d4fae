"""The job summary and log lines explain the verdict with its numbers."""

from __future__ import annotations

from bounceback.api.deployment_wire import (
    DeploymentState,
    GateReason,
    GateReasonCode,
    GateResult,
    VerdictOutcome,
)
from bounceback.guard.summary import (
    RollbackNote,
    gate_lines,
    gate_markdown,
    metric_line,
    number,
    report_markdown,
    statistics_cell,
)
from tests.guard.factories import AT, deployment, detail, entry, metric, verdict


def test_summary_has_a_row_per_metric_with_the_test_and_threshold() -> None:
    failing = metric(
        "error_rate",
        VerdictOutcome.FAIL,
        current=0.2,
        ratio=20.0,
        p_value=1e-9,
        effect_lower=8.0,
        effect_upper=41.5,
        explanation="errors rose 20x, above 1.5x",
    )
    d = deployment(
        state=DeploymentState.FAILED,
        rollback_requested=True,
        verdict=verdict(VerdictOutcome.FAIL, failing, metric("latency_ms")),
    )
    text = report_markdown(
        detail(d, entry("deployed", "deploy finished"), entry("verdict", "fail")),
        github_deployment_id=1001,
        rollback=RollbackNote("v1", True, "the rollback command", 8),
    )

    assert (
        "| `error_rate` | 0.01 (n=600) | 0.2 (n=590) | 20 | p=1e-09 (alpha=0.0025) [8, 41.5] "
        "| 1.5 | ❌ fail |" in text
    )
    assert "| `latency_ms` |" in text
    assert "- **error_rate** — errors rose 20x, above 1.5x" in text
    assert "**Rolled back** to `v1` by the rollback command." in text
    assert "GitHub deployment 1001" in text
    assert "### Timeline" in text and "| 2026-03-01 12:00:00 | deployed | deploy finished |" in text


def test_summary_without_verdict_says_the_state() -> None:
    text = report_markdown(detail(deployment(state=DeploymentState.CANCELLED)))
    assert "**Verdict: cancelled**" in text
    assert "### Metrics" not in text


def test_dry_run_is_called_out() -> None:
    text = report_markdown(detail(deployment(dry_run=True)))
    assert "Dry run" in text


def test_numbers_are_compact() -> None:
    assert [number(v) for v in (None, 0.0, 0.01234567, 12345.0, 1e-5, float("inf"))] == [
        "—",
        "0",
        "0.01235",
        "1.23e+04",
        "1e-05",
        "∞",
    ]
    assert statistics_cell(metric(p_value=None, alpha=None)) == "—"


def test_metric_line_carries_the_numbers() -> None:
    line = metric_line(metric("error_rate", VerdictOutcome.FAIL, explanation="too many errors"))
    assert line.startswith("error_rate: fail — baseline 0.01 (n=600), after deploy 0.012 (n=590)")
    assert line.endswith("threshold 1.5. too many errors")


def test_gate_lists_every_reason_blocking_or_not() -> None:
    result = GateResult(
        allowed=False,
        target="checkout",
        environment="production",
        reasons=[
            GateReason(code=GateReasonCode.CRITICAL_INCIDENT, message="incident #4 is open"),
            GateReason(
                code=GateReasonCode.MONITORING_DISABLED, message="monitoring is off", blocking=False
            ),
        ],
        checked_at=AT,
    )
    assert gate_lines(result) == [
        "gate for checkout in production: BLOCKED",
        "  [blocks] critical_incident: incident #4 is open",
        "  [note] monitoring_disabled: monitoring is off",
    ]
    markdown = gate_markdown(result)
    assert (
        "⛔ blocked" in markdown
        and "| `critical_incident` | yes | incident #4 is open |" in markdown
    )
