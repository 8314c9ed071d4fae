"""agents: reports, healing attempts, breakers, commands, switches

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _agent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agent_id"], ["agents.id"], name=op.f(f"fk_{table}_agent_id_agents"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("self_healing_enabled", sa.Boolean(), nullable=False),
        sa.Column("desired_self_healing", sa.Boolean(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("actions", _json(), nullable=False),
        sa.Column("last_metrics", _json(), nullable=False),
        sa.Column("last_metrics_at", _time(), nullable=True),
        sa.Column("last_checks", _json(), nullable=False),
        sa.Column("last_checks_at", _time(), nullable=True),
        sa.Column("first_seen", _time(), nullable=False),
        sa.Column("last_seen", _time(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("reports", sa.BigInteger(), nullable=False),
        sa.Column("events_lost", sa.BigInteger(), nullable=False),
        sa.Column("silent_since", _time(), nullable=True),
        sa.Column("silence_check", sa.Integer(), nullable=False),
        sa.Column("silence_due", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
    )
    op.create_table(
        "switches",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", _time(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_switches")),
    )
    op.create_table(
        "agent_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("issued_by", sa.String(length=255), nullable=False),
        sa.Column("issued_at", _time(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("delivered_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        _agent_fk("agent_commands"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_commands")),
    )
    with op.batch_alter_table("agent_commands", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_commands_agent_id_state_id", ["agent_id", "state", "id"], unique=False
        )

    op.create_table(
        "agent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        _agent_fk("agent_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
        sa.UniqueConstraint("agent_id", "seq", name=op.f("uq_agent_events_agent_id_seq")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_events_agent_id_kind_seq", ["agent_id", "kind", "seq"], unique=False
        )

    op.create_table(
        "breakers",
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("dependency", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", _time(), nullable=True),
        sa.Column("changed_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        _agent_fk("breakers"),
        sa.PrimaryKeyConstraint("agent_id", "dependency", name=op.f("pk_breakers")),
    )
    with op.batch_alter_table("breakers", schema=None) as batch_op:
        batch_op.create_index("ix_breakers_state", ["state"], unique=False)

    op.create_table(
        "healing_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("attempt_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("before", _json(), nullable=False),
        sa.Column("after", _json(), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        _agent_fk("healing_attempts"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_healing_attempts_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_healing_attempts")),
        sa.UniqueConstraint(
            "agent_id", "attempt_id", name=op.f("uq_healing_attempts_agent_id_attempt_id")
        ),
    )
    with op.batch_alter_table("healing_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_healing_attempts_outcome_id", ["outcome", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("healing_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_healing_attempts_outcome_id")
    op.drop_table("healing_attempts")
    with op.batch_alter_table("breakers", schema=None) as batch_op:
        batch_op.drop_index("ix_breakers_state")
    op.drop_table("breakers")
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_events_agent_id_kind_seq")
    op.drop_table("agent_events")
    with op.batch_alter_table("agent_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_commands_agent_id_state_id")
    op.drop_table("agent_commands")
    op.drop_table("switches")
    op.drop_table("agents")
