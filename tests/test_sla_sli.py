"""SLIs from a real Prometheus 2.42 serving 36 days of backfilled history with known outages.

The probe series has one sample a minute; the outages below are the minutes it reads 0. So
a window's downtime in minutes is exactly the outage minutes inside it, and Yunheng's
availability must equal PromQL's own avg_over_time and 1 - outage / window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from sla.availability import SHANGHAI, calendar_month, rolling_window
from sla.sli import PrometheusSli, availability_query
from sla.slo import budget_status
from tests.prom_backfill import Series, backfill, prometheus_on, require_promtool

FIRST = datetime(2026, 9, 28, tzinfo=SHANGHAI)
LAST = datetime(2026, 11, 3, tzinfo=SHANGHAI)  # exclusive
PROBE = "probe_success"
SELECTOR = 'probe_success{target="gov-portal"}'
MINUTE = 60


def _at(day: str, hhmm: str) -> int:
    return int(datetime.fromisoformat(f"{day}T{hhmm}:00+08:00").timestamp())


# (first down minute, minutes down), Asia/Shanghai times.
OUTAGES = [
    (_at("2026-09-29", "09:00"), 30),  # before October
    (_at("2026-10-05", "10:00"), 17),
    (_at("2026-10-20", "23:50"), 23),  # 10 min on the 20th, 13 on the 21st (Beijing days)
    (_at("2026-10-31", "23:55"), 12),  # 5 min in October, 7 in November
]
# Counter history: every 5 minutes, 100 requests; in these steps 10 of them fail.
BAD_STEPS = [_at("2026-10-10", "12:00") + i * 300 for i in range(10)]


def _history() -> list[Series]:
    down = {start + i * MINUTE for start, n in OUTAGES for i in range(n)}
    first, last = int(FIRST.timestamp()), int(LAST.timestamp())
    probe = [(t, 0.0 if t in down else 1.0) for t in range(first, last, MINUTE)]
    good: list[tuple[int, float]] = []
    total: list[tuple[int, float]] = []
    g = n = 0.0
    for t in range(first, last, 300):
        n += 100
        g += 90 if t in BAD_STEPS else 100
        good.append((t, g))
        total.append((t, n))
    return [
        Series(PROBE, {"target": "gov-portal"}, "gauge", probe),
        Series("http_requests_good_total", {"service": "portal"}, "counter", good),
        Series("http_requests_total", {"service": "portal"}, "counter", total),
    ]


@pytest.fixture(scope="module")
def prom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_promtool()
    workdir: Path = tmp_path_factory.mktemp("prom-backfill")
    data = backfill(workdir, _history())
    with prometheus_on(workdir, data) as peer:
        yield peer.url


@pytest.fixture
def sli(prom_url: str) -> Iterator[PrometheusSli]:
    client = PrometheusSli(prom_url)
    yield client
    client.close()


def _promql(url: str, query: str, at: datetime) -> float:
    """PromQL's own answer, asked over plain HTTP (no Yunheng code in between)."""
    params = urlencode({"query": query, "time": f"{at.timestamp():.3f}"})
    with urlopen(f"{url}/api/v1/query?{params}", timeout=30) as response:  # noqa: S310
        result = json.load(response)["data"]["result"]
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_october_equals_promql_and_the_injected_outages(sli: PrometheusSli, prom_url: str) -> None:
    start, end = calendar_month(2026, 10)
    got = sli.availability(SELECTOR, start, end)
    assert got.error is None
    # Evaluated between two samples, [31d] covers exactly October's minutes.
    own = _promql(prom_url, f"avg_over_time({SELECTOR}[31d])", end - timedelta(seconds=30))
    minutes = 31 * 24 * 60
    assert got.value is not None
    assert abs(got.value - own) < 1e-6
    assert abs(got.value - (1 - (17 + 23 + 5) / minutes)) < 1e-9
    assert got.downtime_minutes == pytest.approx(45, abs=1e-6)
    # 45 minutes against a 99.95 % budget of 22.32: burnt about twice over.
    status = budget_status(0.9995, got.value, end - start)
    assert status.budget_minutes == pytest.approx(22.32)
    assert status.burn_rate == pytest.approx(45 / 22.32)
    assert status.met is False


def test_beijing_days_split_an_outage_at_local_midnight(sli: PrometheusSli) -> None:
    day = timedelta(days=1)
    the_20th = datetime(2026, 10, 20, tzinfo=SHANGHAI)
    assert sli.availability(SELECTOR, the_20th, the_20th + day).downtime_minutes == (
        pytest.approx(10, abs=1e-6)
    )
    assert sli.availability(SELECTOR, the_20th + day, the_20th + 2 * day).downtime_minutes == (
        pytest.approx(13, abs=1e-6)
    )
    # The same outage is inside one UTC day (15:50-16:13 UTC on the 20th).
    utc_start = datetime.fromisoformat("2026-10-20T00:00:00+00:00")
    assert sli.availability(SELECTOR, utc_start, utc_start + day).downtime_minutes == (
        pytest.approx(23, abs=1e-6)
    )


def test_month_boundary_outage_splits_between_months(sli: PrometheusSli) -> None:
    start, _end = calendar_month(2026, 11)
    # November's data stops on the 3rd: the SLI covers the samples there are.
    part = sli.availability(SELECTOR, start, datetime(2026, 11, 3, tzinfo=SHANGHAI))
    assert part.downtime_minutes == pytest.approx(7, abs=1e-6)
    september = sli.availability(SELECTOR, *calendar_month(2026, 9))
    # Only Sep 28-30 have data; its availability is over those samples.
    assert september.value == pytest.approx(1 - 30 / (3 * 24 * 60), abs=1e-9)


def test_rolling_30_days(sli: PrometheusSli) -> None:
    start, end = rolling_window(datetime(2026, 11, 3, tzinfo=SHANGHAI))
    got = sli.availability(SELECTOR, start, end)
    assert got.value == pytest.approx(1 - (17 + 23 + 12) / (30 * 24 * 60), abs=1e-9)
    assert got.downtime_minutes == pytest.approx(52, abs=1e-6)


def test_month_without_data_is_no_data_not_100_percent(sli: PrometheusSli) -> None:
    got = sli.availability(SELECTOR, *calendar_month(2026, 8))
    assert got.error is None
    assert got.series == []
    assert got.value is None
    assert got.downtime_minutes is None
    assert budget_status(0.9995, got.value, timedelta(days=31)).met is None
    ratio = sli.ratio(
        'http_requests_good_total{service="portal"}',
        'http_requests_total{service="portal"}',
        *calendar_month(2026, 8),
    )
    assert ratio.value is None


def test_good_total_ratio(sli: PrometheusSli, prom_url: str) -> None:
    start, end = calendar_month(2026, 10)
    good = 'http_requests_good_total{service="portal"}'
    total = 'http_requests_total{service="portal"}'
    got = sli.ratio(good, total, start, end)
    # October's samples: 31 * 288 of them, so 8927 steps of 100 requests, 100 failed.
    assert got.value is not None
    assert got.value == pytest.approx(1 - 100 / (8927 * 100), abs=1e-9)
    own = _promql(
        prom_url,
        f"sum(increase({good}[31d])) / sum(increase({total}[31d]))",
        end - timedelta(seconds=30),
    )
    assert abs(got.value - own) < 1e-6


def test_unreachable_prometheus_is_no_data_with_the_reason() -> None:
    from tests.prom_peer import free_port

    client = PrometheusSli(f"http://127.0.0.1:{free_port()}", timeout=2)
    got = client.availability(SELECTOR, *calendar_month(2026, 10))
    client.close()
    assert got.value is None
    assert got.error is not None and "127.0.0.1" in got.error


def test_bad_selectors_are_refused_naming_the_field() -> None:
    start, end = calendar_month(2026, 10)
    with pytest.raises(ValueError, match="sli"):
        availability_query("sum(up)", start, end)
    with pytest.raises(ValueError, match="time zone"):
        availability_query("up", start.replace(tzinfo=None), end)
    with pytest.raises(ValueError, match="empty"):
        availability_query("up", end, end)
