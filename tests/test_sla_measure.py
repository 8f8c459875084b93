"""The settlement with both sources, against a real Prometheus 2.42 serving October 2026.

Every series has one sample a minute; an outage is the minutes a series reads 0. So a
vendor's Prometheus downtime is exactly its injected outage minutes, and recorded incidents
at the same times must agree with it; incidents that miss an outage must be flagged.

October in Asia/Shanghai has 44,640 minutes. The vendors:
- Alpha: one series, down 17 + 23 minutes; incidents record both exactly.
- Beta: two series, down 30 and 10 minutes (mean availability 1 - 20 / 44,640); incidents on
  two clouds record 30 and 8: a gap of 1 minute of the month, under the threshold.
- Gamma: one series, down 12 + 45 minutes; incidents record only the 12.
- Delta: an SLO whose selector matches no series; a 20-minute incident.
- Epsilon: a contract and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from inventory.models import Cloud, Incident, IncidentStatus, Severity, VendorContract
from inventory.settings import Settings
from sla.availability import SHANGHAI
from sla.measure import combined_settlement, settlement_from_settings
from sla.settlement import Status
from sla.sli import PrometheusSli, Sli
from tests.prom_backfill import Series, backfill, prometheus_on, require_promtool
from tests.prom_peer import free_port

OCTOBER = 31 * 24 * 60  # 44640 minutes
NOW = datetime(2026, 11, 10, tzinfo=UTC)
MONTH_END = datetime(2026, 11, 1, tzinfo=SHANGHAI)


def _at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2026-10-{day}T{hhmm}:00+08:00")


# series name, labels, [(first down minute, minutes down)]
SERIES = [
    ("probe_success", {"vendor": "Alpha"}, [(_at("05", "10:00"), 17), (_at("20", "23:50"), 23)]),
    ("up", {"vendor": "Beta", "instance": "b1"}, [(_at("08", "03:00"), 30)]),
    ("up", {"vendor": "Beta", "instance": "b2"}, [(_at("12", "14:00"), 10)]),
    ("up", {"vendor": "Gamma"}, [(_at("03", "08:00"), 12), (_at("25", "02:00"), 45)]),
]
SLOS = """
slos:
  - {name: alpha, scope: vendor, subject: Alpha, tier: gold, sli: 'probe_success{vendor="Alpha"}'}
  - {name: beta, scope: vendor, subject: Beta, tier: gold, sli: 'up{vendor="Beta"}'}
  - {name: gamma, scope: vendor, subject: Gamma, tier: gold, sli: 'up{vendor="Gamma"}'}
  - {name: delta, scope: vendor, subject: Delta, tier: gold, sli: 'up{vendor="Delta"}'}
  - {name: portal, scope: service, subject: portal, tier: gold, sli: 'up{job="portal"}'}
"""


def _history() -> list[Series]:
    """Minute samples from 30 Sep to 2 Nov (Shanghai): outside October they must not count."""
    first = int(datetime(2026, 9, 30, tzinfo=SHANGHAI).timestamp())
    last = int(datetime(2026, 11, 2, tzinfo=SHANGHAI).timestamp())
    made = []
    for name, labels, outages in SERIES:
        down = {int(at.timestamp()) + 60 * i for at, n in outages for i in range(n)}
        samples = [(t, 0.0 if t in down else 1.0) for t in range(first, last, 60)]
        made.append(Series(name, labels, "gauge", samples))
    return made


@pytest.fixture(scope="module")
def prom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_promtool()
    workdir: Path = tmp_path_factory.mktemp("prom-measure")
    data = backfill(workdir, _history())
    with prometheus_on(workdir, data) as peer:
        yield peer.url


@pytest.fixture
def slo_file(tmp_path: Path) -> Path:
    path = tmp_path / "slos.yml"
    path.write_text(SLOS)
    return path


def _incident(session: Session, cloud: Cloud, start: datetime, minutes: int) -> None:
    session.add(
        Incident(group_key=f"{cloud.name}-{start}", title="down", severity=Severity.P1,
                 status=IncidentStatus.resolved, cloud_id=cloud.id, created_at=start,
                 resolved_at=start + timedelta(minutes=minutes), resolved_by="auto")
    )  # fmt: skip


def build_estate(session: Session) -> None:
    registered = datetime(2026, 9, 1, tzinfo=UTC)
    clouds = {}
    for name, vendor in [("alpha-1", "Alpha"), ("beta-1", "Beta"), ("beta-2", "Beta"),
                         ("gamma-1", "Gamma"), ("delta-1", "Delta")]:  # fmt: skip
        clouds[name] = Cloud(name=name, kind="simulator", vendor=vendor, region="r1",
                             security_level=3, created_at=registered)  # fmt: skip
        session.add(clouds[name])
    for vendor in ("Alpha", "Beta", "Gamma", "Delta", "Epsilon"):
        session.add(VendorContract.model_validate({
            "vendor": vendor, "sla_target": 0.9995, "monthly_fee": Decimal("100000.00"),
            "currency": "CNY", "valid_from": "2026-01-01",
            "credit_tiers": [{"below": 0.9995, "credit": 0.10}, {"below": 0.999, "credit": 0.25}],
        }))  # fmt: skip
    session.flush()
    _incident(session, clouds["alpha-1"], _at("05", "10:00"), 17)
    _incident(session, clouds["alpha-1"], _at("20", "23:50"), 23)
    _incident(session, clouds["beta-1"], _at("08", "03:00"), 30)
    _incident(session, clouds["beta-2"], _at("12", "14:00"), 8)  # 2 minutes short
    _incident(session, clouds["gamma-1"], _at("03", "08:00"), 12)  # the 45 are missed
    _incident(session, clouds["delta-1"], _at("15", "09:00"), 20)
    session.commit()


@pytest.fixture
def estate(session: Session) -> None:
    build_estate(session)


def _settings(url: str, slo_file: Path | str, minutes: float = 5.0) -> Settings:
    return Settings(prometheus_url=url, slo_file=str(slo_file), sla_disagreement_minutes=minutes)


def _promql(url: str, query: str) -> float:
    """PromQL's own answer over October, asked over plain HTTP (no Yunheng code between):
    at 30 s before the month's end, [31d] holds exactly October's minute samples."""
    at = (MONTH_END - timedelta(seconds=30)).timestamp()
    params = urlencode({"query": query, "time": f"{at:.3f}"})
    with urlopen(f"{url}/api/v1/query?{params}", timeout=30) as response:  # noqa: S310
        result = json.load(response)["data"]["result"]
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_both_sources_basis_and_disagreements(
    session: Session, estate: None, prom_url: str, slo_file: Path
) -> None:
    settled = settlement_from_settings(session, _settings(prom_url, slo_file), "2026-10", NOW)
    assert settled.warnings == [] and settled.source == "prometheus+incidents"
    rows = {row.vendor: row for row in settled.vendors}
    assert sorted(rows) == ["Alpha", "Beta", "Delta", "Epsilon", "Gamma"]

    selectors = {"Alpha": 'probe_success{vendor="Alpha"}', "Beta": 'up{vendor="Beta"}',
                 "Gamma": 'up{vendor="Gamma"}'}  # fmt: skip
    for vendor, selector in selectors.items():
        own = _promql(prom_url, f"avg(avg_over_time({selector}[31d]))")
        assert rows[vendor].basis == "prometheus"
        assert abs((rows[vendor].measured or 0) - own) < 1e-6, vendor

    alpha = rows["Alpha"]  # incidents agree exactly
    assert alpha.prometheus is not None and alpha.incidents is not None
    assert alpha.prometheus.downtime_minutes == pytest.approx(40, abs=1e-6)
    assert alpha.incidents.downtime_minutes == 40
    assert alpha.measured == pytest.approx(1 - 40 / OCTOBER, abs=1e-9)
    assert (alpha.difference_minutes, alpha.disagreement) == (0, None)
    assert 'probe_success{vendor="Alpha"}' in alpha.workings

    beta = rows["Beta"]  # two series: their mean; downtime summed over series
    assert beta.prometheus is not None and beta.prometheus.members == 2
    assert beta.measured == pytest.approx(1 - 20 / OCTOBER, abs=1e-9)
    assert beta.prometheus.downtime_minutes == pytest.approx(40, abs=1e-6)
    assert beta.prometheus.watched_minutes == 2 * OCTOBER
    assert beta.incidents is not None and beta.incidents.downtime_minutes == 38
    assert beta.difference_minutes == pytest.approx(1.0, abs=1e-6)  # 2 of 2 x 44640 minutes
    assert beta.disagreement is None

    gamma = rows["Gamma"]  # incidents missed 45 minutes: flagged, Prometheus settles
    assert gamma.prometheus is not None and gamma.prometheus.downtime_minutes == pytest.approx(57)
    assert gamma.incidents is not None and gamma.incidents.downtime_minutes == 12
    assert gamma.difference_minutes == pytest.approx(45, abs=1e-6)
    assert gamma.disagreement is not None
    assert "99.8723 %" in gamma.disagreement and "99.9731 %" in gamma.disagreement
    # 1 - 57/44640 = 0.998723 < 99.9 %: the 25 % tier (incidents alone: 0.999731, met).
    assert (gamma.status, gamma.credit_amount) == (Status.credit, Decimal("25000.00"))

    delta = rows["Delta"]  # no series: no data from Prometheus, never 100 %
    assert delta.prometheus is not None and delta.prometheus.availability is None
    assert delta.prometheus.downtime_minutes is None
    assert delta.basis == "incidents"
    assert delta.measured == pytest.approx(1 - 20 / OCTOBER)
    assert delta.disagreement is not None and "Prometheus has no data" in delta.disagreement

    epsilon = rows["Epsilon"]  # nothing from either: no data, nothing to disagree about
    assert (epsilon.status, epsilon.measured, epsilon.credit_amount) == (Status.no_data, None, None)
    assert epsilon.prometheus is not None and "no vendor-scope SLO" in epsilon.prometheus.detail
    assert epsilon.disagreement is None


def test_threshold_and_queries_asked(
    session: Session, estate: None, prom_url: str, slo_file: Path
) -> None:
    asked: list[str] = []

    class Counting(PrometheusSli):
        def availability(self, selector: str, start: datetime, end: datetime) -> Sli:
            asked.append(selector)
            return super().availability(selector, start, end)

    from sla.burn import load_slos

    source = Counting(prom_url)
    try:
        settled = combined_settlement(session, "2026-10", NOW, source=source,
                                      slos=load_slos(slo_file), threshold_minutes=0.5)  # fmt: skip
    finally:
        source.close()
    # One query per vendor-scope SLO of a vendor with a contract; the service SLO is not asked.
    assert sorted(asked) == sorted(
        ['probe_success{vendor="Alpha"}', 'up{vendor="Beta"}', 'up{vendor="Gamma"}',
         'up{vendor="Delta"}']
    )  # fmt: skip
    rows = {row.vendor: row for row in settled.vendors}
    assert rows["Beta"].disagreement is not None and "1.00 minutes" in rows["Beta"].disagreement
    assert rows["Alpha"].disagreement is None


def test_month_in_progress_compares_the_minutes_so_far(
    session: Session, estate: None, prom_url: str, slo_file: Path
) -> None:
    now = datetime(2026, 10, 15, tzinfo=SHANGHAI)  # 14 days: 20,160 minutes
    settled = settlement_from_settings(session, _settings(prom_url, slo_file), "2026-10", now)
    rows = {row.vendor: row for row in settled.vendors}
    alpha = rows["Alpha"]  # only the 17-minute outage of the 5th so far
    assert alpha.prometheus is not None and alpha.incidents is not None
    assert alpha.prometheus.downtime_minutes == pytest.approx(17, abs=1e-6)
    assert alpha.incidents.downtime_minutes == 17
    assert alpha.measured == pytest.approx(1 - 17 / 20160, abs=1e-9)
    assert rows["Gamma"].disagreement is None  # the missed outage is on the 25th
    assert rows["Beta"].difference_minutes == pytest.approx(1.0, abs=1e-6)


def test_prometheus_down_settles_from_incidents_with_a_warning(
    session: Session, estate: None, slo_file: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settled = settlement_from_settings(session, _settings(url, slo_file), "2026-10", NOW)
    assert len(settled.warnings) == 1 and "127.0.0.1" in settled.warnings[0]
    assert settled.source == "incidents"
    rows = {row.vendor: row for row in settled.vendors}
    assert {row.basis for row in rows.values()} == {"incidents"}
    assert all(row.disagreement is None for row in rows.values())
    gamma = rows["Gamma"]  # from its incidents alone: 12 minutes, 0.999731, target met
    assert gamma.measured == pytest.approx(1 - 12 / OCTOBER)
    assert (gamma.status, gamma.credit_amount) == (Status.met, Decimal("0.00"))
    assert gamma.prometheus is not None and gamma.prometheus.availability is None


def test_without_prometheus_or_with_a_bad_slo_file(
    session: Session, estate: None, tmp_path: Path
) -> None:
    plain = settlement_from_settings(session, Settings(prometheus_url=""), "2026-10", NOW)
    assert "not configured" in plain.warnings[0]
    assert all(row.prometheus is None and row.basis == "incidents" for row in plain.vendors)
    bad = tmp_path / "bad.yml"
    bad.write_text("slos: [{name: x, scope: vendor}]")
    settled = settlement_from_settings(
        session, _settings("http://127.0.0.1:1", bad), "2026-10", NOW
    )
    assert "YUNHENG_SLO_FILE" in settled.warnings[0]
    assert [r.measured for r in settled.vendors] == [r.measured for r in plain.vendors]


def test_sla_status_shows_both_sources(
    cli_env: str, prom_url: str, slo_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.cli import app
    from inventory.db import make_engine

    engine = make_engine(cli_env)
    with Session(engine) as session:
        build_estate(session)
    engine.dispose()
    monkeypatch.setenv("YUNHENG_PROMETHEUS_URL", prom_url)
    monkeypatch.setenv("YUNHENG_SLO_FILE", str(slo_file))
    runner = CliRunner()
    done = runner.invoke(app, ["sla", "status", "--month", "2026-10"], env={"COLUMNS": "250"})
    assert done.exit_code == 0, done.output
    assert "Gamma: 99.8723 % against 99.95 %, below target (from prometheus)" in done.output
    assert "disagreement: Prometheus 99.8723 %" in done.output
    assert "incidents: 99.9731 % (12 min down over 1 cloud(s))" in done.output
    bad = runner.invoke(app, ["sla", "status", "--month", "2026-13"])
    assert bad.exit_code == 2 and "--month" in bad.output
