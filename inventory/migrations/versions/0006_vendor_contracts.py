"""vendor contracts: SLA target, monthly fee and service-credit tiers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inventory.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vendor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sla_target", sa.Float(), nullable=False),
        sa.Column("monthly_fee", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("credit_tiers", inventory.types.JSONType, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vendor_contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendor_contract_vendor"), ["vendor"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vendor_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_contract_vendor"))
    op.drop_table("vendor_contract")
