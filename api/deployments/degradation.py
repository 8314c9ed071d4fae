"""The gate's seam to graceful degradation.

The hub has no degradation store yet (the degradation engine is still to come). The gate asks a
``DegradationSource`` for the target's current level; ``NoDegradation`` answers "unknown", and
the gate then neither blocks nor claims the target is healthy: it says nothing about
degradation. When the degradation engine lands, it provides a source reading its own store and
``Engine.degradation`` is set to it; nothing else in the gate changes.
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
