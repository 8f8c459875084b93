"""request fulfilment time and stored monthly assessment reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inventory.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fulfilled_at", inventory.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "assessment_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("generated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("generated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", inventory.types.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("month"),
    )


def downgrade() -> None:
    op.drop_table("assessment_report")
    with op.batch_alter_table("resource_request", schema=None) as batch_op:
        batch_op.drop_column("fulfilled_at")
