"""``GET /metrics``: Prometheus' text format, the store's figures and this replica's counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bounceback.api.auth.roles import Role
from bounceback.api.clock import FakeClock
from bounceback.api.settings import HubSettings
from bounceback.api.testing import RunningHub, running_hub

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(hub: RunningHub) -> Samples:
    response = await hub.client.get("/metrics", headers=hub.auth(Role.VIEWER))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_exposition_parses_and_names_every_figure(hub: RunningHub) -> None:
    samples = await scrape(hub)
    names = {name for name, _ in samples}
    assert {
        "bounceback_incidents",
        "bounceback_incident_time_to_acknowledge_seconds_count",
        "bounceback_incident_time_to_resolve_seconds_bucket",
        "bounceback_recovery_succeeded_total",
        "bounceback_recovery_mttr_seconds",
        "bounceback_degradation_level",
        "bounceback_degradation_rank",
        "bounceback_escalations_overdue",
        "bounceback_escalation_oldest_overdue_seconds",
        "bounceback_agents",
        "bounceback_agents_silent",
    } <= names
    assert value(samples, "bounceback_incidents", state="triggered", severity="critical") == 0
    assert value(samples, "bounceback_degradation_level", level="normal") == 1
    assert value(samples, "bounceback_degradation_rank") == 0


async def test_alerts_acknowledgements_and_resolutions_move_the_figures(
    db_settings: HubSettings,
) -> None:
    clock = FakeClock()
    async with running_hub(db_settings, clock=clock) as hub:
        before = await scrape(hub)
        opened = []
        for fingerprint in ("disk", "cpu"):
            response = await hub.client.post(
                "/api/alerts",
                json={
                    "source": "t",
                    "summary": fingerprint,
                    "fingerprint": fingerprint,
                    "severity": "high",
                },
                headers=hub.key("generic"),
            )
            assert response.status_code == 202
            opened.append(response.json()["incident_id"])
        repeat = {"source": "t", "summary": "disk", "fingerprint": "disk", "severity": "high"}
        assert (
            await hub.client.post("/api/alerts", json=repeat, headers=hub.key("generic"))
        ).is_success
        await clock.advance(timedelta(seconds=90))
        operator = hub.auth(Role.OPERATOR)
        path = f"/api/incidents/{opened[0]}"
        assert (await hub.client.post(f"{path}/acknowledge", headers=operator)).is_success
        await clock.advance(timedelta(seconds=600))
        assert (await hub.client.post(f"{path}/resolve", headers=operator)).is_success
        after = await scrape(hub)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("bounceback_incidents", state="triggered", severity="high") == 1
    assert moved("bounceback_incidents", state="resolved", severity="high") == 1
    assert moved("bounceback_alerts_accepted_total", integration="generic", action="created") == 2
    assert moved("bounceback_alerts_accepted_total", integration="generic", action="updated") == 1
    ack = "bounceback_incident_time_to_acknowledge_seconds"
    assert moved(f"{ack}_count") == 1
    assert moved(f"{ack}_sum") == pytest.approx(90)
    assert moved(f"{ack}_bucket", le="60.0") == 0
    assert moved(f"{ack}_bucket", le="120.0") == 1
    resolve = "bounceback_incident_time_to_resolve_seconds"
    assert moved(f"{resolve}_count") == 1
    assert moved(f"{resolve}_sum") == pytest.approx(690)
    assert moved(f"{resolve}_bucket", le="600.0") == 0
    assert moved(f"{resolve}_bucket", le="900.0") == 1


async def test_metrics_need_a_viewer_token_unless_made_public(db_settings: HubSettings) -> None:
    async with running_hub(db_settings) as hub:
        assert (await hub.client.get("/metrics")).status_code == 401
    public = db_settings.model_copy(update={"bounceback_metrics_public": True})
    async with running_hub(public, create_credentials=False) as hub:
        response = await hub.client.get("/metrics")
        assert response.status_code == 200
        assert list(text_string_to_metric_families(response.text))


async def test_two_hubs_in_one_process_count_apart(db_settings: HubSettings) -> None:
    async with (
        running_hub(db_settings) as first,
        running_hub(db_settings, create_credentials=False) as second,
    ):
        assert first.hub.metrics.registry is not second.hub.metrics.registry
        first.hub.metrics.alert_accepted("generic", "created")
        assert first.hub.metrics.alerts_accepted.counts == {("generic", "created"): 1}
        assert second.hub.metrics.alerts_accepted.counts == {}
