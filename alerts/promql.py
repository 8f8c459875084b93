"""Prometheus as the loop sees it: instant queries that either answer samples, fail on
their own (QueryError: bad PromQL, a range vector) or find nobody there (Unreachable: the
dead man's switch). PrometheusSource is the real one, through prometheus-api-client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests


class QueryError(Exception):
    """This query failed (bad PromQL, too many series); Prometheus itself answers."""


class Unreachable(QueryError):
    """Prometheus did not answer: the dead man's switch trips."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class MetricsSource(Protocol):
    url: str

    def query(self, expr: str) -> list[Sample]: ...


def parse_result(result: Any) -> list[Sample]:
    """A /api/v1/query result: a vector of {metric, value: [t, "v"]}, or a scalar [t, "v"]."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return [Sample({}, float(result[1]))]  # a scalar: one sample with no labels
    if not isinstance(result, list):
        raise QueryError(f"unexpected query result {str(result)[:200]}")
    samples = []
    for item in result:
        if not isinstance(item, dict) or "value" not in item:
            raise QueryError("the expression must give an instant vector, not a range")
        samples.append(Sample(dict(item.get("metric") or {}), float(item["value"][1])))
    return samples


class PrometheusSource:
    """Instant queries through prometheus-api-client, failing fast: the loop has an
    interval to keep, and a silent Prometheus must trip the dead man's switch promptly."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout = timeout
        # One retry for a dropped connection, none for a slow server (that is the timeout).
        retry = Retry(total=1, connect=1, read=0, backoff_factor=0.05, status_forcelist=[])
        self._client = PrometheusConnect(url=self.url, retry=retry, timeout=timeout)

    def query(self, expr: str) -> list[Sample]:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            result = self._client.custom_query(query=expr)
        except requests.RequestException as exc:
            raise Unreachable(f"{self.url}: {type(exc).__name__}: {exc}"[:500]) from None
        except PrometheusApiClientException as exc:
            text = str(exc)
            if text.startswith("HTTP Status Code 5"):
                raise Unreachable(f"{self.url}: {text}"[:500]) from None
            raise QueryError(text[:500]) from None
        except (ValueError, KeyError) as exc:
            raise QueryError(f"unreadable answer: {exc}"[:500]) from None
        return parse_result(result)

    def close(self) -> None:
        self._client.close()
