"""Assemble the agent from its configuration: one place that wires the parts together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bounceback.agent.actions_context import ActionContext
from bounceback.agent.checks_context import CheckContext
from bounceback.agent.checks_evaluator import CheckEvaluator
from bounceback.agent.config import AgentConfig
from bounceback.agent.credentials import Credentials
from bounceback.agent.healing import Healer
from bounceback.agent.http_transport import LazyTlsTransport, SharedTls
from bounceback.agent.hub_client import HubClient
from bounceback.agent.loop import AgentLoop
from bounceback.agent.reporter import Reporter
from bounceback.agent.spool import Spool
from bounceback.agent.supervisor import Supervisor
from bounceback.agent.supervisor_events import SupervisorEvent


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    transport: httpx.AsyncBaseTransport | None = None  # tests talk to a hub in-process


def build_agent(
    config: AgentConfig, credentials: Credentials | None, options: Options = Options()
) -> AgentLoop:
    loop_ref: list[AgentLoop] = []

    def on_supervisor_event(event: SupervisorEvent) -> None:
        loop_ref[0].on_supervisor_event(event)

    supervisor = Supervisor(config.processes, on_event=on_supervisor_event)
    tls = SharedTls()  # the CA bundle is loaded once, by the first https request of either client
    client = None
    if credentials is not None:
        client = HubClient(
            credentials.hub_url,
            credentials.agent_id,
            credentials.token,
            transport=options.transport or LazyTlsTransport(tls),
        )
    # One HTTP client for every probe and action: its connection pool is built once, not every
    # cycle.
    http = httpx.AsyncClient(transport=options.transport or LazyTlsTransport(tls), timeout=10)
    evaluator = CheckEvaluator(config.checks, CheckContext(process_pid=supervisor.pid, http=http))
    healer = Healer(
        config.actions,
        config.safety,
        ActionContext(processes=supervisor, dry_run=options.dry_run, http=http),
        on_attempt=lambda attempt: loop_ref[0].on_attempt(attempt),
    )
    spool = Spool(config.agent.spool_dir, max_bytes=int(config.agent.spool_max_mb * 1024 * 1024))
    reporter = Reporter(spool, client, lambda: loop_ref[0].describe(), _now)
    loop = AgentLoop(
        config,
        evaluator=evaluator,
        healer=healer,
        reporter=reporter,
        supervisor=supervisor if config.processes else None,
        client=client,
        http=http,
    )
    loop_ref.append(loop)
    return loop


def _now() -> datetime:
    return datetime.now(UTC)
