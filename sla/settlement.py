"""Monthly settlement: the service credit each vendor owes, with its workings.

Measured availability comes in per vendor (from Prometheus, computed elsewhere) or, as the
fallback, from recorded incidents. Decisions for the incident source:
- A P1 or P2 incident on one of the vendor's clouds is downtime from its start to its
  resolution (or to the end of the window while still open); P3/P4 are degradations, not
  downtime. Overlapping incidents on one cloud count once.
- Unlike MTTA/MTTR (counted in the month an incident started), downtime is time: an
  incident spanning a month boundary is split, each month taking its own minutes.
- A cloud is observed from when it was registered (Cloud.created_at) to the month's end or
  now, whichever is earlier. A vendor's availability is its clouds' downtime over their
  observed minutes (cloud-minutes), so each cloud weighs by how long it was watched.
- A vendor with no cloud observed in the month has no data: reported as such, with no credit
  figure at all, never as 100 % or as a 0 % credit. Incidents with no cloud are not any
  vendor's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col

from inventory.models import Cloud, CreditTier, Incident, Severity, VendorContract
from sla import contracts
from sla.availability import SHANGHAI, downtime_minutes
from sla.incidents import month_bounds

DOWNTIME_SEVERITIES = (Severity.P1, Severity.P2)
CENT = Decimal("0.01")


class Status(StrEnum):
    met = "met"  # at or above the target: no credit
    credit = "credit"  # below a tier: the tier's share of the fee is owed
    below_target_no_tier = "below_target_no_tier"  # missed, but above every tier
    no_data = "no_data"  # nothing measured: neither met nor missed


@dataclass
class Measured:
    """A vendor's availability for the month and what it rests on."""

    availability: float | None
    window_minutes: float = 0.0
    downtime_minutes: float = 0.0
    clouds: list[str] = field(default_factory=list)
    incident_ids: list[int] = field(default_factory=list)
    # Prometheus's workings (sla.measure): the PromQL asked and how many series answered.
    queries: list[str] = field(default_factory=list)
    series: int = 0
    error: str | None = None


class SourceFigures(BaseModel):
    """What one source measured for a vendor; None figures are no data, never 100 %.

    Downtime and watched minutes are summed over the vendor's clouds (incidents) or series
    (Prometheus), so availability = 1 - downtime / watched for both."""

    availability: float | None
    downtime_minutes: float | None
    watched_minutes: float | None
    members: int = 0  # the clouds (incidents) or series (Prometheus) summed over
    detail: str


class VendorSettlement(BaseModel):
    vendor: str
    contract_id: int
    status: Status
    source: str  # "given" or "incidents"
    sla_target: float
    measured: float | None
    tier: CreditTier | None
    credit_ratio: float | None
    monthly_fee: Decimal
    currency: str
    credit_amount: Decimal | None  # None with no data: unknown, not zero
    allowed_downtime_minutes: float  # the target's budget over the whole month
    downtime_minutes: float | None
    observed_minutes: float | None
    clouds: list[str]
    incident_ids: list[int]
    workings: str
    # Filled by sla.measure's settlement, which weighs Prometheus against incidents:
    basis: str | None = None  # "prometheus" or "incidents": what `measured` rests on
    prometheus: SourceFigures | None = None
    incidents: SourceFigures | None = None
    difference_minutes: float | None = None  # |availability gap| x the month's minutes so far
    disagreement: str | None = None  # set when the sources differ beyond the threshold


class Settlement(BaseModel):
    month: str
    timezone: str = "Asia/Shanghai"
    start: datetime
    end: datetime
    as_of: datetime
    source: str
    vendors: list[VendorSettlement]
    warnings: list[str] = Field(default_factory=list)  # e.g. Prometheus not reachable


# A month ("YYYY-MM") -> its settlement: how reports ask for vendor availability without
# knowing where it comes from (incidents only, or Prometheus too: sla.measure.settler).
Settle = Callable[[str], Settlement]


def tier_hit(tiers: list[CreditTier], measured: float) -> CreditTier | None:
    """The deepest tier the measurement falls below (tiers run mildest first)."""
    hit = None
    for tier in tiers:
        if measured < tier.below:
            hit = tier
    return hit


def settle_vendor(
    contract: VendorContract, measured: Measured, month: timedelta, source: str
) -> VendorSettlement:
    fee, tiers = Decimal(contract.monthly_fee), contract.tiers()
    allowed = round(downtime_minutes(contract.sla_target, month), 6)
    base = {
        "vendor": contract.vendor,
        "contract_id": contract.id or 0,
        "source": source,
        "sla_target": contract.sla_target,
        "monthly_fee": fee.quantize(CENT),
        "currency": contract.currency,
        "allowed_downtime_minutes": allowed,
        "clouds": measured.clouds,
        "incident_ids": measured.incident_ids,
    }
    value = measured.availability
    if value is None:
        return VendorSettlement(
            **base,
            status=Status.no_data,
            measured=None,
            tier=None,
            credit_ratio=None,
            credit_amount=None,
            downtime_minutes=None,
            observed_minutes=None,
            workings="no availability measured this month: no credit can be worked out",
        )
    counted = source in ("incidents", "prometheus")  # sources that count minutes
    hit = tier_hit(tiers, value) if value < contract.sla_target else None
    ratio = hit.credit if hit else 0.0
    amount = (fee * Decimal(str(ratio))).quantize(CENT, rounding=ROUND_HALF_UP)
    if value >= contract.sla_target:
        status, why = Status.met, f"{value:.6f} >= target {contract.sla_target}"
    elif hit is None:
        status = Status.below_target_no_tier
        why = f"{value:.6f} < target {contract.sla_target} but above every credit tier"
    else:
        status = Status.credit
        why = (
            f"{value:.6f} < {hit.below}: {hit.credit:.0%} of {fee.quantize(CENT)} "
            f"{contract.currency} = {amount}"
        )
    return VendorSettlement(
        **base,
        status=status,
        measured=value,
        tier=hit,
        credit_ratio=ratio,
        credit_amount=amount,
        downtime_minutes=round(measured.downtime_minutes, 3) if counted else None,
        observed_minutes=round(measured.window_minutes, 3) if counted else None,
        workings=why,
    )


def settle(
    contracts_in_force: Iterable[VendorContract],
    measured: Mapping[str, Measured | float | None],
    month: str,
    now: datetime,
    source: str = "given",
) -> Settlement:
    """Credits for `month` from availability per vendor; a vendor missing from `measured`
    (or given None) has no data."""
    start, end = month_bounds(month)
    rows = []
    for contract in sorted(contracts_in_force, key=lambda c: c.vendor):
        given = measured.get(contract.vendor)
        found = given if isinstance(given, Measured) else Measured(availability=given)
        rows.append(settle_vendor(contract, found, end - start, source))
    return Settlement(month=month, start=start, end=end, as_of=now, source=source, vendors=rows)


def merged_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Total length of possibly overlapping intervals, each counted once."""
    total, reach = 0.0, None
    for begin, finish in sorted(spans):
        if reach is not None and begin < reach:
            begin = reach
        if finish > begin:
            total += (finish - begin).total_seconds()
            reach = finish
    return total


def availability_from_incidents(
    session: Session, start: datetime, end: datetime, now: datetime
) -> dict[str, Measured]:
    """Each vendor's availability over [start, end) from P1/P2 incidents (see module doc)."""
    stop = min(end, now)
    incidents = list(
        session.execute(
            sa.select(Incident).where(
                col(Incident.cloud_id).is_not(None),
                col(Incident.severity).in_(DOWNTIME_SEVERITIES),
                col(Incident.created_at) < stop,
                sa.or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) > start),
            )
        ).scalars()
    )
    by_cloud: dict[int, list[Incident]] = {}
    for incident in incidents:
        by_cloud.setdefault(incident.cloud_id or 0, []).append(incident)
    result: dict[str, Measured] = {}
    for cloud in session.execute(sa.select(Cloud).order_by(col(Cloud.name))).scalars():
        begin = max(start, cloud.created_at)
        if begin >= stop:
            continue  # not watched at all this month
        mine = by_cloud.get(cloud.id or 0, [])
        spans = [(max(i.created_at, begin), min(i.resolved_at or stop, stop)) for i in mine]
        entry = result.setdefault(cloud.vendor, Measured(availability=None))
        entry.window_minutes += (stop - begin).total_seconds() / 60
        entry.downtime_minutes += merged_seconds(spans) / 60
        entry.clouds.append(cloud.name)
        entry.incident_ids.extend(sorted(i.id or 0 for i in mine))
    for entry in result.values():
        entry.availability = round(1.0 - entry.downtime_minutes / entry.window_minutes, 9)
    return result


def monthly_settlement(session: Session, month: str, now: datetime) -> Settlement:
    """Contracts in force on the month's first day, availability from recorded incidents
    only; `sla.measure.settlement_from_settings` weighs Prometheus against these."""
    start, end = month_bounds(month)
    first_day = start.astimezone(SHANGHAI).date()
    in_force = contracts.in_force(session, first_day).values()
    measured = availability_from_incidents(session, start, end, now) if start < now else {}
    return settle(in_force, dict(measured), month, now, source="incidents")
