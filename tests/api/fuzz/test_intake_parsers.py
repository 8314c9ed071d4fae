"""Property tests of alert intake's parsers (Bounceback's format, Alertmanager's webhook,
PagerDuty Events v2): any body is either parsed or refused with the documented 400/422 naming
the field; a parsed alert always becomes an event that fits the incident's columns; valid
alerts survive a trip through JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.requests import Request
from starlette.types import Message

from bounceback.api.errors import ApiError, BadRequest, Invalid
from bounceback.api.intake import alertmanager, generic, pagerduty
from bounceback.api.intake.event import AlertEvent
from bounceback.api.routes.body import parse_json
from bounceback.api.schema import AlertStatus, GenericAlert, Severity
from bounceback.api.store.tables import incidents

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True)
ToEvent = Callable[[Any, str, str | None], AlertEvent]
PARSERS: list[tuple[type[BaseModel], ToEvent]] = [
    (GenericAlert, generic.to_event),
    (alertmanager.AlertmanagerWebhook, alertmanager.to_event),
    (pagerduty.PagerDutyEvent, pagerduty.to_event),
]
IDS = ["generic", "alertmanager", "pagerduty"]

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
texts = st.text(max_size=40)
# Label values have no length limit: some longer than the incident's 255-character columns.
values = st.text(max_size=20) | st.text(min_size=256, max_size=300)
labels = st.dictionaries(texts, values, max_size=5)


def parse(model: type[BaseModel], raw: bytes) -> BaseModel | ApiError:
    """What the route's ``parse_json`` makes of ``raw``: a model, or the error it answers."""

    async def receive() -> Message:
        return {"type": "http.request", "body": raw, "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    try:
        return asyncio.run(parse_json(request, model))
    except ApiError as exc:
        return exc


def near_valid(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """A valid document with one key set to anything (or dropped)."""

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        document = draw(valid)
        key = draw(st.sampled_from(sorted(document)) | texts)
        if draw(st.booleans()):
            document.pop(key, None)
        else:
            document[key] = draw(json_values)
        return json.dumps(document).encode()

    return mutated()


def generic_alerts() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"source": st.text(min_size=1, max_size=255), "summary": st.text(min_size=1)},
        optional={
            "severity": st.sampled_from([s.value for s in Severity]),
            "status": st.sampled_from([s.value for s in AlertStatus]),
            "labels": labels,
            "service": st.none() | st.text(max_size=255),
            "fingerprint": st.none() | st.text(min_size=1, max_size=255),
            "details": st.dictionaries(texts, json_values, max_size=4),
        },
    )


def alertmanager_hooks() -> st.SearchStrategy[dict[str, Any]]:
    status = st.sampled_from([s.value for s in AlertStatus])
    alert = st.fixed_dictionaries(
        {"status": status},
        optional={
            "labels": labels,
            "annotations": labels,
            "startsAt": st.none() | texts,
            "fingerprint": st.none() | texts,
        },
    )
    return st.fixed_dictionaries(
        {"groupKey": st.text(min_size=1, max_size=4096), "status": status},
        optional={
            "version": texts,
            "receiver": texts,
            "groupLabels": labels,
            "commonLabels": labels,
            "commonAnnotations": labels,
            "externalURL": texts,
            "truncatedAlerts": st.integers(),
            "alerts": st.lists(alert, max_size=4),
        },
    )


@st.composite
def pagerduty_events(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(["trigger", "acknowledge", "resolve"]))
    event: dict[str, Any] = {"event_action": action}
    if action != "trigger" or draw(st.booleans()):
        event["dedup_key"] = draw(st.text(min_size=1, max_size=255))
    if action == "trigger" or draw(st.booleans()):
        event["payload"] = draw(
            st.fixed_dictionaries(
                {
                    "summary": st.text(min_size=1, max_size=1024),
                    "source": st.text(min_size=1, max_size=255),
                    "severity": st.sampled_from(["critical", "error", "warning", "info"]),
                },
                optional={
                    "component": st.none() | values,
                    "group": st.none() | texts,
                    "class": st.none() | texts,
                    "custom_details": json_values,
                },
            )
        )
    if draw(st.booleans()):
        event["routing_key"] = draw(st.text(max_size=64))
    return event


VALID: dict[type[BaseModel], st.SearchStrategy[dict[str, Any]]] = {
    GenericAlert: generic_alerts(),
    alertmanager.AlertmanagerWebhook: alertmanager_hooks(),
    pagerduty.PagerDutyEvent: pagerduty_events(),
}


def bodies(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda value: json.dumps(value).encode()),
        near_valid(VALID[model]),
        st.integers(1, 3000).map(lambda depth: b"[" * depth),  # deeper than Python recurses
    )


def fits_the_incident(event: AlertEvent) -> None:
    for name in ("fingerprint", "dedup_key", "source", "service", "integration"):
        value = getattr(event, name)
        length = getattr(incidents.c[name].type, "length", None)
        assert value is None or length is None or len(value) <= length, (name, len(value))


@pytest.mark.parametrize(("model", "to_event"), PARSERS, ids=IDS)
def test_any_body_is_parsed_or_refused_naming_the_field(
    model: type[BaseModel], to_event: ToEvent
) -> None:
    @EXAMPLES
    @given(raw=bodies(model))
    def check(raw: bytes) -> None:
        result = parse(model, raw)
        if isinstance(result, ApiError):
            assert isinstance(result, BadRequest | Invalid), result
            details = result.details or [{"field": "body"}]
            assert all(detail["field"] for detail in details)
            if isinstance(result, Invalid):
                assert f"'{details[0]['field']}'" in result.message
            return
        fits_the_incident(to_event(result, "token:fuzz", "fuzz-integration"))

    check()


@pytest.mark.parametrize(("model", "to_event"), PARSERS, ids=IDS)
def test_a_valid_alert_survives_json_and_becomes_an_event_that_fits(
    model: type[BaseModel], to_event: ToEvent
) -> None:
    @EXAMPLES
    @given(document=VALID[model])
    def check(document: dict[str, Any]) -> None:
        parsed = parse(model, json.dumps(document).encode())
        assert isinstance(parsed, model), parsed
        again = parse(model, parsed.model_dump_json(by_alias=True).encode())
        assert again == parsed
        fits_the_incident(to_event(parsed, "token:fuzz", None))

    check()


@EXAMPLES
@given(raw=bodies(pagerduty.PagerDutyEvent))
def test_the_pagerduty_routing_key_is_read_from_any_body_without_raising(raw: bytes) -> None:
    key = pagerduty.routing_key_of(raw)
    assert key is None or (isinstance(key, str) and key)
