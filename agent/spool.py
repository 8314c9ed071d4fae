"""The report spool: every event is written to disk before it is sent, and deleted only once the
hub has acknowledged it, so nothing is lost across hub outages or agent restarts.

Events live in append-only JSON-lines segments named by their first sequence number; the highest
acknowledged sequence number is kept in ``acked``. The spool is bounded: past ``max_bytes`` the
oldest segments are dropped and the number of lost events is counted, for the agent to report
(never a silent loss).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEGMENT_EVENTS = 500


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int = 50_000_000) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.acked = self._read_int("acked")
        self.dropped = 0  # lost to the bound since the last take_dropped()
        self._repair_torn_tail()
        highest = max((seq for seq, _ in self._scan_last()), default=0)
        self.next_seq = max(self._read_int("next_seq"), highest + 1, self.acked + 1, 1)

    def _repair_torn_tail(self) -> None:
        """Cut a half-written last line (a crash mid-append) so new events start clean."""
        segments = self._segments()
        if not segments:
            return
        data = segments[-1].read_bytes()
        if data and not data.endswith(b"\n"):
            with segments[-1].open("r+b") as out:
                out.truncate(data.rfind(b"\n") + 1)

    def _read_int(self, name: str) -> int:
        try:
            return int((self.directory / name).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _write_int(self, name: str, value: int) -> None:
        temporary = self.directory / f".{name}.tmp"
        temporary.write_text(str(value))
        os.replace(temporary, self.directory / name)

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob("seg-*.jsonl"), key=lambda p: int(p.stem[4:]))

    def _scan_last(self) -> Iterator[tuple[int, dict[str, Any]]]:
        segments = self._segments()
        if segments:
            yield from self._read(segments[-1])

    @staticmethod
    def _count(segment: Path) -> int:
        with segment.open("rb") as lines:
            return sum(1 for _ in lines)

    @staticmethod
    def _read(segment: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        with segment.open(encoding="utf-8") as lines:
            content = lines.readlines()
        for line in content:
            if not line.endswith("\n"):
                return  # a torn last line from a crash mid-write: never acknowledged
            event = json.loads(line)
            yield int(event["seq"]), event

    def append(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Number the events, make them durable, and return them with their ``seq``."""
        numbered = []
        for event in events:
            numbered.append({**event, "seq": self.next_seq})
            self.next_seq += 1
        if not numbered:
            return numbered
        segments = self._segments()
        current = segments[-1] if segments else None
        if current is None or self._count(current) >= SEGMENT_EVENTS:
            current = self.directory / f"seg-{numbered[0]['seq']}.jsonl"
        with current.open("a", encoding="utf-8") as out:
            for event in numbered:
                out.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self._write_int("next_seq", self.next_seq)
        self._enforce_bound()
        return numbered

    def _enforce_bound(self) -> None:
        segments = self._segments()
        total = sum(segment.stat().st_size for segment in segments)
        while total > self.max_bytes and len(segments) > 1:
            oldest = segments.pop(0)
            lost = sum(1 for seq, _ in self._read(oldest) if seq > self.acked)
            total -= oldest.stat().st_size
            oldest.unlink()
            self.dropped += lost

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    def pending(self, limit: int) -> list[dict[str, Any]]:
        """The oldest unacknowledged events, in order."""
        found: list[dict[str, Any]] = []
        for segment in self._segments():
            for seq, event in self._read(segment):
                if seq > self.acked:
                    found.append(event)
                    if len(found) >= limit:
                        return found
        return found

    def acknowledge(self, last_seq: int) -> None:
        """The hub holds everything up to ``last_seq``: forget it."""
        if last_seq <= self.acked:
            return
        self.acked = last_seq
        self._write_int("acked", last_seq)
        segments = self._segments()
        for index, segment in enumerate(segments):
            if self._last_seq(segments, index) <= last_seq:
                segment.unlink()

    def _last_seq(self, segments: list[Path], index: int) -> int:
        if index + 1 < len(segments):
            # Segments are contiguous: this one ends just before the next one starts.
            return int(segments[index + 1].stem[4:]) - 1
        return max((seq for seq, _ in self._read(segments[index])), default=0)

    @property
    def backlog(self) -> int:
        return max(0, self.next_seq - 1 - self.acked)
