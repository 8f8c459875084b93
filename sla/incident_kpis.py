"""The incident KPIs of the assessment: MTTA, MTTR and P1 compliance over a scope's incidents.

Incidents count in the month they started (as in sla.incidents); the ratios are each
incident's time over its severity's target, scored by sla.kpi's time-ratio rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.severity import ack_targets, outcome
from inventory.models import Incident, Severity
from sla.kpi import Kpi, KpiConfig, score_compliance, score_time_ratio


def time_ratios(
    incidents: list[Incident], config: KpiConfig
) -> tuple[dict[int, float], dict[int, float]]:
    """Incident id -> time to acknowledge over target, and time to resolve over target."""
    targets = ack_targets()
    repair = {s: timedelta(minutes=m) for s, m in config.repair_minutes.items()}
    acks = {
        i.id or 0: (i.acknowledged_at - i.created_at) / targets[Severity(i.severity)]
        for i in incidents
        if i.acknowledged_at is not None
    }
    fixes = {
        i.id or 0: (i.resolved_at - i.created_at) / repair[Severity(i.severity)]
        for i in incidents
        if i.resolved_at is not None
    }
    return acks, fixes


def _ratio_kpi(
    name: str, incidents: list[Incident], spans: dict[int, float], config: KpiConfig
) -> Kpi:
    """Mean of (time taken / target) over the incidents that have a time."""
    ratios = [spans[i.id or 0] for i in incidents if (i.id or 0) in spans]
    ids = sorted(i.id or 0 for i in incidents if (i.id or 0) in spans)
    if not ratios:
        return config.no_data(name)
    mean = round(sum(ratios) / len(ratios), 4)
    return Kpi(
        name=name,
        value=mean,
        score=score_time_ratio(mean, config),
        weight=config.weights.get(name, 0.0),
        detail=f"mean time/target {mean} over {len(ratios)} incidents",
        incident_ids=ids,
    )


def incident_kpis(
    incidents: list[Incident],
    now: datetime,
    config: KpiConfig,
    acks: dict[int, float],
    fixes: dict[int, float],
) -> list[Kpi]:
    """mtta, mttr and p1_compliance over one scope's incidents."""
    targets = ack_targets()
    met = breached = 0
    p1_ids = []
    for i in incidents:
        if Severity(i.severity) != Severity.P1:
            continue
        decided = outcome(i, now, targets).value
        if decided in ("met", "breached"):
            p1_ids.append(i.id or 0)
            met, breached = met + (decided == "met"), breached + (decided == "breached")
    if met + breached:
        ratio = round(met / (met + breached), 4)
        p1 = Kpi(
            name="p1_compliance",
            value=ratio,
            score=score_compliance(ratio),
            weight=config.weights.get("p1_compliance", 0.0),
            detail=f"{met} of {met + breached} P1 within target",
            incident_ids=sorted(p1_ids),
        )
    else:
        p1 = config.no_data("p1_compliance")
    return [
        _ratio_kpi("mtta", incidents, acks, config),
        _ratio_kpi("mttr", incidents, fixes, config),
        p1,
    ]
