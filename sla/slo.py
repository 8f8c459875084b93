"""SLO definitions, tiers, error budgets and burn rates.

An SLO is a target ratio (say 99.95 %) for one scope (a service, zone, cloud or vendor) over
a window (a rolling 30 days or a calendar month in Asia/Shanghai). The error budget is what
the target allows to fail: 1 - target. A burn rate of 1 spends exactly the budget in the
window; 14.4 spends a 30-day budget in 50 hours.

Measured availability may be None ("no data"): then the budget and burn are None too, never
a perfect month.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sla.availability import downtime_minutes

# The default tiers; `SloTiers` takes others by name.
DEFAULT_TIERS: dict[str, float] = {"gold": 0.9995, "silver": 0.999, "bronze": 0.995}

Ratio = Annotated[float, Field(gt=0.0, lt=1.0)]


class Scope(StrEnum):
    service = "service"
    zone = "zone"
    cloud = "cloud"
    vendor = "vendor"


class WindowKind(StrEnum):
    rolling = "rolling"  # the last `days` days, ending now
    calendar_month = "calendar_month"  # one Asia/Shanghai calendar month


class SloTiers(BaseModel):
    """Named targets; an SLO names a tier or gives its own target."""

    model_config = ConfigDict(extra="forbid")

    tiers: dict[str, Ratio] = Field(default_factory=lambda: dict(DEFAULT_TIERS))

    def target(self, tier: str) -> float:
        try:
            return self.tiers[tier]
        except KeyError:
            known = ", ".join(sorted(self.tiers)) or "none"
            raise ValueError(f"tier: {tier!r} is not a known tier ({known})") from None


class Slo(BaseModel):
    """One objective: `target` of `scope` `name`, measured by `sli` over the window."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="e.g. 'gov-portal availability'")
    scope: Scope
    subject: str = Field(min_length=1, description="the service / zone / cloud / vendor id")
    target: Ratio
    window: WindowKind = WindowKind.rolling
    days: int = Field(default=30, ge=1, le=366, description="rolling window length")
    sli: str = Field(
        min_length=1,
        description="PromQL selector of an up / probe_success series, e.g. up{job='portal'}",
    )

    @field_validator("name", "subject", "sli")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @classmethod
    def from_tier(cls, tiers: SloTiers, tier: str, **fields: object) -> Slo:
        return cls.model_validate({**fields, "target": tiers.target(tier)})

    @property
    def error_budget(self) -> float:
        return error_budget(self.target)

    def budget_minutes(self, window: timedelta | None = None) -> float:
        """Minutes of downtime the target allows in `window` (default: the rolling days)."""
        return downtime_minutes(self.target, window or timedelta(days=self.days))


class BudgetStatus(BaseModel):
    """An SLO against a measured availability; None throughout when there was no data."""

    target: float
    measured: float | None
    window_minutes: float
    budget_minutes: float
    spent_minutes: float | None
    remaining_ratio: float | None = Field(description="1 = untouched, 0 = spent, < 0 overspent")
    burn_rate: float | None
    met: bool | None


def error_budget(target: float) -> float:
    """The fraction allowed to fail: 1 - target."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target: {target!r} must be between 0 and 1 (exclusive)")
    return 1.0 - target


def burn_rate(measured: float | None, target: float) -> float | None:
    """How fast the budget burns: (1 - measured) / (1 - target). 1 spends exactly the budget
    over the SLO window; None without data."""
    if measured is None:
        return None
    return (1.0 - measured) / error_budget(target)


def budget_remaining(measured: float | None, target: float) -> float | None:
    """Share of the budget left after a window measured at `measured`: 1 - burn rate."""
    rate = burn_rate(measured, target)
    return None if rate is None else 1.0 - rate


def budget_status(target: float, measured: float | None, window: timedelta) -> BudgetStatus:
    """The budget of `target` over `window` against what was measured over that window."""
    budget = downtime_minutes(target, window)
    spent = None if measured is None else downtime_minutes(measured, window)
    return BudgetStatus(
        target=target,
        measured=measured,
        window_minutes=window.total_seconds() / 60.0,
        budget_minutes=budget,
        spent_minutes=spent,
        remaining_ratio=budget_remaining(measured, target),
        burn_rate=burn_rate(measured, target),
        met=None if measured is None else measured >= target,
    )
