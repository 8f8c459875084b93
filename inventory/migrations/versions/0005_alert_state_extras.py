"""alert source key, keep_firing_for and department

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        # Alerts stored before this revision came from no known source round: "" never
        # matches a source key, so no round resolves them by absence.
        batch_op.add_column(
            sa.Column(
                "source_key",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "keep_firing_for_seconds", sa.Float(), nullable=False, server_default=sa.text("0")
            )
        )
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_alert_department_id_department", "department", ["department_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_alert_source_key"), ["source_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_department_id"), ["department_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_department_id"))
        batch_op.drop_index(batch_op.f("ix_alert_source_key"))
        batch_op.drop_constraint("fk_alert_department_id_department", type_="foreignkey")
        batch_op.drop_column("department_id")
        batch_op.drop_column("keep_firing_for_seconds")
        batch_op.drop_column("source_key")
