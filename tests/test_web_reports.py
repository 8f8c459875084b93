"""The reports pages over HTTP: roles, the month picker, figures against hand-computed ones,
stored vs live, "generate and store now" (CSRF, audit, a month not ended), the downloads.

The module's world gets vendor Beta: one cloud watched since January 2026, a contract (target
0.999, fee 10000.00 CNY, 10 % credit below 0.999) and one P1 incident in March 2026 that was
down 120 minutes. March has 31 x 1440 = 44640 minutes, so:
- availability = 1 - 120 / 44640 = 0.9973118 (99.7312 %), below target, in the 10 % tier:
  credit 1000.00 CNY; allowed downtime 0.001 x 44640 = 44.64 minutes;
- availability score: budget used (1 - 0.9973118) / 0.001 = 2.688, so
  100 x (3 - 2.688) / 2 = 15.59; February (watched, no incident) scored 100: delta -84.41.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import (
    AuditEvent,
    Cloud,
    CreditTier,
    Incident,
    IncidentStatus,
    Severity,
    VendorContractCreate,
)
from inventory.types import utcnow
from sla import contracts
from sla.incidents import previous_month
from tests.factories import SYSTEM, World
from tests.test_web_console import browser, csrf_of, log_in

MARCH = "2026-03"


@pytest.fixture(scope="module")
def beta(world: World) -> int:
    """Seeds vendor Beta (module doc); returns the P1 incident's id."""
    with Session(world.engine, expire_on_commit=False) as session:
        cloud = Cloud(name="beta-1", kind="simulator", vendor="Beta", region="rb",
                      security_level=3, created_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
        session.add(cloud)
        session.flush()
        begun = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
        incident = Incident(group_key="beta-down", title="beta down", severity=Severity.P1,
                            status=IncidentStatus.resolved, cloud_id=cloud.id,
                            created_at=begun, acknowledged_at=begun + timedelta(minutes=3),
                            acknowledged_by="oncall1", resolved_at=begun + timedelta(minutes=120),
                            resolved_by="oncall1")  # fmt: skip
        session.add(incident)
        tiers = [CreditTier(below=0.999, credit=0.1)]
        contracts.create_contract(session, SYSTEM, VendorContractCreate(
            vendor="Beta", sla_target=0.999, monthly_fee=Decimal("10000.00"),
            credit_tiers=tiers, valid_from=date(2026, 1, 1)))  # fmt: skip
        session.commit()
        return incident.id or 0


def test_roles(world: World, beta: int) -> None:
    for user, expected in [("admin1", 200), ("manager1", 200), ("oncall1", 403), ("depta", 403)]:
        client = browser(world)
        log_in(client, user)
        for path in [f"/reports?month={MARCH}", f"/reports/{MARCH}.csv"]:
            response = client.get(path, headers={"accept": "text/html"})
            assert response.status_code == expected, (user, path)
    anonymous = browser(world).get(f"/reports?month={MARCH}")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=/reports")


def test_default_month_and_the_picker(world: World, beta: int) -> None:
    client = browser(world)
    log_in(client, "manager1")
    page = client.get("/reports")
    assert page.status_code == 200
    last = previous_month(utcnow())
    assert f'type="month" id="month" name="month" value="{last}"' in page.text
    march = client.get(f"/reports?month={MARCH}").text
    assert 'href="/reports?month=2026-02"' in march
    assert 'href="/reports?month=2026-04"' in march


def test_march_figures_and_links(world: World, beta: int) -> None:
    client = browser(world)
    log_in(client, "admin1")
    html = client.get(f"/reports?month={MARCH}&live=1").text
    beta_kpis = html[html.index("厂商 Beta · ") :]
    first_row = beta_kpis[: beta_kpis.index("</tr>", beta_kpis.index("可用性"))]
    cells = re.findall(r'<td class="num">([^<]*(?:<span[^>]*>[^<]*</span>)?)</td>', first_row)
    assert cells[0] == "99.7312%"
    assert cells[1] == "15.59"  # score
    assert cells[3] == "100.00"  # February's
    assert "-84.41" in cells[4]
    assert f'href="/alerts/incidents/{beta}"' in html
    # the settlement, with its workings and the source it rests on
    settle = html[html.index('Beta <span class="status status-credit">') :]
    assert "99.7312%" in settle and "99.900%" in settle
    assert "1000.00 CNY" in settle
    assert "44.6" in settle  # allowed downtime, minutes
    assert "Prometheus is not configured" in html  # the warning: incidents only
    for key in ("scores", "availability", "mtta", "mttr"):
        assert f'id="chart-{key}-h"' in html
    assert html.count("data-chart=") >= 3
    assert "<script>" not in html


def test_bad_month_is_named_beside_the_picker(world: World) -> None:
    client = browser(world)
    log_in(client, "manager1")
    response = client.get("/reports?month=2026-13")
    assert response.status_code == 422
    assert 'aria-invalid="true" aria-describedby="month-error"' in response.text
    assert 'id="month-error"' in response.text and "YYYY-MM" in response.text


def test_generate_and_store_then_show_the_stored_copy(world: World, beta: int) -> None:
    client = browser(world)
    log_in(client, "manager1")
    page = client.get(f"/reports?month={MARCH}")
    assert "实时" in page.text and "立即生成并归档" in page.text
    assert 'data-confirm="' in page.text
    response = client.post(f"/reports/{MARCH}/generate", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/reports?month={MARCH}&generated=1"
    stored = client.get(response.headers["location"]).text
    assert "报表已生成并归档" in stored
    assert "由 manager1 于" in stored and "已归档" in stored
    assert f'href="/reports?month={MARCH}&amp;live=1"' in stored
    with Session(world.engine) as session:
        events = session.execute(
            sa.select(AuditEvent).where(
                col(AuditEvent.action) == "assessment_report.generate",
                col(AuditEvent.target_id) == MARCH,
            )
        ).scalars()
        assert [e.actor for e in events] == ["manager1"]


def test_generate_needs_csrf_and_an_ended_month(world: World) -> None:
    client = browser(world)
    log_in(client, "admin1")
    page = client.get("/reports")
    forged = client.post(f"/reports/{MARCH}/generate", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    current = utcnow().strftime("%Y-%m")  # UTC and Shanghai agree except at a month's edge
    shanghai_now = (utcnow() + timedelta(hours=8)).strftime("%Y-%m")
    response = client.post(
        f"/reports/{shanghai_now}/generate", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 422, current
    assert 'id="generate-error"' in response.text
    assert "月尚未结束" in response.text  # the service's error, in zh-CN


def test_downloads_use_the_api_renderers(world: World, beta: int) -> None:
    client = browser(world)
    log_in(client, "manager1")
    csv = client.get(f"/reports/{MARCH}.csv?live=1")
    assert csv.headers["content-type"].startswith("text/csv")
    assert f'filename="assessment-{MARCH}.csv"' in csv.headers["content-disposition"]
    beta_row = next(r for r in csv.text.splitlines() if ",vendor,Beta,availability," in r)
    assert ",15.59," in beta_row and str(beta) in beta_row
    pdf = client.get(f"/reports/{MARCH}.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    html = client.get(f"/reports/{MARCH}.html")
    assert html.headers["content-type"].startswith("text/html")
    assert "Beta" in html.text and "<script" not in html.text
    assert client.get("/reports/2026-13.csv").status_code == 422
