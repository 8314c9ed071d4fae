"""Every operation of the hub's /openapi.json, fuzzed by schemathesis against a real hub: no
answer is a 5xx, and every answer (status, content type, body, headers) is one the document
describes. Schema-valid and schema-invalid requests alike; invalid ones must get a 4xx.

Run it alone with ``.venv/bin/pytest -q tests/api/fuzz/test_schemathesis.py``."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bounceback.api.app import ROUTES
from bounceback.api.auth.roles import Role
from bounceback.api.openapi import openapi_path, operations
from bounceback.api.testing import RunningHub

EXAMPLES = 100
SLACK_SECRET = "fuzz-slack-signing-secret"
TWILIO_TOKEN = "fuzz-twilio-auth-token"
OPERATIONS = [(method, openapi_path(path), route) for method, path, route in operations(ROUTES)]
# Left out: "schema-valid data must be accepted". JSON Schema cannot say what pydantic's
# cross-field rules and the store say (exactly one of until/duration, a team's members must
# exist, the body's id must be the path's), so a valid-looking request may rightly get a 4xx.
EXCLUDED_CHECKS: list[schemathesis.CheckFunction] = [positive_data_acceptance]
# And, for GETs that take a query string, "schema-violating data must be rejected": the
# generator's invalid query parameters can lose what made them invalid on the way to the wire
# (requests leaves out a parameter whose value is an empty list, and the shrunk example keeps
# the verdict of the one it came from), so valid requests were reported as accepted invalid
# ones. No 5xx and documented answers are still checked on them; the rejections themselves are
# checked one by one in tests/api/test_query_strings.py.
QUERY_GET_EXCLUDED = [*EXCLUDED_CHECKS, negative_data_rejection]


class SlackSignature(requests.auth.AuthBase):
    """Signs the request as Slack does (v0, over the exact body), at the hub's clock."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        stamp = str(int(self._now().timestamp()))
        digest = hmac.new(SLACK_SECRET.encode(), b"v0:%s:%s" % (stamp.encode(), raw), "sha256")
        request.headers["X-Slack-Request-Timestamp"] = stamp
        request.headers["X-Slack-Signature"] = f"v0={digest.hexdigest()}"
        return request


class TwilioSignature(requests.auth.AuthBase):
    """Signs the request as Twilio does: over the URL the hub believes it has, and the form."""

    def __init__(self, public_url: str) -> None:
        self._public_url = public_url

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        url = self._public_url + (request.path_url or "/")
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        request.headers["X-Twilio-Signature"] = signature
        return request


@pytest.fixture(scope="module")
def hub_settings_extra() -> dict[str, Any]:
    # Failed-authentication limiting off: schemathesis sends refused credentials on purpose
    # (and checks each is a 401); with the limit on, the client would soon only get 429s.
    return {
        "slack_signing_secret": SLACK_SECRET,
        "twilio_auth_token": TWILIO_TOKEN,
        "bounceback_auth_failure_limit": 0,
        "bounceback_access_log": False,
    }


@pytest.fixture(scope="module")
def api_schema(fuzzed_hub: RunningHub) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_hub.url}/openapi.json")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


def credentials(
    hub: RunningHub, path: str, route: Route
) -> tuple[dict[str, str], requests.auth.AuthBase | None]:
    """Headers and request signer: an integration key of its kind for alert intake, the
    provider's signature for Slack and Twilio, an admin token everywhere else."""
    kind = getattr(route.endpoint, "intake_kind", None)
    if kind is not None:
        return hub.key(kind), None
    if path.startswith("/api/integrations/slack/"):
        return {}, SlackSignature(hub.hub.clock.now)
    if path.startswith("/api/integrations/twilio/"):
        return {}, TwilioSignature(hub.hub.settings.public_url)
    return hub.auth(Role.ADMIN), None


def as_sent(case: schemathesis.Case[Any]) -> None:
    """The query as it goes on the wire. A parameter whose value is an empty list or object
    would vanish from the URL (requests leaves it out), leaving a valid request that the
    generator still counts as one with an unknown parameter: it is sent empty instead. A valid
    long-poll ``wait`` (up to 30 s on the hub's real clock) becomes 0, the same answer at once."""
    query = case.query or {}
    for name, value in list(query.items()):
        if value in ([], {}):
            query[name] = ""
    raw = query.get("wait")
    try:
        valid = isinstance(raw, (int, float, str)) and 0 <= float(raw) <= 30
    except ValueError:
        valid = False
    if valid:
        query["wait"] = 0


@pytest.mark.parametrize(
    ("method", "path", "route"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_operation_answers_as_documented(
    method: str,
    path: str,
    route: Route,
    api_schema: schemathesis.BaseSchema,
    fuzzed_hub: RunningHub,
    session: requests.Session,
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    headers, signer = credentials(fuzzed_hub, path, route)
    takes_query = any(
        p.get("in") == "query" for p in operation.definition.raw.get("parameters", [])
    )
    excluded = QUERY_GET_EXCLUDED if method == "GET" and takes_query else EXCLUDED_CHECKS

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same examples on every run: CI is repeatable
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: schemathesis.Case[Any]) -> None:
        as_sent(case)
        case.call_and_validate(
            session=session, headers=headers, auth=signer, excluded_checks=excluded
        )

    fuzz()
