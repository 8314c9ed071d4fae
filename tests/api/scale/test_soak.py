"""The soak, short: 1,000 agents and a stream of incidents on two hub processes sharing one
PostgreSQL while replicas are SIGKILLed and restarted; nothing acknowledged is lost, nothing is
applied or paged twice, no escalation level is missed (bench/soak.py --quick)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="BOUNCEBACK_TEST_DATABASE_URL is not set"),
]
SOAK = Path(__file__).resolve().parents[3] / "bench" / "soak.py"


def test_replicas_killed_under_load_lose_nothing_and_repeat_nothing() -> None:
    assert PG_URL is not None
    env = {**os.environ, "BOUNCEBACK_BENCH_DATABASE_URL": PG_URL}
    done = subprocess.run(
        [sys.executable, str(SOAK), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["kills"] >= 2
    assert figures["reports_acknowledged"] == figures["reports_sent"] > 0
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["steps_due"] > 0
    assert figures["missed_steps"] == 0
    assert figures["duplicated_steps"] == 0
    assert figures["notifications_received"] > 0
    assert figures["notifications_missing"] == 0
    assert figures["duplicated_notifications"] == 0, figures["duplicated_notification_detail"]
