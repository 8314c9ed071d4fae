"""degradation: each rule's state and the history of its changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "degradation_rules",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("since", _time(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("clear_since", _time(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_degradation_rules")),
    )
    op.create_table(
        "degradation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_degradation_events")),
    )
    op.create_index(
        op.f("ix_degradation_events_rule_id_at"), "degradation_events", ["rule_id", "at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_degradation_events_rule_id_at"), table_name="degradation_events")
    op.drop_table("degradation_events")
    op.drop_table("degradation_rules")
