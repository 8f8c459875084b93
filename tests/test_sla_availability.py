"""The availability maths, SLO budgets and burn rates against hand-computed figures, and the
scheduler using the very same formulas."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from scheduler import index as scheduler_index
from scheduler.validate import meets_sla, predicted_availability
from sla import availability as av
from sla.slo import (
    Scope,
    Slo,
    SloTiers,
    budget_remaining,
    budget_status,
    burn_rate,
    error_budget,
)

MONTH_30 = timedelta(days=30)


def test_downtime_and_back() -> None:
    assert av.downtime_minutes(0.9995, MONTH_30) == pytest.approx(21.6)
    assert av.downtime_minutes(0.999, MONTH_30) == pytest.approx(43.2)
    assert av.downtime_minutes(0.995, MONTH_30) == pytest.approx(216.0)
    assert av.downtime_minutes(0.9995, timedelta(days=31)) == pytest.approx(22.32)
    assert av.availability_from_downtime(21.6, MONTH_30) == pytest.approx(0.9995)
    assert av.availability_from_downtime(0, MONTH_30) == 1.0
    with pytest.raises(ValueError, match="downtime minutes"):
        av.availability_from_downtime(43201, MONTH_30)
    with pytest.raises(ValueError, match="availability"):
        av.downtime_minutes(1.2, MONTH_30)
    with pytest.raises(ValueError, match="window"):
        av.downtime_minutes(0.99, timedelta(0))


def test_serial_and_parallel() -> None:
    assert av.serial([0.999, 0.999]) == pytest.approx(0.998001)
    assert av.serial([]) == 1.0
    assert av.serial([0.9, 0.0]) == 0.0
    assert av.parallel([0.99, 0.99]) == pytest.approx(0.9999)
    assert av.parallel([]) == 0.0
    assert av.parallel([0.5, 1.0]) == 1.0
    # The tiny unavailability stays exact: 1 - (1 - 0.9995)^3 = 1 - 1.25e-10.
    assert 1 - av.replicas_across_zones([0.9995] * 3) == pytest.approx(1.25e-10, rel=1e-6)
    # A web tier on two zones in front of one database: serial of a parallel.
    assert av.serial([av.parallel([0.999, 0.999]), 0.9995]) == pytest.approx(0.999999 * 0.9995)
    with pytest.raises(ValueError, match="availability"):
        av.parallel([float("nan")])


def test_zone_weights_are_the_schedulers() -> None:
    assert scheduler_index.zone_weight is av.zone_weight
    assert av.zone_weight(0.99) == pytest.approx(-math.log(0.01))
    # Two 99 % zones make exactly 99.99 %: weights add up to the requirement.
    assert av.zones_meet(0.9999, [0.99, 0.99])
    assert not av.zones_meet(0.99991, [0.99, 0.99])
    assert av.zones_meet(None, [])
    for zones in ([0.99, 0.99], [0.995, 0.98, 0.9], [0.9995]):
        assert predicted_availability(zones) == av.replicas_across_zones(zones)
        for target in (0.999, 0.9999, 0.99999):
            assert meets_sla(target, zones) == av.zones_meet(target, zones)


def test_calendar_months_in_shanghai() -> None:
    start, end = av.calendar_month(2026, 10)
    assert start.isoformat() == "2026-10-01T00:00:00+08:00"
    assert end - start == timedelta(days=31)
    assert start.astimezone(UTC).isoformat() == "2026-09-30T16:00:00+00:00"
    _dec, jan = av.calendar_month(2026, 12)
    assert jan.isoformat() == "2027-01-01T00:00:00+08:00"
    feb, mar = av.calendar_month(2028, 2)
    assert mar - feb == timedelta(days=29)  # a leap year
    assert av.parse_month("2026-10") == (2026, 10)
    for bad in ("2026-13", "2026/10", "october"):
        with pytest.raises(ValueError, match="month"):
            av.parse_month(bad)


def test_the_beijing_day_and_month_an_instant_falls_in() -> None:
    # 16:30 UTC on 31 October is 00:30 on 1 November in Beijing.
    late = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
    assert av.month_of(late) == "2026-11"
    assert av.day_of(late) == "2026-11-01"
    assert av.month_of(late - timedelta(hours=1)) == "2026-10"
    assert av.day_of(late - timedelta(hours=1)) == "2026-10-31"
    with pytest.raises(ValueError, match="time zone"):
        av.month_of(datetime(2026, 10, 31))
    start, end = av.rolling_window(late)
    assert end - start == MONTH_30


def test_budgets_and_burn_rates_by_hand() -> None:
    assert error_budget(0.9995) == pytest.approx(0.0005)
    # 10.8 minutes down in 30 days at 99.95 %: half the budget, burn rate 0.5.
    measured = av.availability_from_downtime(10.8, MONTH_30)
    assert burn_rate(measured, 0.9995) == pytest.approx(0.5)
    assert budget_remaining(measured, 0.9995) == pytest.approx(0.5)
    # 43.2 minutes: twice the budget, -100 % remaining, missed.
    status = budget_status(0.9995, av.availability_from_downtime(43.2, MONTH_30), MONTH_30)
    assert status.spent_minutes == pytest.approx(43.2)
    assert status.budget_minutes == pytest.approx(21.6)
    assert status.remaining_ratio == pytest.approx(-1.0)
    assert status.burn_rate == pytest.approx(2.0)
    assert status.met is False
    # One hour at 14.4x burns 2 % of a 30-day budget: 0.432 of 21.6 minutes.
    hour = timedelta(hours=1)
    fast = av.availability_from_downtime(14.4 * 0.0005 * 60, hour)
    assert burn_rate(fast, 0.9995) == pytest.approx(14.4)
    assert av.downtime_minutes(fast, hour) / 21.6 == pytest.approx(0.02)


def test_no_data_is_never_a_perfect_month() -> None:
    status = budget_status(0.999, None, MONTH_30)
    assert status.measured is None
    assert status.spent_minutes is None
    assert status.burn_rate is None
    assert status.remaining_ratio is None
    assert status.met is None
    assert status.budget_minutes == pytest.approx(43.2)


def test_a_time_zone_day_boundary_budget() -> None:
    # 23 minutes down from 23:50 Beijing time: 10 on one local day, 13 on the next. Each
    # Beijing day at 99.95 % has a budget of 0.72 minutes.
    day = timedelta(days=1)
    assert av.downtime_minutes(0.9995, day) == pytest.approx(0.72)
    first = budget_status(0.9995, av.availability_from_downtime(10, day), day)
    second = budget_status(0.9995, av.availability_from_downtime(13, day), day)
    assert first.burn_rate == pytest.approx(10 / 0.72)
    assert second.burn_rate == pytest.approx(13 / 0.72)
    outage = datetime(2026, 10, 20, 15, 50, tzinfo=UTC)  # 23:50 in Beijing
    assert av.day_of(outage) == "2026-10-20"
    assert av.day_of(outage + timedelta(minutes=10)) == "2026-10-21"
    assert outage.date().isoformat() == (outage + timedelta(minutes=22)).date().isoformat()


def test_slo_models_and_tiers() -> None:
    tiers = SloTiers()
    assert tiers.target("gold") == 0.9995
    slo = Slo.from_tier(
        tiers, "silver", name="vendor A", scope="vendor", subject="vendor-a", sli="up"
    )
    assert slo.target == 0.999
    assert slo.scope is Scope.vendor
    assert slo.budget_minutes() == pytest.approx(43.2)
    custom = SloTiers(tiers={"platinum": 0.9999})
    assert custom.target("platinum") == 0.9999
    with pytest.raises(ValueError, match="tier"):
        custom.target("gold")
    with pytest.raises(ValidationError, match="target"):
        Slo(name="x", scope=Scope.zone, subject="z", target=1.0, sli="up")
    with pytest.raises(ValidationError, match="subject"):
        Slo(name="x", scope=Scope.zone, subject=" ", target=0.99, sli="up")
    with pytest.raises(ValidationError, match="tiers"):
        SloTiers(tiers={"gold": 1.5})
