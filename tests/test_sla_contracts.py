"""Vendor contracts through the API, and monthly settlement against hand-computed credits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from inventory.models import Cloud, Incident, IncidentStatus, Role, Severity, VendorContract
from sla.settlement import Status, availability_from_incidents, monthly_settlement, settle
from tests import factories

API = "/api/v1/sla"
NOW = datetime(2026, 11, 10, tzinfo=UTC)
OCTOBER_MINUTES = 31 * 24 * 60  # 44640
TIERS = [
    {"below": 0.9995, "credit": 0.10},
    {"below": 0.999, "credit": 0.25},
    {"below": 0.99, "credit": 0.50},
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def body(vendor: str = "Alpha", **changes: Any) -> dict[str, Any]:
    return {
        "vendor": vendor,
        "sla_target": 0.9995,
        "monthly_fee": "100000.00",
        "currency": "CNY",
        "credit_tiers": TIERS,
        "valid_from": "2026-01-01",
        **changes,
    }


def contract(session: Session, vendor: str, fee: str, **changes: Any) -> VendorContract:
    row = VendorContract.model_validate(body(vendor, monthly_fee=Decimal(fee), **changes))
    session.add(row)
    session.flush()
    return row


def cloud(session: Session, name: str, vendor: str, created: str = "2026-09-01T00:00") -> Cloud:
    row = Cloud(name=name, kind="simulator", vendor=vendor, region="r1", security_level=3,
                created_at=utc(created))  # fmt: skip
    session.add(row)
    session.flush()
    return row


def down(session: Session, on: Cloud, severity: Severity, start: str, minutes: float) -> None:
    begun = utc(start)
    session.add(
        Incident(group_key=start, title=f"{on.name} down", severity=severity,
                 status=IncidentStatus.resolved, cloud_id=on.id, created_at=begun,
                 resolved_at=begun + timedelta(minutes=minutes), resolved_by="auto")
    )  # fmt: skip
    session.flush()


@pytest.fixture
def estate(session: Session) -> None:
    """October 2026 (Shanghai: 30 Sep 16:00 UTC to 31 Oct 16:00 UTC, 44,640 minutes)."""
    alpha1, alpha2 = cloud(session, "alpha-1", "Alpha"), cloud(session, "alpha-2", "Alpha")
    beta1 = cloud(session, "beta-1", "Beta")
    cloud(session, "gamma-1", "Gamma", created="2026-11-05T00:00")  # not watched in October
    # Alpha: a P1 and an overlapping P2 on alpha-1, 02:00-03:00 and 02:30-03:30: 90 minutes
    # once; a 3-hour P3 that is no downtime; alpha-2 down from 23:00 to 00:30 Shanghai across
    # 1 October: its 30 October minutes. 120 minutes over 2 x 44,640 cloud-minutes.
    down(session, alpha1, Severity.P1, "2026-10-05T02:00", 60)
    down(session, alpha1, Severity.P2, "2026-10-05T02:30", 60)
    down(session, alpha1, Severity.P3, "2026-10-06T02:00", 180)
    down(session, alpha2, Severity.P1, "2026-09-30T15:00", 90)
    # Beta: 23:30 Shanghai 31 Oct to 00:30 1 Nov: 30 minutes in October.
    down(session, beta1, Severity.P1, "2026-10-31T15:30", 60)
    contract(session, "Alpha", "100000.00")
    contract(session, "Beta", "50000.00")
    contract(session, "Gamma", "30000.00")
    contract(session, "Delta", "10000.00")  # a vendor with no clouds at all
    contract(session, "Old", "1.00", valid_from="2025-01-01", valid_to="2026-09-30")
    session.commit()


def test_settlement_from_incidents(session: Session, estate: None) -> None:
    got = {v.vendor: v for v in monthly_settlement(session, "2026-10", NOW).vendors}
    assert sorted(got) == ["Alpha", "Beta", "Delta", "Gamma"]  # "Old" ended in September

    alpha = got["Alpha"]
    assert alpha.observed_minutes == 2 * OCTOBER_MINUTES
    assert alpha.downtime_minutes == 120
    assert alpha.measured == pytest.approx(1 - 120 / 89280)  # 0.998656: below 99.9 %
    assert (alpha.status, alpha.credit_ratio, alpha.credit_amount) == (
        Status.credit, 0.25, Decimal("25000.00"),
    )  # fmt: skip
    assert alpha.tier is not None and alpha.tier.below == 0.999
    assert alpha.allowed_downtime_minutes == pytest.approx(22.32)  # 0.05 % of 31 days
    assert len(alpha.incident_ids) == 3 and alpha.clouds == ["alpha-1", "alpha-2"]

    beta = got["Beta"]
    assert beta.downtime_minutes == 30
    assert beta.measured == pytest.approx(1 - 30 / OCTOBER_MINUTES)  # 0.999328
    assert (beta.status, beta.credit_amount) == (Status.credit, Decimal("5000.00"))

    for vendor in ("Gamma", "Delta"):  # no data: no figure at all, neither 0 nor 100 %
        row = got[vendor]
        assert (row.status, row.measured, row.credit_amount) == (Status.no_data, None, None)


def test_a_month_in_progress_splits_boundary_incidents_and_counts_open_ones(
    session: Session, estate: None
) -> None:
    beta = session.exec(select(Cloud).where(Cloud.name == "beta-1")).one()
    session.add(
        Incident(group_key="open", title="beta still down", severity=Severity.P1,
                 status=IncidentStatus.open, cloud_id=beta.id,
                 created_at=utc("2026-11-09T16:00"))  # 00:00 Shanghai on 10 Nov, still open
    )  # fmt: skip
    session.commit()
    got = {v.vendor: v for v in monthly_settlement(session, "2026-11", NOW).vendors}
    # Watched from 1 Nov 00:00 Shanghai (31 Oct 16:00 UTC) to now: 9 days 8 hours. Down for
    # the other 30 minutes of the 31 Oct incident and the 480 minutes of the open one.
    assert (got["Beta"].observed_minutes, got["Beta"].downtime_minutes) == (13440, 510)
    assert got["Beta"].measured == pytest.approx(1 - 510 / 13440)  # 0.96205: below 99 %
    assert got["Beta"].credit_amount == Decimal("25000.00")
    # gamma-1, registered on 5 November, is watched from then: no incident, no downtime.
    assert (got["Gamma"].observed_minutes, got["Gamma"].status) == (7200, Status.met)


def test_a_month_not_yet_begun_has_no_data(session: Session, estate: None) -> None:
    rows = monthly_settlement(session, "2026-12", NOW).vendors
    assert {r.status for r in rows} == {Status.no_data}
    assert availability_from_incidents(session, *_bounds("2026-12"), NOW) == {}


def _bounds(month: str) -> tuple[datetime, datetime]:
    from sla.incidents import month_bounds

    return month_bounds(month)


def test_settle_given_availability_tiers_and_edges() -> None:
    rows = [
        VendorContract.model_validate(body(v, id=i, monthly_fee=Decimal("1000.00")))
        for i, v in enumerate(["A", "B", "C", "D", "E"], start=1)
    ]
    rows.append(
        VendorContract.model_validate(
            body("F", id=6, monthly_fee=Decimal("1000.00"), credit_tiers=TIERS[1:])
        )
    )
    given = {"A": 0.9995, "B": 0.99949, "C": 0.98, "D": None, "F": 0.9992}
    got = {v.vendor: v for v in settle(rows, given, "2026-11", NOW).vendors}
    assert (got["A"].status, got["A"].credit_amount) == (Status.met, Decimal("0.00"))
    assert (got["B"].status, got["B"].credit_amount) == (Status.credit, Decimal("100.00"))
    assert (got["C"].credit_ratio, got["C"].credit_amount) == (0.5, Decimal("500.00"))
    assert got["D"].status == got["E"].status == Status.no_data  # None, and absent
    assert (got["F"].status, got["F"].credit_amount) == (
        Status.below_target_no_tier, Decimal("0.00"),
    )  # fmt: skip
    # 99.95 % over a 30-day month allows 21.6 minutes down.
    assert got["A"].allowed_downtime_minutes == pytest.approx(21.6)
    assert "10% of 1000.00 CNY = 100.00" in got["B"].workings


# --- The API -------------------------------------------------------------------------------


@pytest.fixture
def actors(session: Session) -> dict[str, factories.Actor]:
    dept = factories.department(session, "dept-a")
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "manager": factories.user(session, "manager1", Role.manager),
        "oncall": factories.user(session, "oncall1", Role.oncall),
        "department": factories.user(session, "depta", Role.department, dept.id),
    }


def test_contract_crud_roles_and_audit(
    client: TestClient, actors: dict[str, factories.Actor]
) -> None:
    admin, manager = actors["admin"].headers, actors["manager"].headers
    made = client.post(f"{API}/contracts", headers=admin, json=body())
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert made.json()["credit_tiers"] == TIERS and made.json()["monthly_fee"] == "100000.00"
    assert client.get(f"{API}/contracts/{cid}", headers=manager).json()["vendor"] == "Alpha"
    assert [c["id"] for c in client.get(f"{API}/contracts", headers=manager).json()] == [cid]
    for role in ("oncall", "department"):
        h = actors[role].headers
        assert client.get(f"{API}/contracts", headers=h).status_code == 403
        assert client.get(f"{API}/settlement?month=2026-10", headers=h).status_code == 403
    assert client.post(f"{API}/contracts", headers=manager, json=body("B")).status_code == 403

    changed = client.patch(f"{API}/contracts/{cid}", headers=admin, json={"monthly_fee": "90000"})
    assert changed.status_code == 200 and changed.json()["monthly_fee"] == "90000.00"
    audit = client.get("/api/v1/audit", headers=admin).json()["items"]
    assert (audit[0]["action"], audit[0]["before"], audit[0]["after"]) == (
        "vendor_contract.update", {"monthly_fee": "100000.00"}, {"monthly_fee": "90000.00"},
    )  # fmt: skip
    assert audit[1]["action"] == "vendor_contract.create"
    assert client.delete(f"{API}/contracts/{cid}", headers=admin).status_code == 204
    audit = client.get("/api/v1/audit", headers=admin).json()["items"]
    assert (audit[0]["action"], audit[0]["target_id"]) == ("vendor_contract.delete", str(cid))
    assert client.get(f"{API}/contracts/{cid}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credit_tiers": [TIERS[1], TIERS[0]]}, "body.credit_tiers"),
        ({"credit_tiers": [{"below": 0.999, "credit": 0.5}, TIERS[2] | {"credit": 0.2}]},
         "body.credit_tiers"),
        ({"credit_tiers": [{"below": 0.9995, "credit": 1.5}]}, "body.credit_tiers.0.credit"),
        ({"credit_tiers": [{"below": 0.9999, "credit": 0.1}]}, "body.credit_tiers"),
        ({"sla_target": 1.5}, "body.sla_target"),
        ({"monthly_fee": "-1"}, "body.monthly_fee"),
        ({"currency": "cny"}, "body.currency"),
        ({"valid_to": "2025-12-31"}, "body.valid_to"),
        ({"vendor": "  "}, "body.vendor"),
    ],
)  # fmt: skip
def test_bad_contracts_get_field_named_422s(
    client: TestClient, actors: dict[str, factories.Actor], change: dict[str, Any], field: str
) -> None:
    got = client.post(f"{API}/contracts", headers=actors["admin"].headers, json=body(**change))
    assert got.status_code == 422, got.text
    assert got.json()["fields"][0]["field"] == field


def test_overlaps_and_bad_updates_are_refused(
    client: TestClient, actors: dict[str, factories.Actor]
) -> None:
    admin = actors["admin"].headers
    first = client.post(f"{API}/contracts", headers=admin, json=body(valid_to="2026-12-31"))
    cid = first.json()["id"]
    clash = client.post(f"{API}/contracts", headers=admin, json=body(valid_from="2026-06-01"))
    assert (clash.status_code, clash.json()["field"]) == (409, "valid_from")
    nxt = client.post(f"{API}/contracts", headers=admin, json=body(valid_from="2027-01-01"))
    assert nxt.status_code == 201, nxt.text
    # A target below the first tier breaks the merged contract: refused, naming the field.
    bad = client.patch(f"{API}/contracts/{cid}", headers=admin, json={"sla_target": 0.999})
    assert (bad.status_code, bad.json()["field"]) == (422, "credit_tiers")
    null = client.patch(f"{API}/contracts/{cid}", headers=admin, json={"monthly_fee": None})
    assert (null.status_code, null.json()["field"]) == (422, "monthly_fee")


def test_settlement_and_incident_metrics_over_the_api(
    client: TestClient, session: Session, actors: dict[str, factories.Actor], estate: None
) -> None:
    manager = actors["manager"].headers
    got = client.get(f"{API}/settlement?month=2026-10", headers=manager)
    assert got.status_code == 200, got.text
    vendors = {v["vendor"]: v for v in got.json()["vendors"]}
    assert (vendors["Alpha"]["credit_amount"], vendors["Beta"]["credit_amount"]) == (
        "25000.00", "5000.00",
    )  # fmt: skip
    assert vendors["Gamma"]["status"] == "no_data" and vendors["Gamma"]["measured"] is None
    metrics = client.get(f"{API}/incidents?month=2026-10", headers=actors["oncall"].headers)
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["overall"]["incidents"] == 4  # alpha-2's began in September
    assert metrics.json()["overall"]["mttr_seconds"] == (60 + 60 + 180 + 60) * 60 / 4
    bad = client.get(f"{API}/incidents?month=2026-13", headers=manager)
    assert (bad.status_code, bad.json()["field"]) == (422, "month")
    denied = client.get(f"{API}/incidents", headers=actors["department"].headers)
    assert denied.status_code == 403
