"""deployments: deployments, their probes and timeline, freeze overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09

The runtime auto-rollback switch is a row of the ``switches`` table (0002), name
``auto_rollback``.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _deployment_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["deployment_id"],
        ["deployments.id"],
        name=op.f(f"fk_{table}_deployment_id_deployments"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("previous_version", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rolls_back", sa.Integer(), nullable=True),
        sa.Column("rolled_back_by", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("monitored", sa.Boolean(), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=True),
        sa.Column("github_deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("run_url", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("deployed_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("stabilization_minutes", sa.Float(), nullable=False),
        sa.Column("monitoring_minutes", sa.Float(), nullable=False),
        sa.Column("health_urls", _json(), nullable=False),
        sa.Column("hosts", _json(), nullable=False),
        sa.Column("thresholds", _json(), nullable=False),
        sa.Column("rollback_requested", sa.Boolean(), nullable=False),
        sa.Column("rollback_reason", sa.Text(), nullable=True),
        sa.Column("rollback_requested_by", sa.String(length=200), nullable=True),
        sa.Column("verdict", _json(), nullable=True),
        sa.Column("baseline", _json(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_deployments_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployments_target_environment_id", ["target", "environment", "id"], unique=False
        )
        batch_op.create_index("ix_deployments_state_id", ["state", "id"], unique=False)

    op.create_table(
        "deployment_probes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("url_index", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _deployment_fk("deployment_probes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_probes")),
        sa.UniqueConstraint(
            "deployment_id",
            "round",
            "url_index",
            "n",
            name=op.f("uq_deployment_probes_deployment_id_round_url_index_n"),
        ),
    )
    with op.batch_alter_table("deployment_probes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployment_probes_deployment_id_at", ["deployment_id", "at"], unique=False
        )

    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        _deployment_fk("deployment_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_events")),
    )
    with op.batch_alter_table("deployment_events", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_events_deployment_id", ["deployment_id"], unique=False)

    op.create_table(
        "freeze_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("until", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freeze_overrides")),
    )
    with op.batch_alter_table("freeze_overrides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_freeze_overrides_target_environment_until",
            ["target", "environment", "until"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("freeze_overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_freeze_overrides_target_environment_until")
    op.drop_table("freeze_overrides")
    with op.batch_alter_table("deployment_events", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_events_deployment_id")
    op.drop_table("deployment_events")
    with op.batch_alter_table("deployment_probes", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_probes_deployment_id_at")
    op.drop_table("deployment_probes")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index("ix_deployments_state_id")
        batch_op.drop_index("ix_deployments_target_environment_id")
    op.drop_table("deployments")
