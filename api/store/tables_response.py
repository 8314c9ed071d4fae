"""Tables of incident response: deployments, escalation and notifications, degradation,
recovery. Re-exported by ``tables``."""

from __future__ import annotations

import sqlalchemy as sa

from bounceback.api.store.columns import BIG_ID, JSON, UtcDateTime, metadata

_BigId = BIG_ID

# Deployments (the guard and the watch). States are the wire's DeploymentState values.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(64), nullable=False),
    sa.Column("version", sa.String(255), nullable=False),
    sa.Column("previous_version", sa.String(255)),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("rolls_back", sa.Integer),
    sa.Column("rolled_back_by", sa.Integer),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("monitored", sa.Boolean, nullable=False),  # DEPLOYMENT_MONITORING_ENABLED at track
    sa.Column("repository", sa.String(255)),
    sa.Column("github_deployment_id", sa.BigInteger),
    sa.Column("run_url", sa.Text),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("deployed_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("stabilization_minutes", sa.Float, nullable=False),
    sa.Column("monitoring_minutes", sa.Float, nullable=False),
    sa.Column("health_urls", JSON, nullable=False),
    sa.Column("hosts", JSON, nullable=False),
    sa.Column("thresholds", JSON, nullable=False),
    sa.Column("rollback_requested", sa.Boolean, nullable=False),
    sa.Column("rollback_reason", sa.Text),
    sa.Column("rollback_requested_by", sa.String(200)),
    sa.Column("verdict", JSON),  # the latest, as the wire's Verdict
    sa.Column("baseline", JSON, nullable=False),  # per metric: n and summary value
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL")),
    sa.Index("ix_deployments_target_environment_id", "target", "environment", "id"),
    sa.Index("ix_deployments_state_id", "state", "id"),
)

# The hub's own health probes of a deployment's health URLs, one row per request.
deployment_probes = sa.Table(
    "deployment_probes",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("round", sa.Integer, nullable=False),  # probe round; 0 is the baseline burst
    sa.Column("url_index", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),  # request number within the round
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("latency_ms", sa.Float),
    sa.Column("error", sa.Text),
    # A retried probe round (its owner died mid-way) stores each request once.
    sa.UniqueConstraint("deployment_id", "round", "url_index", "n"),
    sa.Index("ix_deployment_probes_deployment_id_at", "deployment_id", "at"),
)

deployment_events = sa.Table(
    "deployment_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "deployment_id",
        sa.Integer,
        sa.ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", JSON, nullable=False),
)

freeze_overrides = sa.Table(
    "freeze_overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("environment", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("until", UtcDateTime, nullable=False),
    sa.Index("ix_freeze_overrides_target_environment_until", "target", "environment", "until"),
)

# Escalation (api/escalation, api/notify, api/oncall). One escalation per incident, following
# the snapshot of its policy taken when it started.
escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("policy_id", sa.String(64), nullable=False),
    sa.Column("snapshot", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),  # the next step's number (part of its key)
    sa.Column("next_step_at", UtcDateTime),
    sa.Column("level", sa.Integer),  # the last level paged
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("acknowledged_via", sa.String(32)),
    sa.Column("ended_at", UtcDateTime),
    sa.Index("ix_escalations_status_next_step_at", "status", "next_step_at"),
)

# The notification outbox: written with the decision that caused it, delivered by scheduled work.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE")),
    sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("fallbacks", JSON, nullable=False),  # the channels left to try, in order
    sa.Column("level", sa.String(50)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("answer", sa.Text),  # the provider's last answer
    sa.Index("ix_notifications_incident_id_purpose", "incident_id", "purpose"),
)

# People, teams, schedules and policies created through the API (hub.toml's are provisioned).
escalation_objects = sa.Table(
    "escalation_objects",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("document", JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

# Signed acknowledge/resolve links are single use: the nonces used, kept until they expire.
used_link_nonces = sa.Table(
    "used_link_nonces",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("used_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# Graceful degradation: each configured rule's state (rules themselves live in hub.toml) and the
# history of its changes.
degradation_rules = sa.Table(
    "degradation_rules",
    metadata,
    sa.Column("rule_id", sa.String(64), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("mode", sa.String(16)),  # auto | manual while active
    sa.Column("since", UtcDateTime),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("clear_since", UtcDateTime),  # conditions clear since: the hold period runs
    sa.Column("suppressed", sa.Boolean, nullable=False),  # reverted by hand while met
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

degradation_events = sa.Table(
    "degradation_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule_id", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_degradation_events_rule_id_at", "rule_id", "at"),
)

# Recovery actions created through the API (hub.toml's are in the configuration).
recovery_actions = sa.Table(
    "recovery_actions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("document", JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

# One row per try of a recovery action on a target; an episode is its tries (same episode_id).
recovery_attempts = sa.Table(
    "recovery_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("action_id", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column(
        "incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    ),
    sa.Column("episode_id", sa.Integer),
    sa.Column("episode_started_at", UtcDateTime, nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("triggered_by", sa.String(200), nullable=False),
    sa.Column("action", JSON, nullable=False),  # the action as it was when the try began
    sa.Column("steps", JSON, nullable=False),  # each issued step and its outcome
    sa.Column("before", JSON, nullable=False),
    sa.Column("after", JSON),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("phase_started_at", UtcDateTime, nullable=False),
    sa.Column("step_deadline", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    # One open attempt per (action, target): two replicas cannot both start one.
    sa.Index(
        "uq_recovery_attempts_open_pair",
        "action_id",
        "target",
        unique=True,
        sqlite_where=sa.text("state IN ('pending', 'running', 'verifying')"),
        postgresql_where=sa.text("state IN ('pending', 'running', 'verifying')"),
    ),
    sa.Index("ix_recovery_attempts_state", "state"),
    sa.Index("ix_recovery_attempts_target_created_at", "target", "created_at"),
    sa.Index("ix_recovery_attempts_finished_at", "finished_at"),
)

# Metric thresholds being held, per (action, host): when the breach began.
recovery_breaches = sa.Table(
    "recovery_breaches",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("since", UtcDateTime, nullable=False),
)
