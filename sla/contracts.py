"""Vendor contracts: admins manage them, managers read them, every change is audited."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import (
    Role,
    VendorContract,
    VendorContractCreate,
    VendorContractPublic,
    VendorContractUpdate,
)
from inventory.types import utcnow

READERS = (Role.admin, Role.manager)


def _public(row: VendorContract) -> VendorContractPublic:
    return VendorContractPublic.model_validate(row, from_attributes=True)


def _get(session: Session, contract_id: int) -> VendorContract:
    row = session.get(VendorContract, contract_id)
    if row is None:
        raise NotFound.of("contract.not_found", contract=contract_id)
    return row


def list_contracts(
    session: Session, viewer: Viewer, vendor: str | None = None
) -> list[VendorContractPublic]:
    viewer.require(*READERS)
    query = sa.select(VendorContract)
    if vendor is not None:
        query = query.where(col(VendorContract.vendor) == vendor)
    rows = session.execute(
        query.order_by(col(VendorContract.vendor), col(VendorContract.valid_from))
    ).scalars()
    return [_public(r) for r in rows]


def get_contract(session: Session, viewer: Viewer, contract_id: int) -> VendorContractPublic:
    viewer.require(*READERS)
    return _public(_get(session, contract_id))


def _check_overlap(session: Session, row: VendorContract) -> None:
    """One vendor's contracts may not overlap: a month must settle against one contract."""
    query = sa.select(VendorContract).where(col(VendorContract.vendor) == row.vendor)
    if row.id is not None:
        query = query.where(col(VendorContract.id) != row.id)
    for other in session.execute(query).scalars():
        starts_before_other_ends = other.valid_to is None or row.valid_from <= other.valid_to
        ends_after_other_starts = row.valid_to is None or row.valid_to >= other.valid_from
        if starts_before_other_ends and ends_after_other_starts:
            raise Conflict.of(
                "contract.overlap",
                field="valid_from",
                vendor=row.vendor,
                contract=other.id,
                start=str(other.valid_from),
                end=str(other.valid_to or "open-ended"),
            )


def _state(row: VendorContract) -> dict[str, Any]:
    return audit.state_of(row, exclude={"id", "created_at", "updated_at"})


def create_contract(
    session: Session, viewer: Viewer, data: VendorContractCreate
) -> VendorContractPublic:
    viewer.require(Role.admin)
    row = VendorContract.model_validate(
        {**data.model_dump(), "credit_tiers": [t.model_dump() for t in data.credit_tiers]}
    )
    _check_overlap(session, row)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="vendor_contract.create",
        target_type="vendor_contract",
        target_id=row.id,
        after=_state(row),
    )
    session.flush()
    return _public(row)


def update_contract(
    session: Session, viewer: Viewer, contract_id: int, data: VendorContractUpdate
) -> VendorContractPublic:
    viewer.require(Role.admin)
    row = _get(session, contract_id)
    before = _state(row)
    changes = data.model_dump(exclude_unset=True)
    for name in ("vendor", "sla_target", "monthly_fee", "currency", "valid_from"):
        if name in changes and changes[name] is None:
            raise Invalid.of("contract.null", field=name, name=name)
    merged = {**before, **changes}
    try:  # the merged contract must hold together as a new one would
        checked = VendorContractCreate.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise Invalid(f"{field}: {first['msg']}", field=field) from exc
    row.sqlmodel_update(
        {**checked.model_dump(), "credit_tiers": [t.model_dump() for t in checked.credit_tiers]}
    )
    _check_overlap(session, row)
    old, new = audit.diff(before, _state(row))
    if new:
        row.updated_at = utcnow()
        session.add(row)
        audit.record(
            session,
            actor=viewer.username,
            action="vendor_contract.update",
            target_type="vendor_contract",
            target_id=contract_id,
            before=old,
            after=new,
        )
    session.flush()
    return _public(row)


def delete_contract(session: Session, viewer: Viewer, contract_id: int) -> None:
    viewer.require(Role.admin)
    row = _get(session, contract_id)
    audit.record(
        session,
        actor=viewer.username,
        action="vendor_contract.delete",
        target_type="vendor_contract",
        target_id=contract_id,
        before=_state(row),
    )
    session.delete(row)
    session.flush()


def in_force(session: Session, first_day: date) -> dict[str, VendorContract]:
    """Each vendor's contract covering `first_day` (the month's first day, Shanghai)."""
    rows = session.execute(
        sa.select(VendorContract).where(
            col(VendorContract.valid_from) <= first_day,
            sa.or_(
                col(VendorContract.valid_to).is_(None), col(VendorContract.valid_to) >= first_day
            ),
        )
    ).scalars()
    return {row.vendor: row for row in rows}
