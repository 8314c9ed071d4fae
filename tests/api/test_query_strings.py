"""Query strings on both stores: a bad or unknown parameter is a 422 naming it, never a 500
(a NUL cannot even be sent to PostgreSQL; a cursor or a time out of range overflowed the
store's types), and the dashboard's filter forms drop what no one can type."""

from __future__ import annotations

import base64

import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.testing import RunningHub
from tests.api.dashboard.signin import signed_in

pytestmark = pytest.mark.anyio


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


AR = "/api/auto-recovery"
REFUSED = [
    ("/api/incidents", "service=%00", "service"),
    ("/api/incidents", "source=" + "x" * 601, "source"),
    ("/api/incidents", "integration=a%01b", "integration"),
    ("/api/incidents", "sevrity=critical", "sevrity"),  # misspelt: not silently ignored
    ("/api/incidents", "cursor=" + cursor("id:99999999999999999999"), "cursor"),
    ("/api/incidents", "cursor=" + cursor("id:-5"), "cursor"),
    (f"{AR}/audit", "actor=%00", "actor"),
    (f"{AR}/audit", "since=0001-01-01T00:00:00%2B01:00", "since"),
    (f"{AR}/audit", "until=9999-12-31T23:59:59-05:00", "until"),
    (f"{AR}/audit", "cursor=" + cursor("id:99999999999999999999"), "cursor"),
    (f"{AR}/history", "trigger=%00", "trigger"),
    (f"{AR}/active", "action=%7F", "action"),
    (f"{AR}/self-healing/history", "action=%00", "action"),
    (f"{AR}/self-healing/history", "since=9999-12-31T23:59:59-05:00", "since"),
    (f"{AR}/circuit-breaker/circuits", "kind=%00", "kind"),
    (f"{AR}/deployment/history", "environment=%00", "environment"),
    (f"{AR}/deployment/active", "target=web", "target"),  # history filters, not active's
    (f"{AR}/stats", "window=7d&windows=1d", "windows"),
]


@pytest.mark.parametrize(("path", "query", "field"), REFUSED)
async def test_a_bad_or_unknown_query_parameter_is_a_422_naming_it(
    hub: RunningHub, path: str, query: str, field: str
) -> None:
    answer = await hub.client.get(f"{path}?{query}", headers=hub.auth(Role.ADMIN))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in [detail["field"] for detail in error["details"]]


async def test_known_filters_still_filter_and_empty_ones_mean_no_filter(hub: RunningHub) -> None:
    alert = {"summary": "disk full", "severity": "high", "source": "probe", "service": "api"}
    sent = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    assert sent.status_code == 202, sent.text
    admin = hub.auth(Role.ADMIN)
    found = await hub.client.get("/api/incidents?service=api&state=&limit=10", headers=admin)
    assert found.status_code == 200
    assert [i["service"] for i in found.json()["items"]] == ["api"]
    other = await hub.client.get("/api/incidents?service=web", headers=admin)
    assert other.json()["items"] == []
    since = await hub.client.get(f"{AR}/audit?since=2000-01-01T00:00:00Z", headers=admin)
    assert since.status_code == 200 and since.json()["items"]


@pytest.mark.parametrize("page", ["/incidents", "/audit", "/deployments", "/recovery"])
async def test_the_dashboards_filter_forms_drop_control_characters(
    hub: RunningHub, page: str
) -> None:
    async with signed_in(hub, Role.ADMIN) as browser:
        answer = await browser.get(f"{page}?service=%00&actor=a%00b&target=%00x&action=%01")
        assert answer.status_code == 200, answer.text[:500]
