"""Everything a request handler may use, built once per hub process and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bounceback.api.agents import silence
from bounceback.api.agents.actions import FleetActions
from bounceback.api.agents.commands import CommandSignal
from bounceback.api.agents.delivery import CommandDelivery
from bounceback.api.agents.reports import AgentReports
from bounceback.api.auth import deployer
from bounceback.api.auth.oidc import GitHubOidcVerifier, OidcTrust
from bounceback.api.auth.ratelimit import FailureLimiter, FailurePolicy
from bounceback.api.auth.store import Credentials
from bounceback.api.clock import Clock
from bounceback.api.dashboard.changes import ChangeFeed
from bounceback.api.degradation.engine import DegradationEngine
from bounceback.api.degradation.recovery_step import RecoveryDegradation
from bounceback.api.deployments.engine import Engine
from bounceback.api.deployments.watcher import Watcher
from bounceback.api.escalation import handoff
from bounceback.api.escalation.actions import EscalationActions
from bounceback.api.escalation.directory import Directories
from bounceback.api.escalation.steps import STEP, Escalator
from bounceback.api.incidents.actions import IncidentActions
from bounceback.api.incidents.ingest import IngestQueue
from bounceback.api.metrics.events import HubMetrics
from bounceback.api.notify import registry
from bounceback.api.notify.dispatcher import Dispatcher
from bounceback.api.notify.outbox import DELIVER
from bounceback.api.notify.registry import ChannelRegistry
from bounceback.api.notify.slack import REFRESH as SLACK_REFRESH
from bounceback.api.notify.slack import SlackChannel
from bounceback.api.recovery.engine import RecoveryEngine
from bounceback.api.recovery.hubsteps import HubSteps, deployment_rollback
from bounceback.api.retention.job import RetentionJob
from bounceback.api.settings import HubSettings
from bounceback.api.signals import CHANGES, Signals
from bounceback.api.store import listen
from bounceback.api.store.db import Database
from bounceback.api.work.scheduler import Scheduler


@dataclass
class Hub:
    settings: HubSettings
    db: Database
    clock: Clock
    credentials: Credentials
    auth_failures: FailureLimiter
    ingest: IngestQueue
    scheduler: Scheduler
    incidents: IncidentActions
    agent_reports: AgentReports
    agent_commands: CommandDelivery
    fleet: FleetActions
    deployments: Engine
    oidc: GitHubOidcVerifier | None  # None: no target trusts a GitHub repository
    oidc_trusts: tuple[OidcTrust, ...]
    started_at: datetime
    directories: Directories
    channels: ChannelRegistry
    escalator: Escalator
    escalation: EscalationActions
    dispatcher: Dispatcher
    degradation: DegradationEngine
    recovery: RecoveryEngine
    retention: RetentionJob
    metrics: HubMetrics
    signals: Signals
    changes: ChangeFeed

    @classmethod
    def build(cls, settings: HubSettings, db: Database, clock: Clock) -> Hub:
        started_at = clock.now()
        # Wake-ups for every replica: LISTEN/NOTIFY on PostgreSQL, this process on SQLite.
        signals = Signals(listen.transport_for(db.url, db.schema))
        db.on_commit = lambda topics: signals.publish_many(CHANGES, topics)
        lease = timedelta(seconds=settings.bounceback_work_lease_seconds)
        scheduler = Scheduler(db, clock, lease=lease, signals=signals)
        watch = silence.SilenceWatch(clock, scheduler, started_at)
        scheduler.register_transactional(silence.KIND, watch.check)
        signal = CommandSignal(signals)
        deployments = Engine.build(settings, db, clock, scheduler)
        Watcher(deployments).register()
        degradation = DegradationEngine(settings, db, clock, scheduler)
        degradation.register()
        deployments.degradation = degradation
        deployments.wake_agents = signal.notify
        hub_steps = HubSteps(
            degradation=RecoveryDegradation(degradation),
            rollback=deployment_rollback(deployments),
        )
        recovery = RecoveryEngine(settings, db, clock, scheduler, hub_steps, signal)
        recovery.register()
        directories = Directories(settings.escalation)
        channels = registry.build(settings, db, clock)
        escalator = Escalator(settings, clock, directories, channels)
        scheduler.register_transactional(handoff.SYNC, escalator.sync)
        metrics = HubMetrics(clock)
        scheduler.register_transactional(STEP, metrics.timed_step(escalator.step))
        dispatcher = Dispatcher(db, clock, settings, directories, channels)
        scheduler.register(DELIVER, dispatcher.deliver)
        slack = channels.channels.get("slack")
        if isinstance(slack, SlackChannel):
            scheduler.register(SLACK_REFRESH, slack.refresh)
        retention = RetentionJob(settings, db, clock, scheduler, on_pruned=metrics.pruned)
        retention.register()
        changes = ChangeFeed(db, settings.bounceback_dashboard_live_seconds)
        # A change committed on any replica makes open pages look at once, not at the next poll.
        signals.on(CHANGES, lambda _topics: changes.poke())
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            credentials=Credentials(db, clock),
            auth_failures=FailureLimiter(
                FailurePolicy(
                    settings.bounceback_auth_failure_limit,
                    settings.bounceback_auth_failure_window_seconds,
                ),
                clock.now,
            ),
            ingest=IngestQueue(
                db,
                clock,
                on_handoff=scheduler.wake,
                escalates=lambda: settings.escalation_enabled and directories.has_policies,
            ),
            scheduler=scheduler,
            incidents=IncidentActions(db, clock, on_handoff=scheduler.wake),
            agent_reports=AgentReports(db, clock, settings, scheduler, recovery),
            agent_commands=CommandDelivery(db, clock, signal),
            fleet=FleetActions(db, clock, signal),
            deployments=deployments,
            oidc=deployer.verifier(settings.deployments, settings.public_url, clock.now),
            oidc_trusts=deployer.trusts(settings.deployments),
            started_at=started_at,
            directories=directories,
            channels=channels,
            escalator=escalator,
            escalation=EscalationActions(db, clock, escalator),
            dispatcher=dispatcher,
            degradation=degradation,
            recovery=recovery,
            retention=retention,
            metrics=metrics,
            signals=signals,
            changes=changes,
        )
