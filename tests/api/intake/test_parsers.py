"""Alert parsers: the documented formats, and arbitrary input never crashes them."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bounceback.api.demo import alertmanager_hook, pagerduty_event
from bounceback.api.intake import alertmanager, generic, pagerduty
from bounceback.api.intake.event import EventAction
from bounceback.api.schema import GenericAlert, Severity

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", Severity.CRITICAL),
        ("warning", Severity.MEDIUM),
        ("", Severity.MEDIUM),
        ("INFO", Severity.INFO),
        ("error", Severity.HIGH),
        ("whatever", Severity.MEDIUM),
    ],
)
def test_alertmanager_severity_label_maps_to_ours(word: str, severity: Severity) -> None:
    assert alertmanager.severity_of({"severity": word}) == severity


def test_alertmanager_webhook_becomes_one_event_per_group() -> None:
    hook = alertmanager.AlertmanagerWebhook.model_validate(
        alertmanager_hook("DiskFull", "db-1", "critical", "firing", "Disk full on db-1")
    )
    event = alertmanager.to_event(hook, "integration:am", "am")
    assert event.action == EventAction.TRIGGER
    assert event.severity == Severity.CRITICAL
    assert event.summary == "Disk full on db-1"
    assert event.fingerprint.startswith("alertmanager:am:")
    assert event.data["alerts"][0]["labels"]["instance"] == "db-1"


def test_alertmanager_summary_falls_back_to_alert_name_and_group() -> None:
    hook = alertmanager.AlertmanagerWebhook.model_validate(
        {
            "groupKey": "k",
            "status": "firing",
            "groupLabels": {"alertname": "Down", "job": "api"},
            "alerts": [{"status": "firing"}, {"status": "resolved"}],
        }
    )
    assert alertmanager.summary_of(hook) == "Down (job=api): 1 firing"


def test_pagerduty_payload_maps_to_an_event() -> None:
    model = pagerduty.PagerDutyEvent.model_validate(pagerduty_event("k" * 32, "trigger", "d"))
    event = pagerduty.to_event(model, "integration:pd", "pd")
    assert event.severity == Severity.HIGH
    assert event.fingerprint == "pagerduty:pd:d"
    assert event.data["custom_details"] == {"p99_ms": 2430}


def test_pagerduty_routing_key_is_read_from_raw_bodies() -> None:
    assert pagerduty.routing_key_of(b'{"routing_key": "abc"}') == "abc"
    assert pagerduty.routing_key_of(b'{"routing_key": 5}') is None
    assert pagerduty.routing_key_of(b"not json") is None
    assert pagerduty.routing_key_of(b"[1]") is None


def test_generic_fingerprint_ignores_label_order() -> None:
    one = GenericAlert(source="s", summary="a", labels={"x": "1", "y": "2"})
    two = GenericAlert(source="s", summary="b", labels={"y": "2", "x": "1"})
    assert generic.default_fingerprint(one) == generic.default_fingerprint(two)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_never_crashes_the_parsers(value: Any) -> None:
    raw = json.dumps(value).encode()
    for model in (GenericAlert, alertmanager.AlertmanagerWebhook, pagerduty.PagerDutyEvent):
        with contextlib.suppress(ValidationError):
            model.model_validate_json(raw)
    pagerduty.routing_key_of(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        dict,
        groupKey=st.text(min_size=1, max_size=50),
        status=st.sampled_from(["firing", "resolved"]),
        commonLabels=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5),
        commonAnnotations=st.dictionaries(st.text(max_size=10), st.text(max_size=2000), max_size=3),
        alerts=st.lists(
            st.builds(
                dict,
                status=st.sampled_from(["firing", "resolved"]),
                labels=st.dictionaries(st.text(max_size=10), st.text(max_size=10)),
            ),
            max_size=5,
        ),
    )
)
def test_any_valid_alertmanager_webhook_becomes_a_bounded_event(hook: dict[str, Any]) -> None:
    event = alertmanager.to_event(alertmanager.AlertmanagerWebhook.model_validate(hook), "a", "am")
    assert 0 < len(event.summary) <= 1024
    assert len(event.fingerprint) <= 600
    assert len(event.dedup_key) <= 255
