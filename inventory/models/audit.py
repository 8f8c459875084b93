"""The append-only audit log: who did what, when, with the state before and after.

Each record carries a place in a hash chain (`seq`, `prev_hash`, `hash`): `hash` is SHA-256 over
the previous record's hash and a canonical serialisation of this record's fields, so an edited,
deleted or inserted record breaks the chain from that point on (see inventory/audit.py for how
the chain is appended to and verified). The chain columns are nullable only because a record
gets its place when its transaction commits; every stored row has them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, utcnow

# prev_hash of the first record.
GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128, index=True)  # username, "cli:<os user>" or "system"
    action: str = Field(max_length=64, index=True)  # e.g. cloud.create, inventory.sync
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    detail: str | None = Field(default=None, sa_type=sa.Text)
    # The hash chain: position (1, 2, ... in commit order), the previous record's hash, this one's.
    seq: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True, index=True)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AuditChainHead(SQLModel, table=True):
    """One row (id 1): the chain's last position and hash. Appending locks this row, which is
    what orders concurrent writers; it also shows when records were cut off the end."""

    __tablename__ = "audit_chain_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_type=sa.BigInteger)
    hash: str = Field(default=GENESIS_HASH, max_length=64)


class AuditEventPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None
    seq: int | None = None
    hash: str | None = None


def _canonical_value(value: Any) -> Any:
    """Numbers as PostgreSQL's jsonb hands them back: an integral float (1.0, 1e16) comes back
    as an int, so it is hashed as one; everything else is already JSON-native."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e300:
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def canonical(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: str | None,
) -> str:
    """The record as hashed: sorted-key compact JSON, `at` in UTC to the microsecond (what
    both databases keep). `id` is left out: the chain orders records by `seq`."""
    fields = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "before": _canonical_value(before),
        "after": _canonical_value(after),
        "detail": detail,
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()
