"""Retention's pure decisions: the cut-offs, and the expired run of an oldest-first batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bounceback.api.retention.policy import RetentionPolicy, cutoffs, expired_prefix
from bounceback.api.settings import HubSettings
from bounceback.api.work.policy import next_boundary

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_each_kind_is_cut_off_its_own_number_of_days_back() -> None:
    limits = cutoffs(RetentionPolicy(agent_events_days=14, audit_days=365, work_days=7), NOW)
    assert limits.agent_events == NOW - timedelta(days=14)
    assert limits.audit == NOW - timedelta(days=365)
    assert limits.work == NOW - timedelta(days=7)
    assert not limits.nothing


def test_zero_days_keeps_a_kind_for_ever() -> None:
    limits = cutoffs(RetentionPolicy(agent_events_days=0, audit_days=30, work_days=0), NOW)
    assert limits.agent_events is None and limits.work is None
    assert limits.audit == NOW - timedelta(days=30)
    assert cutoffs(RetentionPolicy(0, 0, 0), NOW).nothing


def test_the_defaults_keep_agent_events_two_weeks_audit_a_year_and_finished_work_a_week() -> None:
    policy = RetentionPolicy.from_settings(HubSettings())
    assert policy == RetentionPolicy(agent_events_days=14, audit_days=365, work_days=7)


@pytest.mark.parametrize("days", [0.5, -1, 40000])
def test_a_retention_under_a_day_or_negative_or_absurd_is_refused_naming_the_key(
    days: float,
) -> None:
    with pytest.raises(ValidationError) as refused:
        HubSettings(bounceback_retention_audit_days=days)
    assert "bounceback_retention_audit_days" in str(refused.value)


def test_the_expired_run_ends_at_the_first_row_newer_than_the_cutoff() -> None:
    old, new = NOW - timedelta(days=20), NOW - timedelta(days=1)
    rows = [(1, old), (2, old), (3, new), (4, old)]  # 4: numbered out of order, waits
    found = expired_prefix(rows, NOW - timedelta(days=14), batch=4)
    assert (found.last_id, found.count, found.more) == (2, 2, False)


def test_a_full_batch_of_expired_rows_asks_for_another() -> None:
    old = NOW - timedelta(days=20)
    rows = [(i, old) for i in range(1, 5)]
    assert expired_prefix(rows, NOW, batch=4).more
    assert not expired_prefix(rows, NOW, batch=5).more  # a short batch was the end
    assert expired_prefix([], NOW, batch=4).last_id is None


def test_periodic_runs_fall_on_interval_boundaries_strictly_after_now() -> None:
    assert next_boundary(NOW, 3600) == NOW + timedelta(hours=1)
    assert next_boundary(NOW + timedelta(seconds=1), 3600) == NOW + timedelta(hours=1)
