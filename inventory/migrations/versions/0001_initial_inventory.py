"""initial inventory

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inventory.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("before", inventory.types.JSONType, nullable=True),
        sa.Column("after", inventory.types.JSONType, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)

    op.create_table(
        "cloud",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("vendor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("security_level", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settings", inventory.types.JSONType, nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_sync_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cloud", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cloud_name"), ["name"], unique=True)
        batch_op.create_index(batch_op.f("ix_cloud_region"), ["region"], unique=False)

    op.create_table(
        "department",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("contact", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_department_code"), ["code"], unique=True)

    op.create_table(
        "quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("department_id", "resource"),
    )
    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_department_id"), ["department_id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_account_username"), ["username"], unique=True)

    op.create_table(
        "workload",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("replicas_desired", sa.Integer(), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("sla_target", sa.Float(), nullable=True),
        sa.Column("security_level", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("extra", inventory.types.JSONType, nullable=False),
        sa.Column("first_seen_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gone_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["cloud.id"],
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cloud_id", "external_id"),
    )
    with op.batch_alter_table("workload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workload_cloud_id"), ["cloud_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_workload_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_workload_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_workload_state"), ["state"], unique=False)

    op.create_table(
        "zone",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("availability", sa.Float(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("extra", inventory.types.JSONType, nullable=False),
        sa.Column("first_seen_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gone_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["cloud.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cloud_id", "external_id"),
    )
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zone_cloud_id"), ["cloud_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_zone_region"), ["region"], unique=False)
        batch_op.create_index(batch_op.f("ix_zone_state"), ["state"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("expires_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_token_hash"), ["token_hash"], unique=True)
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "host",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("arch", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("cpu_ratio", sa.Float(), nullable=False),
        sa.Column("ram_ratio", sa.Float(), nullable=False),
        sa.Column("disk_ratio", sa.Float(), nullable=False),
        sa.Column("vcpus_used", sa.Integer(), nullable=False),
        sa.Column("memory_mb_used", sa.Integer(), nullable=False),
        sa.Column("disk_gb_used", sa.Integer(), nullable=False),
        sa.Column("gpus_used", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("traits", inventory.types.JSONType, nullable=False),
        sa.Column("extra", inventory.types.JSONType, nullable=False),
        sa.Column("first_seen_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gone_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["cloud.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zone.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cloud_id", "external_id"),
    )
    with op.batch_alter_table("host", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_host_cloud_id"), ["cloud_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_host_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_host_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_host_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "replica",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("extra", inventory.types.JSONType, nullable=False),
        sa.Column("first_seen_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gone_at", inventory.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cloud_id"],
            ["cloud.id"],
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["host.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workload.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cloud_id", "external_id"),
    )
    with op.batch_alter_table("replica", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replica_cloud_id"), ["cloud_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replica_host_id"), ["host_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replica_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_replica_workload_id"), ["workload_id"], unique=False)

    # The audit log is append-only in the database itself, not only by convention.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_event is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    with op.batch_alter_table("replica", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replica_workload_id"))
        batch_op.drop_index(batch_op.f("ix_replica_state"))
        batch_op.drop_index(batch_op.f("ix_replica_host_id"))
        batch_op.drop_index(batch_op.f("ix_replica_cloud_id"))

    op.drop_table("replica")
    with op.batch_alter_table("host", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_zone_id"))
        batch_op.drop_index(batch_op.f("ix_host_state"))
        batch_op.drop_index(batch_op.f("ix_host_name"))
        batch_op.drop_index(batch_op.f("ix_host_cloud_id"))

    op.drop_table("host")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_api_token_token_hash"))

    op.drop_table("api_token")
    with op.batch_alter_table("zone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zone_state"))
        batch_op.drop_index(batch_op.f("ix_zone_region"))
        batch_op.drop_index(batch_op.f("ix_zone_cloud_id"))

    op.drop_table("zone")
    with op.batch_alter_table("workload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workload_state"))
        batch_op.drop_index(batch_op.f("ix_workload_name"))
        batch_op.drop_index(batch_op.f("ix_workload_department_id"))
        batch_op.drop_index(batch_op.f("ix_workload_cloud_id"))

    op.drop_table("workload")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_username"))

    op.drop_table("user_account")
    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_department_id"))

    op.drop_table("quota")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_code"))

    op.drop_table("department")
    with op.batch_alter_table("cloud", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cloud_region"))
        batch_op.drop_index(batch_op.f("ix_cloud_name"))

    op.drop_table("cloud")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
