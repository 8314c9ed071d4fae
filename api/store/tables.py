"""The hub's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

The core ones are here; ``tables_response`` holds deployments, escalation, degradation and
recovery, re-exported below so that every table is imported from this module."""

from __future__ import annotations

import sqlalchemy as sa

from bounceback.api.store.columns import BIG_ID, JSON, UtcDateTime, metadata
from bounceback.api.store.tables_response import (
    degradation_events,
    degradation_rules,
    deployment_events,
    deployment_probes,
    deployments,
    escalation_objects,
    escalations,
    freeze_overrides,
    notifications,
    recovery_actions,
    recovery_attempts,
    recovery_breaches,
    used_link_nonces,
)

# Re-exported: every table and the shared types are imported from this module.
__all__ = [
    "JSON",
    "UtcDateTime",
    "degradation_events",
    "degradation_rules",
    "deployment_events",
    "deployment_probes",
    "deployments",
    "escalation_objects",
    "escalations",
    "freeze_overrides",
    "metadata",
    "notifications",
    "recovery_actions",
    "recovery_attempts",
    "recovery_breaches",
    "used_link_nonces",
]

_BigId = BIG_ID

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(600), nullable=False),
    sa.Column("dedup_key", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("service", sa.String(255)),
    sa.Column("labels", JSON, nullable=False),
    sa.Column("integration", sa.String(200)),
    sa.Column("alert_count", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_alert_at", UtcDateTime, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("silenced_until", UtcDateTime),
    # At most one open incident per fingerprint: the deduplication rule, enforced by the store
    # so that two hub replicas receiving the same alert cannot both open an incident.
    sa.Index(
        "uq_incidents_open_fingerprint",
        "fingerprint",
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    ),
    sa.Index("ix_incidents_state_id", "state", "id"),
)

incident_events = sa.Table(
    "incident_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", JSON, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("details", JSON, nullable=False),
    sa.Index("ix_audit_log_action_id", "action", "id"),
)

scheduled_work = sa.Table(
    "scheduled_work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    # Idempotency: scheduling the same key twice keeps one row.
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(100)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Index("ix_scheduled_work_state_due_at", "state", "due_at"),
)

# Agents (hub side of the agent protocol). Identifiers the agent sends are bounded by the report
# validation in ``api/agents/validate.py``; free text is ``Text``.

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),  # the agent token's name
    sa.Column("hostname", sa.Text, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("interval_seconds", sa.Float, nullable=False),
    sa.Column("self_healing_enabled", sa.Boolean, nullable=False),  # as the agent reports it
    # An admin's choice for this host; None follows the fleet-wide switch.
    sa.Column("desired_self_healing", sa.Boolean),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("actions", JSON, nullable=False),  # declared action names
    sa.Column("last_metrics", JSON, nullable=False),
    sa.Column("last_metrics_at", UtcDateTime),
    sa.Column("last_checks", JSON, nullable=False),
    sa.Column("last_checks_at", UtcDateTime),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("reports", sa.BigInteger, nullable=False),
    sa.Column("events_lost", sa.BigInteger, nullable=False),
    sa.Column("silent_since", UtcDateTime),
    # The pending silence check: its generation (part of its work key) and due time.
    sa.Column("silence_check", sa.Integer, nullable=False),
    sa.Column("silence_due", UtcDateTime),
)

agent_events = sa.Table(
    "agent_events",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "agent_id",
        sa.String(128),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("data", JSON, nullable=False),
    # Idempotent ingestion: each (agent, seq) is stored once, whatever the agent replays.
    sa.UniqueConstraint("agent_id", "seq"),
    sa.Index("ix_agent_events_agent_id_kind_seq", "agent_id", "kind", "seq"),
)

healing_attempts = sa.Table(
    "healing_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "agent_id",
        sa.String(128),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("attempt_id", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("before", JSON, nullable=False),
    sa.Column("after", JSON, nullable=False),
    sa.Column("escalate", sa.Boolean, nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL")),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("agent_id", "attempt_id"),
    sa.Index("ix_healing_attempts_outcome_id", "outcome", "id"),
)

breakers = sa.Table(
    "breakers",
    metadata,
    sa.Column(
        "agent_id",
        sa.String(128),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("dependency", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failures", sa.BigInteger, nullable=False),
    sa.Column("successes", sa.BigInteger, nullable=False),
    sa.Column("opened_at", UtcDateTime),
    sa.Column("changed_at", UtcDateTime),  # the last transition the agent reported
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_breakers_state", "state"),
)

agent_commands = sa.Table(
    "agent_commands",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "agent_id",
        sa.String(128),
        sa.ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String(200)),
    sa.Column("params", JSON, nullable=False),
    sa.Column("issued_by", sa.String(255), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("result", sa.Text),
    sa.Index("ix_agent_commands_agent_id_state_id", "agent_id", "state", "id"),
)

# Hub-wide on/off switches set through the API (e.g. fleet-wide self-healing); a missing row
# means the configured default applies.
switches = sa.Table(
    "switches",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.Column("changed_by", sa.String(255), nullable=False),
)
