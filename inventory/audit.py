"""Writing the audit log. Every mutation, by a user, the CLI or the system, goes through here."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel

from inventory.models import AuditEvent

# Never copied into before/after, whatever the table.
SECRET_FIELDS = frozenset({"credentials_encrypted", "password_hash", "token_hash"})


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
        detail=detail,
    )
    session.add(event)
    return event


def state_of(row: SQLModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """A JSON-safe copy of a row for before/after, with secrets left out."""
    return row.model_dump(mode="json", exclude=set(SECRET_FIELDS | (exclude or set())))


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, so an audit entry reads as what was done."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
