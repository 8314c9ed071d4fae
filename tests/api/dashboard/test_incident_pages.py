"""The incidents pages and the audit log page, against a real hub with an escalation policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bounceback.api.auth.roles import Role
from bounceback.api.settings import HubSettings
from bounceback.api.store.tables import recovery_attempts
from bounceback.api.testing import RunningHub, free_port, running_hub
from tests.api.dashboard.signin import csrf_of, signed_in
from tests.api.escalation.conftest import config

pytestmark = pytest.mark.anyio

ROW = re.compile(r'<tr id="incident-(\d+)">')


@pytest.fixture
async def hub(db_settings: HubSettings) -> AsyncIterator[RunningHub]:
    """People on five levels paged by email through an SMTP port nobody listens on (each
    delivery fails and is retried: the pages table shows the error)."""
    smtp = {"host": "127.0.0.1", "port": free_port(), "security": "none"}
    settings = db_settings.model_copy(update={"escalation": config(smtp=smtp)})
    async with running_hub(settings) as running:
        yield running


async def alert(hub: RunningHub, summary: str, **fields: Any) -> int:
    body = {"source": "probe", "summary": summary, "severity": "high", **fields}
    sent = await hub.client.post("/api/alerts", json=body, headers=hub.key("generic"))
    assert sent.status_code == 202, sent.text
    incident_id: int = sent.json()["incident_id"]
    return incident_id


async def timeline(hub: RunningHub, incident_id: int) -> list[dict[str, Any]]:
    found = await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    items: list[dict[str, Any]] = found.json()["timeline"]
    return items


async def until(hub: RunningHub, done: Callable[[], Awaitable[bool]]) -> None:
    """Run the hub's due work until ``done`` (the worker runs it too; this only hurries it)."""
    for _ in range(300):
        if await done():
            return
        await hub.hub.scheduler.run_once()
    raise AssertionError("never happened")


async def paged(hub: RunningHub, incident_id: int, level: str) -> None:
    async def found() -> bool:
        return any(
            e["kind"] == "escalation_level" and e["message"].startswith(f"{level}: paging")
            for e in await timeline(hub, incident_id)
        )

    await until(hub, found)


async def post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    csrf = await csrf_of(client, "/incidents")
    return await client.post(path, data={"csrf": csrf, **fields})


async def audit(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    found = await hub.client.get(
        f"/api/auto-recovery/audit?action={action}", headers=hub.auth(Role.ADMIN)
    )
    items: list[dict[str, Any]] = found.json()["items"]
    return items


async def test_the_list_shows_incidents_newest_first_with_pills_and_links(
    hub: RunningHub,
) -> None:
    first = await alert(hub, "disk full on db-1", service="db")
    second = await alert(hub, "latency over 2 s", severity="critical", service="web")
    async with signed_in(hub, Role.VIEWER) as client:
        page = await client.get("/incidents")
    assert page.status_code == 200
    assert [int(i) for i in ROW.findall(page.text)] == [second, first]
    assert f'<a href="/incidents/{first}">disk full on db-1</a>' in page.text
    assert '<span class="pill critical">critical</span>' in page.text
    assert '<span class="pill triggered">triggered</span>' in page.text
    assert 'data-live="incidents"' in page.text
    assert "content-security-policy" in page.headers


async def test_filters_narrow_the_list_and_a_bad_value_is_a_problem_line(hub: RunningHub) -> None:
    db = await alert(hub, "replica lag", service="db", source="prometheus")
    web = await alert(hub, "5xx rate", severity="critical", service="web")
    async with signed_in(hub, Role.VIEWER) as client:
        by_service = await client.get("/incidents?service=db")
        by_severity = await client.get("/incidents?severity=critical&state=triggered")
        by_source = await client.get("/incidents?source=prometheus")
        nothing = await client.get("/incidents?state=resolved")
        bad = await client.get("/incidents?state=exploded&limit=0")
    assert [int(i) for i in ROW.findall(by_service.text)] == [db]
    assert [int(i) for i in ROW.findall(by_severity.text)] == [web]
    assert [int(i) for i in ROW.findall(by_source.text)] == [db]
    assert "No incident matches these filters." in nothing.text
    assert bad.status_code == 200
    assert "unknown state &#39;exploded&#39;" in bad.text
    assert "limit must be an integer" in bad.text
    assert len(ROW.findall(bad.text)) == 2


async def test_paging_follows_the_apis_cursor_and_keeps_the_filters(hub: RunningHub) -> None:
    ids = [await alert(hub, f"queue {n} stuck", service="queue") for n in range(3)]
    await alert(hub, "not a queue", service="other")
    async with signed_in(hub, Role.VIEWER) as client:
        first = await client.get("/incidents?service=queue&limit=2")
        older = re.search(r'href="(/incidents\?[^"]+)" rel="next"', first.text)
        assert older, first.text
        second = await client.get(older.group(1).replace("&amp;", "&"))
        forged = await client.get("/incidents?cursor=bm9wZQ")
    assert [int(i) for i in ROW.findall(first.text)] == [ids[2], ids[1]]
    assert [int(i) for i in ROW.findall(second.text)] == [ids[0]]
    assert 'rel="next"' not in second.text
    assert "Newest" in second.text
    assert "not one this hub made" in forged.text


async def test_the_detail_page_tells_the_whole_story_in_time_order(hub: RunningHub) -> None:
    incident_id = await alert(hub, "orders api down", service="orders", fingerprint="orders-down")
    await paged(hub, incident_id, "L1")

    async def delivery_tried() -> bool:
        return any(e["kind"] == "notification" for e in await timeline(hub, incident_id))

    await until(hub, delivery_tried)
    now = hub.hub.clock.now()
    async with hub.hub.db.transaction() as conn:
        await conn.execute(
            recovery_attempts.insert().values(
                action_id="service-restart",
                target="orders",
                host="app-1",
                incident_id=incident_id,
                episode_started_at=now,
                try_number=1,
                state="succeeded",
                trigger="alert",
                triggered_by="recovery",
                action={},
                steps=[],
                before={},
                note="verified: error rate back under 1%",
                created_at=now + timedelta(seconds=1),
                phase_started_at=now,
                finished_at=now + timedelta(seconds=2),
            )
        )
    async with signed_in(hub, Role.VIEWER) as client:
        page = await client.get(f"/incidents/{incident_id}")
    text = page.text
    assert page.status_code == 200
    assert '<span class="pill triggered" id="incident-state">triggered</span>' in text
    detail = await hub.client.get(f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER))
    assert f"<code>{detail.json()['dedup_key']}</code>" in text
    assert "policy" in text and "Default" in text  # the escalation card
    assert "L1: paging ann" in text
    assert "page to ann by email (L1)" in text  # who was paged, and how
    assert "Connection refused" in text or "refused" in text  # the delivery's error
    assert "recovery #" in text and "service-restart on orders: succeeded" in text
    assert "verified: error rate back under 1%" in text
    order = [
        text.index(m) for m in ('class="entry triggered"', "L1: paging ann", "service-restart on")
    ]
    assert order == sorted(order)
    # A viewer sees no action buttons.
    assert "/acknowledge" not in text and "Escalate now" not in text


async def test_an_operator_acknowledges_from_the_page_and_timeline_and_audit_agree(
    hub: RunningHub,
) -> None:
    incident_id = await alert(hub, "payments timing out")
    await paged(hub, incident_id, "L1")
    path = f"/incidents/{incident_id}"
    async with signed_in(hub, Role.OPERATOR) as client:
        before = await client.get(path)
        assert f'action="{path}/acknowledge"' in before.text
        assert f'action="{path}/resolve"' in before.text
        assert "Escalate now (L2)" in before.text
        done = await post(client, f"{path}/acknowledge")
        assert done.status_code == 303
        assert done.headers["location"].startswith(f"{path}?notice=")
        after = await client.get(done.headers["location"])
    assert f"Incident {incident_id} acknowledged." in after.text
    assert '<span class="pill acknowledged" id="incident-state">' in after.text
    assert "acknowledged by token:test-operator via dashboard" in after.text
    assert f'action="{path}/acknowledge"' not in after.text  # no longer valid
    assert "Escalate now" not in after.text
    assert f'action="{path}/resolve"' in after.text
    [entry] = await audit(hub, "escalation.acknowledge")
    assert (entry["actor"], entry["target"], entry["outcome"]) == (
        "token:test-operator",
        f"incident:{incident_id}",
        "ok",
    )
    assert entry["details"] == {"via": "dashboard"}


async def test_resolving_twice_shows_the_reason_as_a_problem_line(hub: RunningHub) -> None:
    incident_id = await alert(hub, "cache evictions")
    path = f"/incidents/{incident_id}"
    async with signed_in(hub, Role.OPERATOR) as client:
        first = await post(client, f"{path}/resolve", note="flushed the cache")
        assert "notice=" in first.headers["location"]
        again = await post(client, f"{path}/resolve")
        assert again.status_code == 303
        page = await client.get(again.headers["location"])
    assert page.status_code == 200
    assert "Not done: the incident is already resolved." in page.text
    assert "flushed the cache" in page.text  # the note, on the timeline
    assert f'action="{path}/resolve"' not in page.text
    assert [e["outcome"] for e in await audit(hub, "escalation.resolve")] == ["refused", "ok"]


async def test_escalate_now_pages_the_next_level_from_the_page(hub: RunningHub) -> None:
    incident_id = await alert(hub, "search index stale")
    await paged(hub, incident_id, "L1")
    path = f"/incidents/{incident_id}"
    async with signed_in(hub, Role.OPERATOR) as client:
        done = await post(client, f"{path}/escalate")
        page = await client.get(done.headers["location"])
        assert "L2 is being paged now" in page.text
        await paged(hub, incident_id, "L2")
        later = await client.get(path)
    assert "escalate now by token:test-operator via dashboard: L2 is paged at once" in later.text
    assert "L2: paging bob" in later.text
    assert "Escalate now (L3)" in later.text
    [entry] = await audit(hub, "escalation.escalate_now")
    assert entry["details"] == {"via": "dashboard", "level": "L2"}


async def test_an_operator_publishes_a_public_note_from_the_page(hub: RunningHub) -> None:
    incident_id = await alert(hub, "db-7.internal replication lag")
    path = f"/incidents/{incident_id}"
    async with signed_in(hub, Role.OPERATOR) as client:
        assert f'action="{path}/public-note"' in (await client.get(path)).text
        empty = await post(client, f"{path}/public-note", message="  ")
        assert "problem=" in empty.headers["location"]
        done = await post(
            client,
            f"{path}/public-note",
            title="Checkout is slow",
            status="identified",
            message="Payments take longer than usual; we are on it.",
        )
        page = await client.get(done.headers["location"])
    assert "has a new public note on the status page" in page.text
    [note] = [e for e in await timeline(hub, incident_id) if e["kind"] == "public_note"]
    assert note["message"] == "Payments take longer than usual; we are on it."
    assert note["data"] == {"status": "identified", "title": "Checkout is slow"}
    assert [e["outcome"] for e in await audit(hub, "incident.public_note")] == ["ok"]
    async with signed_in(hub, Role.VIEWER) as viewer:
        assert f'action="{path}/public-note"' not in (await viewer.get(path)).text
        assert (await post(viewer, f"{path}/public-note", message="x")).status_code == 403


async def test_a_viewer_cannot_act_and_every_form_needs_the_csrf_token(hub: RunningHub) -> None:
    incident_id = await alert(hub, "certificate expires in 3 days")
    path = f"/incidents/{incident_id}/acknowledge"
    async with signed_in(hub, Role.VIEWER) as viewer:
        refused = await post(viewer, path)
        assert refused.status_code == 403
        assert "needs the operator role" in refused.text
    async with signed_in(hub, Role.OPERATOR) as operator:
        assert (await operator.post(path, data={})).status_code == 403
        assert (await operator.post(path, data={"csrf": "forged"})).status_code == 403
    assert (await hub.client.post(path, data={"csrf": "x"})).status_code == 401
    kinds = {e["kind"] for e in await timeline(hub, incident_id)}
    assert "acknowledged" not in kinds  # nothing happened
    assert await audit(hub, "escalation.acknowledge") == []


async def test_an_unknown_incident_is_a_404_page_and_acting_on_it_says_so(
    hub: RunningHub,
) -> None:
    async with signed_in(hub, Role.OPERATOR) as client:
        missing = await client.get("/incidents/424242")
        nonsense = await client.get("/incidents/abc")
        acted = await post(client, "/incidents/424242/acknowledge")
    assert missing.status_code == 404 and "No such incident" in missing.text
    assert nonsense.status_code == 404
    assert acted.status_code == 303
    assert acted.headers["location"].startswith("/incidents?problem=")


async def test_the_audit_log_is_for_admins_with_filters_links_and_paging(hub: RunningHub) -> None:
    incident_id = await alert(hub, "backup failed")
    async with signed_in(hub, Role.OPERATOR) as operator:
        assert (await operator.get("/audit")).status_code == 403
        await post(operator, f"/incidents/{incident_id}/acknowledge")
        await post(operator, f"/incidents/{incident_id}/acknowledge")  # refused
    async with signed_in(hub, Role.ADMIN) as admin:
        everything = await admin.get("/audit")
        mine = await admin.get("/audit?actor=token:test-operator&action=escalation.acknowledge")
        refused = await admin.get("/audit?outcome=refused&target=incident:" + str(incident_id))
        first = await admin.get("/audit?action=dashboard.sign_in&limit=1")
        older = re.search(r'href="(/audit\?[^"]+)" rel="next"', first.text)
        assert older, first.text
        second = await admin.get(older.group(1).replace("&amp;", "&"))
        bad = await admin.get("/audit?cursor=%21")
    assert everything.status_code == 200
    assert 'data-live="audit"' in everything.text
    assert "dashboard.<wbr>sign_in" in everything.text  # wraps at the dot on a phone
    assert mine.text.count('<tr id="audit-') == 2
    assert f'<a href="/incidents/{incident_id}">incident:{incident_id}</a>' in mine.text
    assert refused.text.count('<tr id="audit-') == 1
    assert "already acknowledged" in refused.text  # the reason, in the details
    assert first.text.count('<tr id="audit-') == second.text.count('<tr id="audit-') == 1
    assert "token:<wbr>test-admin" in first.text and "token:<wbr>test-operator" in second.text
    assert "That page link is not one this hub made" in bad.text
    assert 'href="/audit"' in everything.text  # the admin's navigation has the audit log
