from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounceback.api.deployment_wire import GateReasonCode
from bounceback.api.deployments.config import DegradationLevel
from bounceback.api.deployments.degradation import Degradation
from bounceback.api.deployments.freeze import ActiveFreeze
from bounceback.api.deployments.gate import GateFacts, Override, decide
from bounceback.api.deployments.probes import UrlHealth

NOW = datetime(2026, 1, 9, 17, 30, tzinfo=UTC)
FREEZE = ActiveFreeze("weekend", NOW - timedelta(minutes=30), NOW + timedelta(hours=60), "UTC")


def facts(**changes: Any) -> GateFacts:
    return GateFacts(target="web", environment="production", now=NOW, **changes)


def test_a_quiet_healthy_target_is_allowed_without_reasons() -> None:
    result = decide(facts(health=[UrlHealth("http://web/healthz", True, 200, 3.0, None)]))
    assert result.allowed and result.reasons == []


def test_every_blocking_reason_is_listed() -> None:
    result = decide(
        facts(
            critical_incidents=[{"id": 7, "summary": "db down", "opened_at": NOW.isoformat()}],
            open_circuits=[{"circuit": "web-1:postgres", "host": "web-1"}],
            degradation=Degradation(DegradationLevel.EMERGENCY, ("shed-load",)),
            freezes=[FREEZE],
            recent_failures=[{"id": 3, "version": "v9", "state": "failed", "finished_at": "x"}],
            health=[UrlHealth("http://web/healthz", False, 503, 2.0, "HTTP 503")],
        )
    )
    assert not result.allowed
    assert [reason.code for reason in result.reasons] == [
        GateReasonCode.CRITICAL_INCIDENT,
        GateReasonCode.OPEN_CIRCUIT,
        GateReasonCode.DEGRADED,
        GateReasonCode.FREEZE,
        GateReasonCode.RECENT_FAILURE,
        GateReasonCode.UNHEALTHY,
    ]
    assert all(reason.blocking for reason in result.reasons)
    assert "db down" in result.reasons[0].message
    assert "web-1:postgres" in result.reasons[1].message


@pytest.mark.parametrize(
    ("level", "blocks"),
    [
        (DegradationLevel.MINIMAL, False),
        (DegradationLevel.MODERATE, False),
        (DegradationLevel.SEVERE, True),
        (DegradationLevel.EMERGENCY, True),
    ],
)
def test_degradation_blocks_at_and_above_the_configured_level(
    level: DegradationLevel, blocks: bool
) -> None:
    result = decide(facts(degradation=Degradation(level), block_level=DegradationLevel.SEVERE))
    assert result.allowed is not blocks


def test_an_unknown_degradation_neither_blocks_nor_is_reported() -> None:
    assert decide(facts(degradation=None)).reasons == []


def test_an_overridden_freeze_is_reported_but_does_not_block() -> None:
    override = Override(4, "token:alice", "hotfix for the outage", NOW + timedelta(hours=1))
    result = decide(facts(freezes=[FREEZE], override=override))
    assert result.allowed
    [reason] = result.reasons
    assert reason.code is GateReasonCode.FREEZE and not reason.blocking
    assert "hotfix for the outage" in reason.message
    assert reason.details["override"]["actor"] == "token:alice"


def test_monitoring_off_is_said_but_never_blocks() -> None:
    result = decide(facts(monitoring_enabled=False))
    assert result.allowed
    [reason] = result.reasons
    assert reason.code is GateReasonCode.MONITORING_DISABLED and not reason.blocking
