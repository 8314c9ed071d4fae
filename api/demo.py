"""``bounceback-hub demo``: the hub on its embedded store, fed sample alerts through its own API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click
import httpx

from bounceback.api.auth.roles import Role
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import SystemClock
from bounceback.api.logs import configure_logging
from bounceback.api.server import HubServer, exit_cleanly_after_signals, uvicorn_config
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.store.migrate import migrate


def alertmanager_hook(
    alertname: str, instance: str, severity: str, status: str, summary: str
) -> dict[str, object]:
    labels = {"alertname": alertname, "instance": instance, "severity": severity, "job": "node"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", instance="{instance}"}}',
        "status": status,
        "receiver": "bounceback",
        "groupLabels": {"alertname": alertname, "instance": instance},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": summary},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": f"{abs(hash((alertname, instance))):016x}"[:16],
            }
        ],
    }


def pagerduty_event(routing_key: str, action: str, dedup_key: str) -> dict[str, object]:
    event: dict[str, object] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
    }
    if action == "trigger":
        event["payload"] = {
            "summary": "checkout: p99 latency above 2 s",
            "source": "checkout-api.prod",
            "severity": "error",
            "component": "checkout",
            "custom_details": {"p99_ms": 2430},
        }
    return event


async def _credentials(db: Database) -> tuple[str, str, str]:
    credentials = Credentials(db, SystemClock())
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    admin = await credentials.create_token(f"demo-admin-{stamp}", Role.ADMIN)
    am_key = await credentials.create_integration(f"demo-alertmanager-{stamp}", "alertmanager")
    pd_key = await credentials.create_integration(f"demo-pagerduty-{stamp}", "pagerduty")
    return admin, am_key, pd_key


async def send_demo_events(base_url: str, am_key: str, pd_key: str) -> list[str]:
    """Post the sample flow; return one line per step."""
    lines = []
    am_headers = {"Authorization": f"Bearer {am_key}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        steps: list[tuple[str, str, dict[str, object], dict[str, str]]] = [
            (
                "Alertmanager firing: HighMemoryUsage on web-1",
                "/api/integrations/alertmanager",
                alertmanager_hook(
                    "HighMemoryUsage",
                    "web-1:9100",
                    "critical",
                    "firing",
                    "Memory usage above 90% on web-1",
                ),
                am_headers,
            ),
            (
                "Alertmanager firing: DiskSpaceLow on db-1",
                "/api/integrations/alertmanager",
                alertmanager_hook(
                    "DiskSpaceLow", "db-1:9100", "warning", "firing", "Disk /var above 85% on db-1"
                ),
                am_headers,
            ),
            (
                "PagerDuty trigger: checkout latency",
                "/api/integrations/pagerduty/v2/enqueue",
                pagerduty_event(pd_key, "trigger", "checkout-latency"),
                {},
            ),
            (
                "PagerDuty trigger again (deduplicated)",
                "/api/integrations/pagerduty/v2/enqueue",
                pagerduty_event(pd_key, "trigger", "checkout-latency"),
                {},
            ),
            (
                "PagerDuty acknowledge",
                "/api/integrations/pagerduty/v2/enqueue",
                pagerduty_event(pd_key, "acknowledge", "checkout-latency"),
                {},
            ),
            (
                "Alertmanager resolved: DiskSpaceLow on db-1",
                "/api/integrations/alertmanager",
                alertmanager_hook(
                    "DiskSpaceLow",
                    "db-1:9100",
                    "warning",
                    "resolved",
                    "Disk /var above 85% on db-1",
                ),
                am_headers,
            ),
        ]
        for title, path, body, headers in steps:
            response = await client.post(path, json=body, headers=headers)
            answer = response.json()
            lines.append(
                f"  {title:<48} -> {response.status_code} "
                f"incident {answer.get('incident_id')} ({answer.get('action')})"
            )
    return lines


async def _run(settings: HubSettings, exit_after_demo: bool) -> None:
    db = Database(settings.sqlalchemy_url, schema=settings.bounceback_database_schema)
    await migrate(db)
    admin, am_key, pd_key = await _credentials(db)
    await db.dispose()

    server = HubServer(uvicorn_config(settings))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise SystemExit(3)
        await asyncio.sleep(0.05)
    base = f"http://{settings.bounceback_host}:{settings.bounceback_port}"
    lines = await send_demo_events(base, am_key, pd_key)
    click.echo("\nBounceback demo hub on " + base + f" (data in {settings.bounceback_data_dir})")
    click.echo("Sample events sent:")
    for line in lines:
        click.echo(line)
    click.echo(f"\nAdmin token: {admin}\n")
    click.echo(f"Dashboard: open {base}/ in a browser and sign in with the admin token.")
    click.echo("Or try the API:")
    click.echo(f"  export TOKEN={admin}")
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" {base}/api/auto-recovery/overview')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" {base}/api/incidents')
    click.echo(f'  curl -H "Authorization: Bearer $TOKEN" {base}/api/incidents/1')
    click.echo(
        f'  curl -X POST -H "Authorization: Bearer $TOKEN" {base}/api/incidents/1/acknowledge'
    )
    click.echo("\nCtrl-C stops the hub.\n")
    if exit_after_demo:
        server.should_exit = True
    await serving


def run_demo(settings: HubSettings, *, exit_after_demo: bool = False) -> None:
    configure_logging(settings.bounceback_log_format.value, "WARNING")
    exit_cleanly_after_signals()
    asyncio.run(_run(settings, exit_after_demo))
