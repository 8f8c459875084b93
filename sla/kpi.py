"""The assessment's KPI catalogue: weights, targets and the 0-100 scoring rules.

Every rule is monotone (a better figure never scores lower) and documented here:
- availability: budget used u = (1 - measured) / (1 - target). u <= 1 (target met) scores 100;
  beyond, 50 points are lost per whole budget overspent, so 3x the budget scores 0.
- mtta / mttr: per incident, the time taken over its severity's target (acknowledgement targets
  from alerts.severity, repair targets below); r is the mean of those ratios. r <= 1 scores 100,
  r >= 4 scores 0, linear in between.
- p1_compliance: the share of decided P1 incidents acknowledged within target, times 100.
- utilisation: allocated over schedulable capacity (a band rule, below). 100 inside
  [utilisation_low, utilisation_high] (0.5-0.8); below the band linear down to 0 at 0 (idle
  capacity is money spent for nothing); above it linear down to 0 at 1.0 (no headroom: the
  next failure or request cannot be absorbed). "Better" means closer to the band, so the
  score never rises as the figure moves away from it on either side.
- lead_time: mean request fulfilment lead time in hours over lead_time_target_hours (24 h),
  scored by the mtta ratio rule (100 at <= 1, 0 at >= 4).
- provisioning_success: provisioned / (provisioned + failed) allocations, times 100 (as P1).
- alert_noise: alert episodes that reached the on-call per host (vendors) or per replica
  (departments) in the month, over alert_noise_target (2), scored by the mtta ratio rule:
  fewer alerts never score lower.
A KPI with no data (no incidents, nothing observed) is reported as no data and left out of the
weighted mean; it is never scored 0 or 100.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inventory.models import Severity
from inventory.settings import Settings

# They sum to 1 and availability, what the contract is about, weighs most.
DEFAULT_WEIGHTS: dict[str, float] = {
    "availability": 0.25,
    "mtta": 0.1,
    "mttr": 0.1,
    "p1_compliance": 0.15,
    "utilisation": 0.1,
    "lead_time": 0.1,
    "provisioning_success": 0.1,
    "alert_noise": 0.1,
}
# Repair (MTTR) targets: the ack targets say how fast to answer, these how fast to fix.
DEFAULT_REPAIR_MINUTES: dict[Severity, int] = {
    Severity.P1: 240,
    Severity.P2: 480,
    Severity.P3: 1440,
    Severity.P4: 4320,
}


class Kpi(BaseModel):
    """One figure of a scope. The `*_ids` lists name the records behind the figure, so every
    number links back to what it was computed from (renderers pick up any `*_ids` field)."""

    name: str
    value: float | None  # the raw figure (ratio, hours, alerts per host); None: no data
    score: float | None  # 0-100; None: no data (or no target to judge it by), left out
    weight: float
    detail: str
    incident_ids: list[int]
    previous_score: float | None = None
    delta: float | None = None  # score minus the previous month's; None if either is missing
    request_ids: list[int] = Field(default_factory=list)
    plan_ids: list[int] = Field(default_factory=list)
    alert_ids: list[int] = Field(default_factory=list)
    cloud_ids: list[int] = Field(default_factory=list)


class KpiConfig(BaseModel):
    """Weights (any non-negative numbers; normalised over the KPIs with data; a KPI not
    named keeps its default weight, 0 leaves it out) and targets."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    repair_minutes: dict[Severity, int] = Field(
        default_factory=lambda: dict(DEFAULT_REPAIR_MINUTES)
    )
    availability_zero_at_budgets: float = Field(default=3.0, gt=1.0)
    time_zero_at_ratio: float = Field(default=4.0, gt=1.0)
    utilisation_low: float = Field(default=0.5, gt=0.0, lt=1.0)
    utilisation_high: float = Field(default=0.8, gt=0.0, lt=1.0)
    lead_time_target_hours: float = Field(default=24.0, gt=0.0)
    alert_noise_target: float = Field(default=2.0, gt=0.0, description="per host or replica")

    def model_post_init(self, context: object) -> None:
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"weights: unknown KPI {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights: must not be negative")
        if self.utilisation_low >= self.utilisation_high:
            raise ValueError("utilisation_low: must be below utilisation_high")
        # partial overrides keep the defaults for the KPIs and severities they do not name
        self.weights = {**DEFAULT_WEIGHTS, **self.weights}
        self.repair_minutes = {**DEFAULT_REPAIR_MINUTES, **self.repair_minutes}

    def no_data(self, name: str, why: str = "no data") -> Kpi:
        """A KPI with nothing to score: shown, left out of the total."""
        return Kpi(
            name=name,
            value=None,
            score=None,
            weight=self.weights.get(name, 0.0),
            detail=why,
            incident_ids=[],
        )


def kpi_config(settings: Settings) -> KpiConfig:
    """The assessment's weights and targets from YUNHENG_ASSESSMENT_KPIS; a bad value raises
    ValueError naming the setting and the field (the app checks it at start-up)."""
    try:
        return KpiConfig.model_validate(settings.assessment_kpis)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        raise ValueError(f"YUNHENG_ASSESSMENT_KPIS: {where}: {first.get('msg')}") from None
    except ValueError as exc:  # the cross-field checks of model_post_init
        raise ValueError(f"YUNHENG_ASSESSMENT_KPIS: {exc}") from None


def _clamp(value: float) -> float:
    return round(max(0.0, min(100.0, value)), 2)


def score_availability(measured: float, target: float, config: KpiConfig) -> float:
    used = (1.0 - measured) / (1.0 - target)
    if used <= 1.0:
        return 100.0
    return _clamp(
        100.0
        * (config.availability_zero_at_budgets - used)
        / (config.availability_zero_at_budgets - 1.0)
    )


def score_time_ratio(ratio: float, config: KpiConfig) -> float:
    if ratio <= 1.0:
        return 100.0
    zero = config.time_zero_at_ratio
    return _clamp(100.0 * (zero - ratio) / (zero - 1.0))


def score_compliance(ratio: float) -> float:
    return _clamp(100.0 * ratio)


def score_band(ratio: float, config: KpiConfig) -> float:
    """Utilisation: 100 inside the band, linear to 0 at empty and at full (see module doc)."""
    low, high = config.utilisation_low, config.utilisation_high
    if ratio < low:
        return _clamp(100.0 * ratio / low)
    if ratio > high:
        return _clamp(100.0 * (1.0 - ratio) / (1.0 - high))
    return 100.0


def weighted_total(scores: dict[str, float | None], config: KpiConfig) -> float | None:
    """The weighted mean over the KPIs that have a score; None when none has."""
    scored = {k: v for k, v in scores.items() if v is not None and config.weights.get(k, 0) > 0}
    weight = sum(config.weights[k] for k in scored)
    if not scored or weight <= 0:
        return None
    return round(sum(config.weights[k] * v for k, v in scored.items()) / weight, 2)
