"""The assessment as an HTML page with charts and as a PDF: content, offline-safety, API, CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session
from typer.testing import CliRunner

from console.cli import app
from inventory.models import Role
from sla.document import AssessmentDocument, assessment_document, months_ending
from sla.render_html import render_html
from sla.render_pdf import render_pdf
from sla.report import Kpi
from tests import factories
from tests.conftest import skip_or_fail
from tests.test_sla_report import NOW, _seed, build

API = "/api/v1/sla"
runner = CliRunner()


def october(session: Session) -> tuple[AssessmentDocument, dict[str, int]]:
    ids = build(session)
    return assessment_document(session, "2026-10", NOW), ids


def with_extra_kpis(doc: AssessmentDocument) -> AssessmentDocument:
    """Adds the KPIs another module contributes, as it would: same shape, new names."""
    for scope in doc.report.scopes:
        if scope.kind == "vendor":
            value = 0.62 if scope.name == "Alpha" else None
            scope.kpis += [
                Kpi(name="utilisation", value=value, score=None, weight=0.0,
                    detail="mean vCPU allocation", incident_ids=[]),
                Kpi(name="brand_new_kpi", value=3.0, score=None, weight=0.0,
                    detail="a KPI no label table knows", incident_ids=[]),
            ]  # fmt: skip
    return doc


def test_document_gathers_report_settlement_and_trend(session: Session) -> None:
    doc, ids = october(session)
    assert months_ending("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    assert doc.trend_months == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    (alpha,) = doc.trend  # Beta had no incident in six months: no line at all
    assert alpha.vendor == "Alpha"
    # September: S acked in 10 min, fixed in 43.2; October: A (3, 44.64) and B (120, 2880).
    assert alpha.mtta_minutes == [None, None, None, None, 10.0, 61.5]
    assert alpha.mttr_minutes == [None, None, None, None, 43.2, 1462.32]
    assert alpha.incidents == [0, 0, 0, 0, 1, 2]
    (settled,) = doc.settlement.vendors
    assert (settled.vendor, settled.measured, str(settled.credit_amount)) == (
        "Alpha", 0.999, "100.00",
    )  # fmt: skip
    assert settled.incident_ids == [ids["A"]]


def test_html_is_self_contained_charted_and_linked(session: Session) -> None:
    doc, ids = october(session)
    doc = with_extra_kpis(doc)
    doc.report.scopes[0].name = "<script>alert(1)</script>"  # data is escaped everywhere
    html = render_html(doc)
    assert '<html lang="zh-CN">' in html
    assert "运维考核报告 2026-10" in html
    for kind in ("availability", "scores", "mtta_trend", "mttr_trend", "utilisation"):
        figure = re.search(rf'<figure id="chart-{kind}".*?</figure>', html, re.S)
        assert figure is not None, kind
        assert "<svg" in figure.group(0) and "</svg>" in figure.group(0)
    assert html.count("<svg") == 5
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html
    assert not re.search(r'(src|href)="(?!/|#)', html)  # nothing loaded from elsewhere
    # Clip ids are unique per chart, so one chart never clips another.
    clips = re.findall(r'<clipPath id="([^"]+)"', html)
    assert len(clips) == 5 and len(set(clips)) == 5
    # Every id behind a figure links to its record in the API.
    for key in ("A", "B"):
        assert f'<a href="/alerts/incidents/{ids[key]}">#{ids[key]}</a>' in html
    # Figures as a manager reads them, hand-computed in tests/test_sla_report.py.
    assert "99.9000 %" in html and "100.00 CNY" in html and "62.00 %" in html
    assert "资源利用率" in html and "需求交付周期" in html  # the label table knows added KPIs
    assert "brand_new_kpi" in html  # unknown KPIs still show, under their own name


def test_html_without_data_says_so(session: Session) -> None:
    build(session)
    html = render_html(assessment_document(session, "2027-06", NOW))
    assert "无数据 no data" in html
    assert 'id="chart-mtta_trend"' not in html  # nothing to draw: no empty frame
    assert 'id="chart-availability"' in html  # the contract is there, its figure is no data


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        skip_or_fail(f"{name} is missing (Debian: poppler-utils)")
    assert found is not None
    return found


def test_pdf_renders_with_extractable_chinese(session: Session, tmp_path: Path) -> None:
    pdftoppm, pdftotext = _tool("pdftoppm"), _tool("pdftotext")
    doc, ids = october(session)
    body = render_pdf(with_extra_kpis(doc))
    assert body.startswith(b"%PDF")
    pdf = tmp_path / "assessment.pdf"
    pdf.write_bytes(body)
    subprocess.run([pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:200])  # pixels darker than light grey
        assert dark > 0.02 * grey.width * grey.height  # charts and tables, not a blank page
    text = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip
    for expected in ("2026-10", "Alpha", "Beta", "dept-x", "运维考核", "可用性", "资源利用率"):
        assert expected in text, expected
    # Paper cannot link: each KPI lists the incidents behind it.
    assert f"incident_ids: #{ids['A']} #{ids['B']}" in text
    assert "100.00 CNY" in text


def test_many_scopes_split_the_score_chart_across_pages(session: Session) -> None:
    doc, _ = october(session)
    template = doc.report.scopes[-1]
    doc.report.scopes += [template.model_copy(update={"name": f"d{i:02d}"}) for i in range(56)]
    assert len(doc.report.scopes) == 60  # 24 + 24 + 12 bars
    html = render_html(doc)
    assert 'id="chart-scores"' in html and 'id="chart-scores-3"' in html
    assert "(3/3)" in html and 'id="chart-scores-4"' not in html
    assert render_pdf(doc).startswith(b"%PDF")  # a chart taller than a page would raise


@pytest.fixture
def actors(session: Session) -> dict[str, factories.Actor]:
    dept = factories.department(session, "dept-a")
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "manager": factories.user(session, "manager1", Role.manager),
        "department": factories.user(session, "depta", Role.department, dept.id),
    }


def test_html_and_pdf_over_the_api(
    client: TestClient, session: Session, actors: dict[str, factories.Actor]
) -> None:
    ids = build(session)
    manager, admin = actors["manager"].headers, actors["admin"].headers
    page = client.get(f"{API}/report.html?month=2026-10", headers=manager)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f'href="/alerts/incidents/{ids["A"]}"' in page.text
    # The link leads to a real console page (which asks a browser to log in).
    assert client.get(f"/alerts/incidents/{ids['A']}", follow_redirects=False).status_code == 303
    pdf = client.get(f"{API}/report.pdf?month=2026-10", headers=admin)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="assessment-2026-10.pdf"'
    assert pdf.content.startswith(b"%PDF")
    for path in ("report.html", "report.pdf"):
        denied = client.get(f"{API}/{path}?month=2026-10", headers=actors["department"].headers)
        assert denied.status_code == 403
        bad = client.get(f"{API}/{path}?month=2026-13", headers=manager)
        assert bad.status_code == 422
        assert "month" in bad.json()["error"]


def test_cli_writes_pdf_and_html(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(cli_env, build)
    target = tmp_path / "october.pdf"
    written = runner.invoke(app, ["report", "month", "2026-10", "--format", "pdf",
                                  "--out", str(target)])  # fmt: skip
    assert written.exit_code == 0, written.output
    assert target.read_bytes().startswith(b"%PDF")
    monkeypatch.chdir(tmp_path)  # a PDF without --out lands in the current directory
    default = runner.invoke(app, ["report", "month", "2026-10", "--format", "pdf"])
    assert default.exit_code == 0, default.output
    assert (tmp_path / "assessment-2026-10.pdf").read_bytes().startswith(b"%PDF")
    html = runner.invoke(app, ["report", "month", "2026-10", "--format", "html"])
    assert html.exit_code == 0, html.output
    assert '<html lang="zh-CN">' in html.output and "<svg" in html.output
    bad = runner.invoke(app, ["report", "month", "2026-13", "--format", "pdf"])
    assert bad.exit_code == 2
    assert "month" in bad.output
