"""What every KPI source of the monthly assessment shares: the month and the scopes.

Built once per scored month (sla.report), so each source adds a fixed number of queries
however many hosts, requests or alerts there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inventory.models import Cloud
from sla.kpi import Kpi

VENDOR = "vendor"
DEPARTMENT = "department"
# A source's KPIs by (scope kind, scope name); a scope missing from it has no data.
Found = dict[tuple[str, str], Kpi]


@dataclass(frozen=True)
class Period:
    """A Shanghai calendar month [start, end) as of `now`, with the clouds (id -> row) and
    departments (id -> code) the scopes are made of."""

    start: datetime
    end: datetime
    now: datetime
    clouds: dict[int, Cloud]
    departments: dict[int, str]

    @property
    def stop(self) -> datetime:
        """Where observation ends: the month's end, or now for the running month."""
        return min(self.end, self.now)

    @property
    def begun(self) -> bool:
        return self.start < self.now

    def vendor(self, cloud_id: int | None) -> str | None:
        cloud = self.clouds.get(cloud_id) if cloud_id is not None else None
        return cloud.vendor if cloud else None
