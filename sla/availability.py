"""The one availability maths module: what the scheduler predicts and what SLA reports measure
use the same formulas, so a plan's "99.95 %" and a month's "99.95 %" mean the same thing.

Availability is a ratio in [0, 1]. Unavailability (1 - a) is kept in log space where it is
multiplied (log1p / expm1), because the interesting numbers are tiny: 1 - 0.9995 ** 2 loses
digits if computed naively.

Windows are half-open [start, end) aware datetimes. Calendar months are Asia/Shanghai months
(the assessment is per Beijing month); rolling windows simply end "now".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROLLING_DAYS = 30
MINUTES_PER_DAY = 24 * 60


def _check_ratio(value: float, name: str = "availability") -> float:
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: {value!r} is not a ratio between 0 and 1")
    return float(value)


# --- Composition ----------------------------------------------------------------------------


def serial(availabilities: Iterable[float]) -> float:
    """Up only while every part is up (a chain): prod(a). No parts at all is 1.0."""
    parts = [_check_ratio(a) for a in availabilities]
    if any(a == 0.0 for a in parts):
        return 0.0
    return math.exp(math.fsum(math.log(a) for a in parts))


def parallel(availabilities: Iterable[float]) -> float:
    """Up while at least one independent part is up: 1 - prod(1 - a).

    Computed as -expm1(sum(log1p(-a))) so the small unavailability stays exact. No parts at
    all is 0.0 (nothing to be up)."""
    logs = []
    for a in availabilities:
        if _check_ratio(a) == 1.0:
            return 1.0
        logs.append(math.log1p(-a))
    if not logs:
        return 0.0
    return max(0.0, -math.expm1(math.fsum(logs)))


def replicas_across_zones(zone_availabilities: Iterable[float]) -> float:
    """A service with replicas in independent zones: up while any of its zones is up. This is
    `parallel` under the name the scheduler speaks (one replica set per zone counts once)."""
    return parallel(zone_availabilities)


def zone_weight(availability: float) -> float:
    """A zone's contribution to the scheduler's SLA sum: -log(1 - a).

    Summing weights is multiplying unavailabilities, so a set of zones meets a target exactly
    when sum(zone_weight) >= zone_weight(target)."""
    return -math.log1p(-availability)


def required_weight(target: float) -> float:
    """The weight a set of zones must reach for `target`: -log(1 - target)."""
    return zone_weight(target)


def weights_meet(have: float, need: float, rel_tol: float = 1e-12) -> bool:
    """have >= need within a relative tolerance that absorbs float rounding only."""
    return have >= need * (1.0 - rel_tol)


def zones_meet(target: float | None, zone_availabilities: Iterable[float]) -> bool:
    """Whether independent zones reach `target` (None: no target, always met)."""
    if target is None:
        return True
    have = math.fsum(zone_weight(a) for a in zone_availabilities)
    return weights_meet(have, required_weight(target))


# --- Downtime -------------------------------------------------------------------------------


def window_minutes(window: timedelta) -> float:
    if window <= timedelta(0):
        raise ValueError(f"window: {window} must be longer than zero")
    return window.total_seconds() / 60.0


def downtime_minutes(availability: float, window: timedelta) -> float:
    """Minutes down in `window` at this availability: 99.95 % over 30 days is 21.6."""
    return (1.0 - _check_ratio(availability)) * window_minutes(window)


def availability_from_downtime(minutes: float, window: timedelta) -> float:
    """The availability that `minutes` of downtime in `window` leaves."""
    total = window_minutes(window)
    if math.isnan(minutes) or not 0.0 <= minutes <= total:
        raise ValueError(f"downtime minutes: {minutes!r} is not between 0 and {total:g}")
    return 1.0 - minutes / total


# --- Windows in Asia/Shanghai ---------------------------------------------------------------


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name}: {moment.isoformat()} has no time zone")
    return moment


def parse_month(text: str) -> tuple[int, int]:
    """'2026-10' -> (2026, 10), with an error naming the field."""
    try:
        year_s, month_s = text.split("-")
        year, month = int(year_s), int(month_s)
    except ValueError:
        raise ValueError(f"month: {text!r} is not YYYY-MM") from None
    if not 1 <= month <= 12 or not 1970 <= year <= 9999:
        raise ValueError(f"month: {text!r} is not YYYY-MM")
    return year, month


def calendar_month(year: int, month: int, tz: ZoneInfo = SHANGHAI) -> tuple[datetime, datetime]:
    """[first midnight, next first midnight) of a month in `tz`, as aware datetimes."""
    parse_month(f"{year:04d}-{month:02d}")
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def month_of(moment: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """The 'YYYY-MM' that `moment` falls in, in `tz` (23:30 UTC on the 31st is next month's
    first morning in Beijing)."""
    local = _aware(moment, "moment").astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def day_of(moment: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """The local calendar day 'YYYY-MM-DD' that `moment` falls in."""
    return _aware(moment, "moment").astimezone(tz).date().isoformat()


def rolling_window(end: datetime, days: int = ROLLING_DAYS) -> tuple[datetime, datetime]:
    """[end - days, end): the rolling window that ends at `end`."""
    if days <= 0:
        raise ValueError(f"days: {days} must be more than zero")
    _aware(end, "end")
    return end - timedelta(days=days), end


def now() -> datetime:
    return datetime.now(UTC)
