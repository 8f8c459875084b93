"""The assessment's KPI catalogue: weights, targets and the 0-100 scoring rules.

Every rule is monotone (a better figure never scores lower) and documented here:
- availability: budget used u = (1 - measured) / (1 - target). u <= 1 (target met) scores 100;
  beyond, 50 points are lost per whole budget overspent, so 3x the budget scores 0.
- mtta / mttr: per incident, the time taken over its severity's target (acknowledgement targets
  from alerts.severity, repair targets below); r is the mean of those ratios. r <= 1 scores 100,
  r >= 4 scores 0, linear in between.
- p1_compliance: the share of decided P1 incidents acknowledged within target, times 100.
A KPI with no data (no incidents, nothing observed) is reported as no data and left out of the
weighted mean; it is never scored 0 or 100.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from inventory.models import Severity

DEFAULT_WEIGHTS: dict[str, float] = {
    "availability": 0.4,
    "mtta": 0.2,
    "mttr": 0.2,
    "p1_compliance": 0.2,
}
# Repair (MTTR) targets: the ack targets say how fast to answer, these how fast to fix.
DEFAULT_REPAIR_MINUTES: dict[Severity, int] = {
    Severity.P1: 240,
    Severity.P2: 480,
    Severity.P3: 1440,
    Severity.P4: 4320,
}


class KpiConfig(BaseModel):
    """Weights (any non-negative numbers; normalised over the KPIs with data; a KPI not
    named keeps its default weight, 0 leaves it out) and targets."""

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    repair_minutes: dict[Severity, int] = Field(
        default_factory=lambda: dict(DEFAULT_REPAIR_MINUTES)
    )
    availability_zero_at_budgets: float = Field(default=3.0, gt=1.0)
    time_zero_at_ratio: float = Field(default=4.0, gt=1.0)

    def model_post_init(self, context: object) -> None:
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"weights: unknown KPI {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights: must not be negative")
        # partial overrides keep the defaults for the KPIs and severities they do not name
        self.weights = {**DEFAULT_WEIGHTS, **self.weights}
        self.repair_minutes = {**DEFAULT_REPAIR_MINUTES, **self.repair_minutes}


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


def weighted_total(scores: dict[str, float | None], config: KpiConfig) -> float | None:
    """The weighted mean over the KPIs that have a score; None when none has."""
    scored = {k: v for k, v in scores.items() if v is not None and config.weights.get(k, 0) > 0}
    weight = sum(config.weights[k] for k in scored)
    if not scored or weight <= 0:
        return None
    return round(sum(config.weights[k] * v for k, v in scored.items()) / weight, 2)
