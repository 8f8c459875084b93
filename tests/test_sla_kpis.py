"""The assessment's other KPIs (utilisation, lead time, provisioning success, alert noise,
department availability): hand-computed figures over tests/kpi_estate.py, edge cases, scoring
rules, weights, and a fixed number of queries however big the estate."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from inventory.models import (
    Alert,
    AlertSource,
    AlertState,
    Allocation,
    AllocationStatus,
    Cloud,
    Department,
    Host,
    IncidentEvent,
    Plan,
    PlanStatus,
    RequestStatus,
    ResourceRequest,
)
from inventory.settings import Settings
from sla.cloud_availability import cloud_downtime
from sla.incidents import month_bounds
from sla.kpi import (
    DEFAULT_WEIGHTS,
    KpiConfig,
    kpi_config,
    score_band,
    score_compliance,
    score_time_ratio,
    weighted_total,
)
from sla.report import CSV_COLUMNS, Kpi, Report, monthly_report, report_csv
from sla.settlement import availability_from_incidents
from tests import kpi_estate
from tests.kpi_estate import AUGUST, Ids, utc

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def kpi(report: Report, kind: str, scope: str, name: str) -> Kpi:
    found = next(s for s in report.scopes if (s.kind, s.name) == (kind, scope))
    return next(k for k in found.kpis if k.name == name)


def total(report: Report, kind: str, scope: str) -> float | None:
    return next(s.score for s in report.scopes if (s.kind, s.name) == (kind, scope))


@pytest.fixture
def built(session: Session) -> tuple[Ids, Report]:
    ids = kpi_estate.build(session)
    return ids, monthly_report(session, "2026-10", NOW)


def test_scoring_rules_are_monotone() -> None:
    config = KpiConfig()
    band = [score_band(x / 100, config) for x in range(0, 121)]
    assert [score_band(x, config) for x in (0.0, 0.25, 0.5, 0.8, 0.9, 1.0, 1.2)] == [
        0.0, 50.0, 100.0, 100.0, 50.0, 0.0, 0.0,
    ]  # fmt: skip
    # closer to the band never scores lower: rising up to 0.5, flat to 0.8, falling after
    assert band[:51] == sorted(band[:51])
    assert set(band[50:81]) == {100.0}
    assert band[80:] == sorted(band[80:], reverse=True)
    ratios = [score_time_ratio(x / 10, config) for x in range(0, 60)]  # lead time, noise
    assert ratios == sorted(ratios, reverse=True)
    assert score_time_ratio(42 / 24, config) == 75.0
    shares = [score_compliance(x / 100) for x in range(101)]  # provisioning success
    assert shares == sorted(shares) and (shares[0], shares[-1]) == (0.0, 100.0)
    narrow = KpiConfig(utilisation_low=0.6, utilisation_high=0.7)
    assert (score_band(0.3, narrow), score_band(0.85, narrow)) == (50.0, 50.0)
    with pytest.raises(ValueError, match="utilisation_low"):
        KpiConfig(utilisation_low=0.8, utilisation_high=0.5)


def test_default_weights_sum_to_one_and_normalise() -> None:
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0)
    assert max(DEFAULT_WEIGHTS, key=lambda k: DEFAULT_WEIGHTS[k]) == "availability"
    assert len(DEFAULT_WEIGHTS) == 8
    scores: dict[str, float | None] = {"availability": 50.0, "lead_time": 100.0, "mtta": None}
    # 0.25 and 0.1 normalised over the two with data: (12.5 + 10) / 0.35
    assert weighted_total(scores, KpiConfig()) == 64.29
    tenfold = KpiConfig(weights={k: 10 * w for k, w in DEFAULT_WEIGHTS.items()})
    assert weighted_total(scores, tenfold) == 64.29  # only the proportions matter
    partial = KpiConfig(weights={"lead_time": 0.25})  # the others keep their defaults
    assert partial.weights["availability"] == 0.25
    assert weighted_total(scores, partial) == 75.0


def test_vendor_figures_by_hand(built: tuple[Ids, Report]) -> None:
    ids, got = built
    util = kpi(got, "vendor", "Alpha", "utilisation")
    # 72 of 80 schedulable vcpus (h1, h2 10 x 2.0; h4, h5 20; h3 gone): 0.9 -> 50
    assert (util.value, util.score) == (0.9, 50.0)
    assert "snapshot" in util.detail and "memory_mb 0.2000" in util.detail
    assert util.cloud_ids == [ids.clouds["alpha-1"], ids.clouds["alpha-2"]]
    beta = kpi(got, "vendor", "Beta", "utilisation")
    assert (beta.value, beta.score) == (0.375, 75.0)
    lead = kpi(got, "vendor", "Alpha", "lead_time")
    # R1 12 h and R2 72 h went to Alpha: 42 h over 24 -> 1.75 -> 75
    assert (lead.value, lead.score) == (42.0, 75.0)
    assert lead.request_ids == [ids.requests["R1"], ids.requests["R2"]]
    # Beta had only R1's third replica: R3 was fulfilled on 1 November, Shanghai time
    assert kpi(got, "vendor", "Beta", "lead_time").request_ids == [ids.requests["R1"]]
    prov = kpi(got, "vendor", "Alpha", "provisioning_success")
    assert (prov.value, prov.score) == (0.7143, 71.43)  # R1 2 + R2 2 + R4 1 of 7
    assert prov.plan_ids == [ids.plans[k] for k in ("R1", "R2", "R4")]
    # Beta: R1 and R3 made, R5 (decided 00:30 on 1 Oct Shanghai) failed, R4's pending left out
    assert kpi(got, "vendor", "Beta", "provisioning_success").value == 0.6667
    noise = kpi(got, "vendor", "Alpha", "alert_noise")
    # A1 x3 and A2 x1 over h1, h2, h4 (h3 gone in September, h5 new in November)
    assert (noise.value, noise.score) == (1.3333, 100.0)
    assert noise.alert_ids == [ids.alerts["A1"], ids.alerts["A2"]]
    assert noise.incident_ids == [ids.incidents["alpha"]]
    # Everything present: (25 + 10 + 10 + 15 + 5 + 7.5 + 7.143 + 10) / 1.0
    assert total(got, "vendor", "Alpha") == 89.64
    # Beta has no contract and no P1: (6.667 + 10 + 7.5 + 10 + 6.667 + 10) / 0.6
    assert total(got, "vendor", "Beta") == 84.72


def test_department_figures_by_hand(built: tuple[Ids, Report]) -> None:
    ids, got = built
    avail = kpi(got, "department", "dept-x", "availability")
    # 3 replicas on alpha-1 (0.999) and 2 on beta-1 (0.998, one gone on 20 October):
    # 0.9986, budget used 0.0014 / 0.0005 = 2.8 against w2's 0.9995 -> 10
    assert (avail.value, avail.score) == (0.9986, 10.0)
    assert avail.incident_ids == [ids.incidents["alpha"], ids.incidents["beta"]]
    assert avail.cloud_ids == [ids.clouds["alpha-1"], ids.clouds["beta-1"]]
    unjudged = kpi(got, "department", "dept-y", "availability")
    assert (unjudged.value, unjudged.score) == (1.0, None)  # no SLA target: not scored
    util = kpi(got, "department", "dept-x", "utilisation")
    assert (util.value, util.score) == (0.9, 50.0)  # 9 of 10 vcpus, 3,072 of 4,096 MB
    assert kpi(got, "department", "dept-x", "lead_time").value == 42.0
    assert kpi(got, "department", "dept-x", "provisioning_success").value == 0.8333
    assert kpi(got, "department", "dept-y", "provisioning_success").value == 0.5
    noise = kpi(got, "department", "dept-x", "alert_noise")
    assert (noise.value, noise.alert_ids) == (0.8, [ids.alerts["A1"], ids.alerts["A4"]])
    # (0.25 x 10 + 0.1 x (50 + 75 + 83.33 + 100)) / 0.65
    assert total(got, "department", "dept-x") == 51.28


def test_no_data_is_never_zero_or_hundred(built: tuple[Ids, Report]) -> None:
    _, got = built
    for name in ("utilisation", "lead_time", "provisioning_success", "alert_noise"):
        empty = kpi(got, "vendor", "Gamma", name)  # a cloud with no hosts, no requests
        assert (empty.value, empty.score) == (None, None), name
        assert empty.detail.startswith("no data")
    for name in ("availability", "utilisation", "lead_time", "alert_noise"):
        assert kpi(got, "department", "dept-z", name).score is None, name
    assert kpi(got, "department", "dept-y", "utilisation").score is None  # instances quota only
    assert kpi(got, "department", "dept-y", "lead_time").score is None  # R3 is November's
    # utilisation is a snapshot: the month before has none, so no trend either
    util = kpi(got, "vendor", "Alpha", "utilisation")
    assert (util.previous_score, util.delta) == (None, None)


def test_month_before_and_after(session: Session) -> None:
    ids = kpi_estate.build(session)
    november = monthly_report(session, "2026-11", NOW)
    # R3: 10:00Z to 17:00Z on 31 October, i.e. fulfilled at 01:00 on 1 November in Shanghai
    lead = kpi(november, "department", "dept-y", "lead_time")
    assert (lead.value, lead.request_ids) == (7.0, [ids.requests["R3"]])
    # A2's episode at 16:00Z on 31 October is November's, over h1, h2, h4 and h5 (so far)
    noise = kpi(november, "vendor", "Alpha", "alert_noise")
    assert (noise.value, noise.alert_ids) == (0.25, [ids.alerts["A2"]])
    assert kpi(november, "vendor", "Alpha", "provisioning_success").score is None  # none decided
    october = monthly_report(session, "2026-10", NOW)
    # September: R6's one allocation failed: 0 of 1 scores 0 (there was data)
    assert kpi(october, "vendor", "Alpha", "provisioning_success").previous_score == 0.0
    # September's Alpha had 4 hosts (h3 until the 15th) and no alert: 0 per host
    assert kpi(october, "vendor", "Alpha", "alert_noise").previous_score == 100.0
    future = monthly_report(session, "2027-01", NOW)
    assert all(k.score is None for s in future.scopes for k in s.kpis)
    assert (
        kpi(future, "vendor", "Alpha", "utilisation").detail == "no data: the month has not begun"
    )
    # every scope lists the whole catalogue, in its order
    assert {tuple(k.name for k in s.kpis) for s in october.scopes} == {tuple(DEFAULT_WEIGHTS)}


def test_overrides_change_scores(session: Session) -> None:
    kpi_estate.build(session)
    strict = KpiConfig(alert_noise_target=0.5, lead_time_target_hours=12,
                       utilisation_high=0.9)  # fmt: skip
    got = monthly_report(session, "2026-10", NOW, strict)
    assert kpi(got, "vendor", "Alpha", "alert_noise").score == 44.44  # ratio 2.667
    assert kpi(got, "vendor", "Alpha", "lead_time").score == 16.67  # 42 / 12 = 3.5
    assert kpi(got, "vendor", "Alpha", "utilisation").score == 100.0
    only = KpiConfig(weights=dict.fromkeys(DEFAULT_WEIGHTS, 0.0) | {"lead_time": 1.0})
    assert total(monthly_report(session, "2026-10", NOW, only), "vendor", "Alpha") == 75.0


def test_per_cloud_downtime_adds_up_to_the_vendor_figure(session: Session) -> None:
    ids = kpi_estate.build(session)
    start, end = month_bounds("2026-10")
    clouds = cloud_downtime(session, start, end, NOW)
    assert clouds[ids.clouds["alpha-1"]].availability == 0.999
    assert clouds[ids.clouds["beta-1"]].availability == 0.998
    vendor = availability_from_incidents(session, start, end, NOW)["Alpha"]
    alpha = [clouds[ids.clouds[c]] for c in ("alpha-1", "alpha-2")]
    summed = 1 - sum(c.downtime_minutes for c in alpha) / sum(c.window_minutes for c in alpha)
    assert round(summed, 9) == vendor.availability == 0.9995


def test_csv_carries_the_new_links(built: tuple[Ids, Report]) -> None:
    ids, got = built
    rows = list(csv.DictReader(io.StringIO(report_csv(got))))
    assert CSV_COLUMNS[-5:] == ["incident_ids", "request_ids", "plan_ids", "alert_ids",
                                "cloud_ids"]  # fmt: skip
    by_key = {(r["scope"], r["kpi"]): r for r in rows}
    lead = by_key[("Alpha", "lead_time")]
    assert (lead["value"], lead["request_ids"]) == (
        "42.0",
        f"{ids.requests['R1']} {ids.requests['R2']}",
    )
    assert by_key[("Gamma", "utilisation")]["score"] == ""  # no data: empty, not 0
    assert by_key[("dept-x", "total")]["score"] == "51.28"


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


def _grow(session: Session, ids: Ids, n: int) -> None:
    """n more hosts, fulfilled requests with allocations, and alert episodes."""
    cloud = ids.clouds["alpha-1"]
    dept = session.execute(sa.select(col(Department.id))).scalars().first()
    user = session.execute(sa.select(col(ResourceRequest.requested_by))).scalars().first()
    for i in range(n):
        host = Host(name=f"g{i}", cloud_id=cloud, external_id=f"g{i}", vcpus=8, memory_mb=8192,
                    disk_gb=10, vcpus_used=4, first_seen_at=AUGUST)  # fmt: skip
        request = ResourceRequest(service_name=f"grow-{i}", replicas=1, vcpus=1, memory_mb=256,
                                  department_id=dept or 0, requested_by=user or 0,
                                  status=RequestStatus.fulfilled,
                                  created_at=utc("2026-10-02T00:00"),
                                  fulfilled_at=utc("2026-10-02T06:00"))  # fmt: skip
        alert = Alert(fingerprint=f"grow-{i}", source=AlertSource.builtin, name="g",
                      state=AlertState.resolved, active_since=AUGUST, cloud_id=cloud)  # fmt: skip
        session.add_all([host, request, alert])
        session.flush()
        plan = Plan(request_id=request.id, status=PlanStatus.applied, solver="greedy",
                    decided_at=utc("2026-10-02T01:00"))  # fmt: skip
        session.add(plan)
        session.flush()
        session.add(Allocation(plan_id=plan.id or 0, replica_index=0, host_id=host.id or 0,
                               cloud_id=cloud, idempotency_key=f"grow-{i}",
                               status=AllocationStatus.provisioned))  # fmt: skip
        session.add(IncidentEvent(incident_id=ids.incidents["alpha"], kind="alert_added",
                                  at=utc("2026-10-03T00:00"), actor="system",
                                  data={"alert_id": alert.id}))  # fmt: skip
    session.commit()


def test_a_fixed_number_of_queries(session: Session, engine: Engine) -> None:
    ids = kpi_estate.build(session)
    with counted(engine) as small:
        monthly_report(session, "2026-10", NOW)
    _grow(session, ids, 40)
    with counted(engine) as big:
        grown = monthly_report(session, "2026-10", NOW)
    assert kpi(grown, "vendor", "Alpha", "lead_time").request_ids[-1] > ids.requests["R6"]
    assert len(big) == len(small)
    assert session.execute(sa.select(sa.func.count()).select_from(Cloud)).scalar_one() == 4


def test_weights_and_targets_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        assessment_kpis={
            "weights": {"availability": 0.5, "alert_noise": 0},
            "lead_time_target_hours": 48,
        },
    )
    config = kpi_config(settings)
    assert config.weights["availability"] == 0.5 and config.weights["alert_noise"] == 0
    assert config.weights["mtta"] == DEFAULT_WEIGHTS["mtta"]  # what it leaves out keeps its default
    assert config.lead_time_target_hours == 48
    for bad, named in [
        ({"weights": {"uptime": 1}}, "unknown KPI"),
        ({"wieghts": {}}, "wieghts"),
        ({"lead_time_target_hours": -1}, "lead_time_target_hours"),
    ]:
        with pytest.raises(ValueError, match=named) as caught:
            kpi_config(Settings(data_dir=tmp_path, assessment_kpis=bad))
        assert "YUNHENG_ASSESSMENT_KPIS" in str(caught.value)
