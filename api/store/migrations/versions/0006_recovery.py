"""recovery: API-managed recovery actions, attempts, held thresholds

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state IN ('pending', 'running', 'verifying')"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recovery_actions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_actions")),
    )
    op.create_table(
        "recovery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("episode_started_at", _time(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("triggered_by", sa.String(length=200), nullable=False),
        sa.Column("action", _json(), nullable=False),
        sa.Column("steps", _json(), nullable=False),
        sa.Column("before", _json(), nullable=False),
        sa.Column("after", _json(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("phase_started_at", _time(), nullable=False),
        sa.Column("step_deadline", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_recovery_attempts_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_attempts")),
    )
    op.create_index(op.f("ix_recovery_attempts_incident_id"), "recovery_attempts", ["incident_id"])
    op.create_index(
        "uq_recovery_attempts_open_pair",
        "recovery_attempts",
        ["action_id", "target"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_recovery_attempts_state", "recovery_attempts", ["state"])
    op.create_index(
        "ix_recovery_attempts_target_created_at", "recovery_attempts", ["target", "created_at"]
    )
    op.create_index("ix_recovery_attempts_finished_at", "recovery_attempts", ["finished_at"])
    op.create_table(
        "recovery_breaches",
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("since", _time(), nullable=False),
        sa.PrimaryKeyConstraint("action_id", "host", name=op.f("pk_recovery_breaches")),
    )


def downgrade() -> None:
    op.drop_table("recovery_breaches")
    op.drop_table("recovery_attempts")
    op.drop_table("recovery_actions")
