"""escalation: escalations, the notification outbox, API-managed people/schedules/policies,
used link nonces

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.id"],
        name=op.f(f"fk_{table}_incident_id_incidents"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("snapshot", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("next_step_at", _time(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_via", sa.String(length=32), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        _incident_fk("escalations"),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_escalations")),
    )
    op.create_index(
        op.f("ix_escalations_status_next_step_at"),
        "escalations",
        ["status", "next_step_at"],
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("fallbacks", _json(), nullable=False),
        sa.Column("level", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("sent_at", _time(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        _incident_fk("notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notifications_dedup_key")),
    )
    op.create_index(
        op.f("ix_notifications_incident_id_purpose"),
        "notifications",
        ["incident_id", "purpose"],
    )
    op.create_table(
        "escalation_objects",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id", name=op.f("pk_escalation_objects")),
    )
    op.create_table(
        "used_link_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("used_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_used_link_nonces")),
    )


def downgrade() -> None:
    op.drop_table("used_link_nonces")
    op.drop_table("escalation_objects")
    op.drop_index(op.f("ix_notifications_incident_id_purpose"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_escalations_status_next_step_at"), table_name="escalations")
    op.drop_table("escalations")
