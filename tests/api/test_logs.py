"""Logs as text or JSON lines, each line about a request carrying its request id."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from bounceback.api.logs import JsonFormatter, request_id_var
from bounceback.api.settings import HubSettings
from bounceback.api.testing import free_port, start_hub_process


def test_json_lines_carry_the_request_id_and_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "bounceback.test",
            "levelname": "INFO",
            "msg": "hello %s",
            "args": ("world",),
            "incident_id": 7,
        }
    )
    token = request_id_var.set("req-42")
    try:
        record.request_id = request_id_var.get()
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello world"
    assert line["request_id"] == "req-42"
    assert line["incident_id"] == 7
    assert line["level"] == "INFO"


@pytest.mark.anyio
async def test_a_json_logging_hub_logs_each_request_with_its_id(
    sqlite_settings: HubSettings, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "hub.log"
    process = await start_hub_process(
        sqlite_settings, port, log, BOUNCEBACK_LOG_FORMAT="json", BOUNCEBACK_ACCESS_LOG="true"
    )
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"http://127.0.0.1:{port}/api/incidents", headers={"X-Request-ID": "trace-me"}
            )
        assert response.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()
    access = [line for line in lines if line["logger"] == "bounceback.access"]
    assert any(
        line["request_id"] == "trace-me" and "/api/incidents 401" in line["message"]
        for line in access
    )
    assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
