"""SLIs from Prometheus, through prometheus-api-client.

Two kinds:
- an up / probe_success series (1 up, 0 down): availability is
  `avg_over_time(<selector>[window])`, one value per series;
- good / total counters: `sum(increase(good[w])) / sum(increase(total[w]))`.

Windows are half-open [start, end): the query is evaluated at end - 1 ms over a range 1 ms
shorter than the window, so a sample exactly at the next month's first midnight belongs to
the next month and is never counted twice.

No samples in the window is "no data" (value None), never 100 %; a Prometheus that cannot
be reached gives None with the reason in `error` (the report says so, nothing crashes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests

from sla.availability import downtime_minutes

# A plain series selector: name{labels}. avg_over_time needs a selector, not an expression.
_SELECTOR = re.compile(r"^\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{[^{}]*\})?\s*$")


@dataclass(frozen=True)
class SeriesValue:
    labels: dict[str, str]
    value: float


@dataclass
class Sli:
    """One SLI over one window. `value` is the mean over series (None: no data)."""

    query: str
    start: datetime
    end: datetime
    series: list[SeriesValue] = field(default_factory=list)
    error: str | None = None

    @property
    def value(self) -> float | None:
        values = [s.value for s in self.series if not math.isnan(s.value)]
        return math.fsum(values) / len(values) if values else None

    @property
    def downtime_minutes(self) -> float | None:
        value = self.value
        return None if value is None else downtime_minutes(value, self.end - self.start)


def _range(start: datetime, end: datetime) -> str:
    """The window as a PromQL duration 1 ms short of end - start (see the module doc)."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None:
            raise ValueError(f"{name}: {moment.isoformat()} has no time zone")
    ms = round((end - start) / timedelta(milliseconds=1))
    if ms < 2:
        raise ValueError(f"window: {start.isoformat()} .. {end.isoformat()} is empty")
    return f"{ms - 1}ms"


def availability_query(selector: str, start: datetime, end: datetime) -> str:
    if not _SELECTOR.match(selector):
        raise ValueError(f"sli: {selector!r} is not a series selector such as up{{job='x'}}")
    return f"avg_over_time({selector.strip()}[{_range(start, end)}])"


def ratio_query(good: str, total: str, start: datetime, end: datetime) -> str:
    for name, selector in (("good", good), ("total", total)):
        if not _SELECTOR.match(selector):
            raise ValueError(f"{name}: {selector!r} is not a counter selector")
    window = _range(start, end)
    return f"sum(increase({good.strip()}[{window}])) / sum(increase({total.strip()}[{window}]))"


class PrometheusSli:
    """Runs SLI queries against one Prometheus."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        retry = Retry(total=1, connect=1, read=0, backoff_factor=0.05, status_forcelist=[])
        self._client = PrometheusConnect(url=self.url, retry=retry, timeout=timeout)

    def _run(self, query: str, start: datetime, end: datetime) -> Sli:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        sli = Sli(query=query, start=start, end=end)
        at = (end - timedelta(milliseconds=1)).timestamp()
        try:
            result = self._client.custom_query(query=query, params={"time": f"{at:.3f}"})
        except (requests.RequestException, PrometheusApiClientException) as exc:
            sli.error = f"{self.url}: {type(exc).__name__}: {exc}"[:500]
            return sli
        try:
            for item in result:
                value = float(item["value"][1])
                # NaN: a ratio over zero requests, which is no data, not an outage.
                if not math.isnan(value):
                    sli.series.append(SeriesValue(dict(item.get("metric") or {}), value))
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            sli.series.clear()
            sli.error = f"{self.url}: unreadable answer: {exc}"[:500]
        return sli

    def availability(self, selector: str, start: datetime, end: datetime) -> Sli:
        """avg_over_time of an up / probe_success selector over [start, end)."""
        return self._run(availability_query(selector, start, end), start, end)

    def ratio(self, good: str, total: str, start: datetime, end: datetime) -> Sli:
        """good / total counter increase over [start, end)."""
        return self._run(ratio_query(good, total, start, end), start, end)

    def close(self) -> None:
        self._client.close()
