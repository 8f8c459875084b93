"""Vendor availability from Prometheus, and a settlement that weighs it against incidents.

Decisions, so the figures can be defended:
- What is measured: the vendor-scope SLOs of the SLO file (`YUNHENG_SLO_FILE`) whose subject
  is the vendor as its contract and `Cloud.vendor` spell it. Each SLO's `sli` selector is
  asked once, `avg_over_time(<sli>[window])`, one value per series (sla.sli). Several SLOs of
  one vendor pool their series. Only vendors with a contract in force are asked.
- Several series combine as the **mean of the per-series averages**, each series weighing
  the same. That is the incident source's rule with series in place of clouds: a series'
  downtime is (1 - its average) x the window, the vendor's downtime minutes are the sum over
  its series ("series-minutes"), its watched minutes are series x window, and availability
  is 1 - downtime / watched. A series with samples for only part of the window counts at its
  availability over the samples it has.
- The window is [month start, min(month end, now)), half-open as in sla.sli.
- No series answering is no data (None), never 100 %. A query failing before any other has
  answered means Prometheus cannot be reached: the remaining ones are not asked (each would
  wait out the same timeout), every vendor is settled from incidents, and `warnings` says so.
- Basis, per vendor: **Prometheus where it has data, else incidents**. Prometheus saw every
  scraped minute, outages nobody opened an incident for included; incidents cannot tell
  "nothing happened" from "nobody was watching".
- Disagreement: the availability gap as minutes of the window so far,
  |a_prometheus - a_incidents| x window minutes (for one cloud and one series, exactly the gap
  between their downtime minutes). More than `sla_disagreement_minutes` is flagged with both
  figures, and so is one source having data while the other has none. Without Prometheus
  configured and answering nothing is compared: there is no second opinion to disagree with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlmodel import Session

from inventory.settings import Settings
from sla import contracts
from sla.availability import SHANGHAI
from sla.burn import load_slos
from sla.incidents import month_bounds
from sla.settlement import (
    Measured,
    Settle,
    Settlement,
    SourceFigures,
    VendorSettlement,
    availability_from_incidents,
    settle_vendor,
)
from sla.sli import PrometheusSli, Sli
from sla.slo import Scope, Slo

PROMETHEUS, INCIDENTS = "prometheus", "incidents"
MINUTE = timedelta(minutes=1)


class AvailabilitySource(Protocol):
    """What measuring needs of Prometheus (sla.sli.PrometheusSli; a wrapper in the bench)."""

    def availability(self, selector: str, start: datetime, end: datetime) -> Sli: ...


@dataclass
class PrometheusMeasures:
    vendors: dict[str, Measured]  # every vendor asked about; availability None = no data
    warnings: list[str] = field(default_factory=list)
    reachable: bool = True


def vendor_slos(slos: Iterable[Slo]) -> dict[str, list[Slo]]:
    found: dict[str, list[Slo]] = {}
    for slo in slos:
        if slo.scope is Scope.vendor:
            found.setdefault(slo.subject, []).append(slo)
    return found


def _measure_vendor(
    source: AvailabilitySource, slos: list[Slo], start: datetime, stop: datetime
) -> tuple[Measured, bool]:
    """One vendor's figures and whether any query was answered (error or not)."""
    entry, answered = Measured(availability=None), False
    values: list[float] = []
    for slo in slos:
        try:
            sli = source.availability(slo.sli, start, stop)
        except ValueError as exc:  # a selector that is not one: the SLO file's fault
            entry.error = f"SLO {slo.name!r}: {exc}"
            break
        entry.queries.append(sli.query)
        if sli.error:
            entry.error = sli.error
            break
        answered = True
        values.extend(s.value for s in sli.series)
    if entry.error is None and values:
        minutes = (stop - start) / MINUTE
        entry.series = len(values)
        entry.window_minutes = len(values) * minutes
        entry.downtime_minutes = math.fsum(1.0 - v for v in values) * minutes
        entry.availability = round(math.fsum(values) / len(values), 9)
    return entry, answered


def availability_from_prometheus(
    source: AvailabilitySource,
    slos: Iterable[Slo],
    vendors: Iterable[str],
    start: datetime,
    end: datetime,
    now: datetime,
) -> PrometheusMeasures:
    """Each vendor's availability over [start, min(end, now)) from its vendor-scope SLOs."""
    stop, by_vendor = min(end, now), vendor_slos(slos)
    result = PrometheusMeasures(vendors={v: Measured(availability=None) for v in vendors})
    if stop - start < timedelta(milliseconds=2):
        return result  # nothing of the window has happened yet
    answered = False
    for vendor in sorted(result.vendors):
        entry, ok = _measure_vendor(source, by_vendor.get(vendor, []), start, stop)
        result.vendors[vendor] = entry
        answered = answered or ok
        if entry.error and not answered and entry.queries:
            result.reachable = False
            result.warnings.append(
                f"Prometheus could not be asked ({entry.error}): every vendor is settled "
                "from recorded incidents"
            )
            for other in result.vendors.values():
                other.error = other.error or entry.error
            break
        if entry.error:
            result.warnings.append(f"Prometheus, {vendor}: {entry.error}; settled from incidents")
    return result


def _pct(value: float) -> str:
    return f"{value * 100:.4f} %"


def _prometheus_figures(found: Measured | None, has_slo: bool) -> SourceFigures:
    if found is not None and found.availability is not None:
        detail = f"mean of {found.series} series of {'; '.join(found.queries)}"
        return SourceFigures(
            availability=found.availability,
            downtime_minutes=round(found.downtime_minutes, 3),
            watched_minutes=round(found.window_minutes, 3),
            members=found.series,
            detail=detail,
        )
    if found is not None and found.error:
        detail = f"no data: {found.error}"
    elif not has_slo:
        detail = "no data: no vendor-scope SLO for this vendor in the SLO file"
    elif found is None or not found.queries:
        detail = "no data: the month has not begun"
    else:
        detail = f"no data: no series answered {'; '.join(found.queries)}"
    return SourceFigures(availability=None, downtime_minutes=None, watched_minutes=None,
                         detail=detail)  # fmt: skip


def _incident_figures(found: Measured | None) -> SourceFigures:
    if found is None or found.availability is None:
        detail = "no data: no cloud of this vendor was registered during the month"
        return SourceFigures(availability=None, downtime_minutes=None, watched_minutes=None,
                             detail=detail)  # fmt: skip
    detail = (
        f"P1/P2 incidents {found.incident_ids or 'none'} on {len(found.clouds)} cloud(s) "
        f"({', '.join(found.clouds)})"
    )
    return SourceFigures(
        availability=found.availability,
        downtime_minutes=round(found.downtime_minutes, 3),
        watched_minutes=round(found.window_minutes, 3),
        members=len(found.clouds),
        detail=detail,
    )


def _compare(row: VendorSettlement, window_minutes: float, threshold: float) -> None:
    """Set the row's difference_minutes and, beyond the threshold, its disagreement."""
    prom, inc = row.prometheus, row.incidents
    if prom is None or inc is None:
        return
    if prom.availability is None and inc.availability is None:
        return
    if prom.availability is None or inc.availability is None:
        if prom.availability is None:
            row.disagreement = (
                f"Prometheus has no data but incidents measured {_pct(inc.availability or 0)} "
                f"({inc.downtime_minutes:g} cloud-min down): is the vendor monitored?"
            )
        else:
            row.disagreement = (
                f"incidents have no data but Prometheus measured {_pct(prom.availability)} "
                f"({prom.downtime_minutes:g} series-min down)"
            )
        return
    gap = abs(prom.availability - inc.availability) * window_minutes
    row.difference_minutes = round(gap, 3)
    if round(gap, 6) > threshold:
        row.disagreement = (
            f"Prometheus {_pct(prom.availability)} ({prom.downtime_minutes:g} series-min down) "
            f"and incidents {_pct(inc.availability)} ({inc.downtime_minutes:g} cloud-min down) "
            f"differ by {gap:.2f} minutes of the month, more than {threshold:g}"
        )


def combined_settlement(
    session: Session,
    month: str,
    now: datetime,
    *,
    source: AvailabilitySource | None,
    slos: Sequence[Slo] = (),
    threshold_minutes: float = 5.0,
    warnings: Sequence[str] = (),
) -> Settlement:
    """Both sources per vendor, the basis chosen and disagreements flagged (module doc).
    `source` None: Prometheus is not configured; incidents only, nothing compared."""
    start, end = month_bounds(month)
    in_force = contracts.in_force(session, start.astimezone(SHANGHAI).date())
    begun = start < now
    by_incidents = availability_from_incidents(session, start, end, now) if begun else {}
    notes, measures = list(warnings), None
    if source is not None:
        measures = availability_from_prometheus(source, slos, in_force, start, end, now)
        notes.extend(measures.warnings)
    compared = measures is not None and measures.reachable
    window = (min(end, now) - start) / MINUTE if begun else 0.0
    with_slo = vendor_slos(slos)
    rows = []
    for vendor, contract in sorted(in_force.items()):
        p = measures.vendors.get(vendor) if measures is not None else None
        i = by_incidents.get(vendor)
        basis = PROMETHEUS if compared and p and p.availability is not None else INCIDENTS
        chosen = p if basis == PROMETHEUS else i
        row = settle_vendor(contract, chosen or Measured(availability=None), end - start, basis)
        row.basis, row.incidents = basis, _incident_figures(i)
        if measures is not None:
            row.prometheus = _prometheus_figures(p, vendor in with_slo)
        if basis == PROMETHEUS and row.prometheus is not None:
            row.workings += f" (Prometheus: {row.prometheus.detail})"
        if compared:
            _compare(row, window, threshold_minutes)
        rows.append(row)
    return Settlement(month=month, start=start, end=end, as_of=now,
                      source=f"{PROMETHEUS}+{INCIDENTS}" if compared else INCIDENTS,
                      vendors=rows, warnings=notes)  # fmt: skip


def settlement_from_settings(
    session: Session, settings: Settings, month: str, now: datetime
) -> Settlement:
    """The settlement with Prometheus as `settings` configure it; never raises for
    Prometheus or the SLO file, whose trouble ends up in `warnings`."""
    threshold = settings.sla_disagreement_minutes
    if not settings.prometheus_url or not settings.slo_file:
        note = (
            "Prometheus is not configured (YUNHENG_PROMETHEUS_URL and YUNHENG_SLO_FILE): "
            "availability from recorded incidents only"
        )
        return combined_settlement(session, month, now, source=None, warnings=[note])
    try:
        slos = load_slos(Path(settings.slo_file))
    except ValueError as exc:
        note = f"YUNHENG_SLO_FILE: {exc}: availability from recorded incidents only"
        return combined_settlement(session, month, now, source=None, warnings=[note])
    if not vendor_slos(slos):
        note = (
            f"YUNHENG_SLO_FILE: {settings.slo_file} has no vendor-scope SLO: availability "
            "from recorded incidents only"
        )
        return combined_settlement(session, month, now, source=None, warnings=[note])
    sli = PrometheusSli(settings.prometheus_url, timeout=settings.alert_query_timeout_seconds)
    try:
        return combined_settlement(
            session, month, now, source=sli, slos=slos, threshold_minutes=threshold
        )
    finally:
        sli.close()


def settler(session: Session, settings: Settings, now: datetime) -> Settle:
    """`Settle` for reports: each month's settlement with Prometheus as configured."""

    def settle(month: str) -> Settlement:
        return settlement_from_settings(session, settings, month, now)

    return settle
