"""The report spool keeps every event until the hub acknowledges it, across restarts."""

from __future__ import annotations

from pathlib import Path

from bounceback.agent import spool as spool_module
from bounceback.agent.spool import Spool


def events(n: int) -> list[dict[str, object]]:
    return [{"kind": "sample", "at": "2026-01-01T00:00:00Z", "metrics": {"n": i}} for i in range(n)]


def test_events_are_numbered_in_order_from_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    numbered = spool.append(events(3))
    assert [event["seq"] for event in numbered] == [1, 2, 3]
    assert [event["seq"] for event in spool.pending(10)] == [1, 2, 3]


def test_acknowledged_events_are_forgotten(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(events(5))
    spool.acknowledge(3)
    assert [event["seq"] for event in spool.pending(10)] == [4, 5]
    assert spool.backlog == 2
    spool.acknowledge(5)
    assert spool.pending(10) == []
    assert list(tmp_path.glob("seg-*")) == []


def test_a_restarted_agent_keeps_its_numbers_and_unsent_events(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.append(events(4))
    first.acknowledge(2)
    again = Spool(tmp_path)
    assert [event["seq"] for event in again.pending(10)] == [3, 4]
    assert [event["seq"] for event in again.append(events(1))] == [5]


def test_numbers_never_repeat_even_when_everything_was_acknowledged(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.append(events(2))
    first.acknowledge(2)
    assert [event["seq"] for event in Spool(tmp_path).append(events(1))] == [3]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(events(2))
    segment = next(tmp_path.glob("seg-*.jsonl"))
    with segment.open("a") as out:
        out.write('{"seq": 3, "kind": "sam')
    again = Spool(tmp_path)
    assert [event["seq"] for event in again.pending(10)] == [1, 2]
    again.append(events(1))
    assert [event["seq"] for event in Spool(tmp_path).pending(10)] == [1, 2, 3]


def test_pending_is_limited_and_spans_segments(tmp_path: Path) -> None:
    spool_module.SEGMENT_EVENTS = 3
    try:
        spool = Spool(tmp_path)
        for _ in range(4):
            spool.append(events(2))
        assert len(list(tmp_path.glob("seg-*"))) >= 2
        assert [event["seq"] for event in spool.pending(5)] == [1, 2, 3, 4, 5]
        spool.acknowledge(6)
        assert [event["seq"] for event in spool.pending(10)] == [7, 8]
    finally:
        spool_module.SEGMENT_EVENTS = 500


def test_the_bound_drops_the_oldest_and_counts_the_loss(tmp_path: Path) -> None:
    spool_module.SEGMENT_EVENTS = 10
    try:
        spool = Spool(tmp_path, max_bytes=2000)
        for _ in range(20):
            spool.append(events(5))
        dropped = spool.take_dropped()
        remaining = spool.pending(1000)
        assert dropped > 0
        assert dropped + len(remaining) == 100
        assert remaining[-1]["seq"] == 100
        assert spool.take_dropped() == 0
    finally:
        spool_module.SEGMENT_EVENTS = 500
