"""Vendor contracts: each vendor's SLA target, monthly fee and service-credit tiers.

A contract is in force for a calendar month (Asia/Shanghai) when it covers the month's first
day: `valid_from <= first day` and `valid_to` (inclusive, or open-ended) on or after it. One
vendor's contracts may not overlap, so a month settles against exactly one contract or none.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, utcnow


class CreditTier(BaseModel):
    """Availability strictly below `below` earns `credit` (a share of the monthly fee)."""

    model_config = ConfigDict(extra="forbid")
    below: float = PField(gt=0, le=1)
    credit: float = PField(ge=0, le=1)


def check_tiers(tiers: list[CreditTier], sla_target: float | None) -> list[CreditTier]:
    """Tiers run from the mildest shortfall to the worst: `below` strictly descending and
    credits never falling, the first at or under the target (a credit for meeting the
    target would be a bonus, not a credit). Raises ValueError naming the offending tier."""
    for i, (upper, lower) in enumerate(itertools.pairwise(tiers), start=1):
        if lower.below >= upper.below:
            raise ValueError(f"credit_tiers[{i}].below must be below {upper.below}")
        if lower.credit < upper.credit:
            raise ValueError(f"credit_tiers[{i}].credit must be at least {upper.credit}")
    if tiers and sla_target is not None and tiers[0].below > sla_target:
        raise ValueError(f"credit_tiers[0].below must not exceed sla_target {sla_target}")
    return tiers


class VendorContractBase(SQLModel):
    vendor: str = Field(max_length=64, min_length=1, index=True, description="Cloud.vendor")
    sla_target: float = Field(gt=0, le=1, description="Monthly availability, e.g. 0.9995")
    monthly_fee: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(default="CNY", max_length=3)
    credit_tiers: list[dict[str, float]] = Field(default_factory=list, sa_type=JSONType)
    valid_from: date
    valid_to: date | None = Field(default=None, description="Inclusive; null: open-ended")


class VendorContract(VendorContractBase, table=True):
    __tablename__ = "vendor_contract"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def tiers(self) -> list[CreditTier]:
        return [CreditTier.model_validate(t) for t in self.credit_tiers]


def _cents(value: Decimal | None) -> Decimal | None:
    # Money is shown and compared to the cent: 90000 and 90000.00 are one fee.
    return value.quantize(Decimal("0.01")) if value is not None else None


def _vendor(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value.strip() if value is not None else None


class VendorContractCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vendor: str = PField(max_length=64, min_length=1)
    sla_target: float = PField(gt=0, le=1)
    monthly_fee: Decimal = PField(ge=0, max_digits=14, decimal_places=2)
    currency: str = PField(default="CNY", pattern="^[A-Z]{3}$")
    credit_tiers: list[CreditTier] = PField(default_factory=list, max_length=20)
    valid_from: date
    valid_to: date | None = None

    @field_validator("vendor")
    @classmethod
    def _vendor_name(cls, value: str | None) -> str | None:
        return _vendor(value)

    @field_validator("monthly_fee")
    @classmethod
    def _fee(cls, value: Decimal | None) -> Decimal | None:
        return _cents(value)

    # Field validators (not a model validator) so a 422 names the field at fault.
    @field_validator("credit_tiers")
    @classmethod
    def _tiers(cls, tiers: list[CreditTier], info: ValidationInfo) -> list[CreditTier]:
        return check_tiers(tiers, info.data.get("sla_target"))

    @field_validator("valid_to")
    @classmethod
    def _period(cls, valid_to: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("valid_from")
        if valid_to is not None and start is not None and valid_to < start:
            raise ValueError("must not be before valid_from")
        return valid_to


class VendorContractUpdate(BaseModel):
    """Fields left out are unchanged; the merged contract is checked again as a whole."""

    model_config = ConfigDict(extra="forbid")
    vendor: str | None = PField(default=None, max_length=64, min_length=1)
    sla_target: float | None = PField(default=None, gt=0, le=1)
    monthly_fee: Decimal | None = PField(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = PField(default=None, pattern="^[A-Z]{3}$")
    credit_tiers: list[CreditTier] | None = PField(default=None, max_length=20)
    valid_from: date | None = None
    valid_to: date | None = None

    @field_validator("vendor")
    @classmethod
    def _vendor_name(cls, value: str | None) -> str | None:
        return _vendor(value)

    @field_validator("monthly_fee")
    @classmethod
    def _fee(cls, value: Decimal | None) -> Decimal | None:
        return _cents(value)


class VendorContractPublic(VendorContractBase):
    id: int
    credit_tiers: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
