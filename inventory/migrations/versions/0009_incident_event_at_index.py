"""index incident_event.at: the assessment's alert-noise KPI reads a month of the timeline

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 02:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_incident_event_at"), "incident_event", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_event_at"), table_name="incident_event")
