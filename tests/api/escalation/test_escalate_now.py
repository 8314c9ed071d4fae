"""Escalate now: the next level is paged at once, through the scheduled step, and audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from bounceback.api.auth.roles import Role
from bounceback.api.errors import Conflict, NotFound
from bounceback.api.escalation.escalate_now import escalate_now
from bounceback.api.settings import HubSettings
from bounceback.api.store.tables import audit_log, incident_events
from bounceback.api.testing import RunningHub, running_hub
from tests.api.escalation.conftest import EscalationRig, RigFactory, config

pytestmark = pytest.mark.anyio


async def now(rig: EscalationRig, incident_id: int, actor: str = "token:ops") -> str:
    level = await escalate_now(
        rig.hub.db, rig.clock, incident_id, actor, via="api", wake=rig.hub.scheduler.wake
    )
    await rig.settle()
    return level


async def audited(rig: EscalationRig) -> list[tuple[str, dict[str, Any]]]:
    async with rig.hub.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.outcome, audit_log.c.details)
            .where(audit_log.c.action == "escalation.escalate_now")
            .order_by(audit_log.c.id)
        )
        return [(row.outcome, row.details) for row in rows]


async def test_escalating_now_pages_the_next_level_and_its_timeout_counts_from_then(
    rig: EscalationRig,
) -> None:
    incident_id = await rig.alert()
    await rig.at_minute(5)
    assert await now(rig, incident_id) == "L2"
    assert rig.email.pages() == [(0, "ann"), (5, "bob")]
    await rig.at_minute(34)
    await rig.at_minute(35)  # L2's 30 minutes from minute 5, not from minute 15
    assert rig.email.pages() == [(0, "ann"), (5, "bob"), (35, "cy")]
    async with rig.hub.db.read() as conn:
        messages = list(
            await conn.scalars(
                sa.select(incident_events.c.message)
                .where(incident_events.c.incident_id == incident_id)
                .order_by(incident_events.c.id)
            )
        )
    assert "escalate now by token:ops via api: L2 is paged at once" in messages
    assert any(m.startswith("L2: paging bob") for m in messages)
    assert await audited(rig) == [("ok", {"via": "api", "level": "L2"})]


async def test_escalating_now_past_the_last_level_is_refused(rig: EscalationRig) -> None:
    incident_id = await rig.alert()
    assert [await now(rig, incident_id) for _ in range(4)] == ["L2", "L3", "L4", "L5"]
    with pytest.raises(Conflict, match=r"the last level \(L5\) was paged already"):
        await now(rig, incident_id)
    assert [p for _, p in rig.email.pages()] == ["ann", "bob", "cy", "dee", "eve"]
    assert (await audited(rig))[-1][0] == "refused"


async def test_an_acknowledged_incident_does_not_escalate(rig: EscalationRig) -> None:
    incident_id = await rig.alert()
    await rig.hub.escalation.acknowledge(incident_id, "token:ops", via="api")
    await rig.settle()
    with pytest.raises(Conflict, match="acknowledged"):
        await now(rig, incident_id)
    assert rig.email.pages() == [(0, "ann")]


async def test_a_silenced_incident_does_not_escalate(rig: EscalationRig) -> None:
    incident_id = await rig.alert()
    await rig.hub.incidents.silence(
        incident_id, "token:ops", rig.clock.now().replace(year=rig.clock.now().year + 1)
    )
    with pytest.raises(Conflict, match="silenced until"):
        await now(rig, incident_id)


async def test_an_incident_without_escalation_or_an_unknown_one_is_refused(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(escalation_enabled=False)
    incident_id = await rig.alert()
    with pytest.raises(Conflict, match="has no escalation"):
        await now(rig, incident_id)
    with pytest.raises(NotFound):
        await now(rig, 999)
    assert [outcome for outcome, _ in await audited(rig)] == ["refused", "not_found"]


@pytest.fixture
async def hub(db_settings: HubSettings) -> AsyncIterator[RunningHub]:
    settings = db_settings.model_copy(update={"escalation": config()})
    async with running_hub(settings) as running:
        yield running


async def test_the_api_escalates_for_operators_only_and_says_why_not(hub: RunningHub) -> None:
    alert = {"source": "t", "summary": "queue stuck", "severity": "critical"}
    created = await hub.client.post("/api/alerts", json=alert, headers=hub.key("generic"))
    incident_id = created.json()["incident_id"]
    path = f"/api/incidents/{incident_id}/escalate"
    for _ in range(200):  # the escalation starts in the worker
        detail = await hub.client.get(
            f"/api/incidents/{incident_id}", headers=hub.auth(Role.VIEWER)
        )
        if any(e["kind"] == "escalation_level" for e in detail.json()["timeline"]):
            break
        await hub.hub.scheduler.run_once()
    viewer = await hub.client.post(path, headers=hub.auth(Role.VIEWER))
    assert viewer.status_code == 403
    accepted = await hub.client.post(path, headers=hub.auth(Role.OPERATOR))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "active"
    await hub.client.post(
        f"/api/incidents/{incident_id}/acknowledge", headers=hub.auth(Role.OPERATOR)
    )
    refused = await hub.client.post(path, headers=hub.auth(Role.OPERATOR))
    assert refused.status_code == 409
    assert "acknowledged" in refused.json()["error"]["message"]
    missing = await hub.client.post(
        "/api/incidents/424242/escalate", headers=hub.auth(Role.OPERATOR)
    )
    assert missing.status_code == 404
