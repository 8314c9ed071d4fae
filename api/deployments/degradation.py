"""The gate's seam to graceful degradation.

The gate asks a ``DegradationSource`` for the target's current level. In the hub that is the
degradation engine (``api/degradation/engine.py``, set as ``Engine.degradation`` when the hub is
built): the highest level of the active rules for the target's service or the whole fleet, and
normal while degradation is disabled. ``NoDegradation`` answers "unknown" (the gate then neither
blocks nor claims the target is healthy) and ``FixedDegradation`` gives fixed answers, for tests
of the gate on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bounceback.api.deployments.config import DegradationLevel


@dataclass(frozen=True)
class Degradation:
    level: DegradationLevel
    rules: tuple[str, ...] = ()  # the active rules that put it there


class DegradationSource(Protocol):
    async def current(self, conn: AsyncConnection, target: str) -> Degradation | None:
        """The target's degradation now; None when unknown."""
        ...


class NoDegradation:
    async def current(self, conn: AsyncConnection, target: str) -> Degradation | None:
        return None


@dataclass(frozen=True)
class FixedDegradation:
    """A source with fixed answers per target (tests, and a stand-in until the engine exists)."""

    levels: dict[str, Degradation]

    async def current(self, conn: AsyncConnection, target: str) -> Degradation | None:
        return self.levels.get(target)
