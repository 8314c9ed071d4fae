"""Everything a request handler may use, built once per hub process and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bounceback.api.auth.store import Credentials
from bounceback.api.clock import Clock
from bounceback.api.incidents.actions import IncidentActions
from bounceback.api.incidents.ingest import IngestQueue
from bounceback.api.settings import HubSettings
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler


@dataclass
class Hub:
    settings: HubSettings
    db: Database
    clock: Clock
    credentials: Credentials
    ingest: IngestQueue
    scheduler: Scheduler
    incidents: IncidentActions
    started_at: datetime

    @classmethod
    def build(cls, settings: HubSettings, db: Database, clock: Clock) -> Hub:
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            credentials=Credentials(db, clock),
            ingest=IngestQueue(db, clock),
            scheduler=Scheduler(db, clock),
            incidents=IncidentActions(db, clock),
            started_at=clock.now(),
        )
