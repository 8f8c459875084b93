"""requests plans allocations prices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inventory.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_request",
        sa.Column("service_name", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("sla_target", sa.Float(), nullable=True),
        sa.Column("min_healthy", sa.Integer(), nullable=False),
        sa.Column("security_level", sa.Integer(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("arch", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("traits", inventory.types.JSONType, nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "unplaceable",
                "approved",
                "fulfilled",
                "partial",
                "rejected",
                name="requeststatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("workload_id", sa.Integer(), nullable=True),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workload.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("resource_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_request_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_resource_request_status"), ["status"], unique=False)

    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "approved",
                "rejected",
                "applying",
                "applied",
                "partial",
                "superseded",
                name="planstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("solver", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("result", inventory.types.JSONType, nullable=False),
        sa.Column("cost_per_hour", sa.Float(), nullable=False),
        sa.Column("predicted_availability", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decided_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["resource_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_status"), ["status"], unique=False)

    op.create_table(
        "allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("replica_index", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "provisioned",
                "failed",
                name="allocationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["cloud.id"],
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["host.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_plan_id"), ["plan_id"], unique=False)

    with op.batch_alter_table("cloud", schema=None) as batch_op:
        # Existing clouds start with no prices: placement cost 0 until an admin sets them.
        batch_op.add_column(
            sa.Column(
                "prices", inventory.types.JSONType, nullable=False, server_default=sa.text("'{}'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("cloud", schema=None) as batch_op:
        batch_op.drop_column("prices")

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_plan_id"))

    op.drop_table("allocation")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_status"))
        batch_op.drop_index(batch_op.f("ix_plan_request_id"))

    op.drop_table("plan")
    with op.batch_alter_table("resource_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_request_status"))
        batch_op.drop_index(batch_op.f("ix_resource_request_department_id"))

    op.drop_table("resource_request")
