"""Noise control: silences, recurring maintenance windows and inhibition.

A suppressed alert keeps its state (it is still firing, and listed as such) but is not
notified; `Alert.suppressed_by` says why. All three are evaluated against an injected
clock, so a window across midnight in Asia/Shanghai is tested without waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.matchers import Matcher, make, matches, parse_matchers
from inventory.errors import Invalid
from inventory.models import (
    Alert,
    AlertState,
    InhibitRule,
    MaintenanceWindow,
    Silence,
)

# The estate's own default: while a cloud is down, alerts about its hosts say nothing new.
# Helper rules name the cloud in a `cloud` label and host alerts carry a `host` label.
CLOUD_DOWN_ALERTNAMES = ("CloudUnreachable", "CloudDown")
BUILTIN_INHIBITION = (
    [
        make("alertname", "=~", "|".join(CLOUD_DOWN_ALERTNAMES)),
        make("cloud", "=~", ".+"),
    ],
    [make("host", "=~", ".+")],
    ("cloud",),
    "builtin: a cloud down inhibits its hosts' alerts",
)


def parse_time_of_day(value: str, *, field: str = "start_time") -> time:
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise Invalid.of("time.of_day", field=field, value=value) from None


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid.of("time.zone", field=field, name=name) from None


def window_active(window: MaintenanceWindow, now: datetime) -> bool:
    """Is `now` inside one occurrence of this recurring window?

    Occurrences start on the listed weekdays (of the start day, in the window's own time
    zone) at `start_time` and last `duration_minutes`, so Monday 23:00 for 3 hours still
    covers Tuesday 01:30, and a Tuesday that is not listed does not start one.
    """
    if now < window.valid_from or (window.valid_until is not None and now >= window.valid_until):
        return False
    tz = zone(window.timezone)
    local = now.astimezone(tz)
    start = parse_time_of_day(window.start_time)
    length = timedelta(minutes=window.duration_minutes)
    # Any occurrence covering `now` started at most `duration` ago: check those days.
    for back in range(window.duration_minutes // (24 * 60) + 2):
        day: date = local.date() - timedelta(days=back)
        if window.weekdays and day.weekday() not in window.weekdays:
            continue
        begins = datetime.combine(day, start, tzinfo=tz)
        if begins <= local < begins + length:
            return True
    return False


@dataclass(frozen=True)
class _Inhibition:
    source: Sequence[Matcher]
    target: Sequence[Matcher]
    equal: tuple[str, ...]
    label: str


class Noise:
    """Silences, windows and inhibition rules read once, for a whole round of alerts."""

    def __init__(
        self,
        silences: Iterable[Silence],
        windows: Iterable[MaintenanceWindow],
        rules: Iterable[InhibitRule],
        firing: Iterable[Alert],
        now: datetime,
    ) -> None:
        self.now = now
        self.silences = [(s, parse_matchers(s.matchers)) for s in silences]
        self.windows = [(w, parse_matchers(w.matchers)) for w in windows]
        self.inhibitions = [
            _Inhibition(
                parse_matchers(r.source_matchers),
                parse_matchers(r.target_matchers),
                tuple(r.equal),
                f"inhibit rule {r.id}",
            )
            for r in rules
        ]
        self.inhibitions.append(
            _Inhibition(
                BUILTIN_INHIBITION[0],
                BUILTIN_INHIBITION[1],
                BUILTIN_INHIBITION[2],
                BUILTIN_INHIBITION[3],
            )
        )
        self.firing = list(firing)
        self._by_rule: dict[int, dict[tuple[str, ...], list[Alert]]] = {}

    @classmethod
    def load(cls, session: Session, now: datetime) -> Noise:
        silences = session.execute(
            sa.select(Silence).where(col(Silence.starts_at) <= now, col(Silence.ends_at) > now)
        ).scalars()
        windows = session.execute(
            sa.select(MaintenanceWindow).where(
                col(MaintenanceWindow.valid_from) <= now,
                sa.or_(
                    col(MaintenanceWindow.valid_until).is_(None),
                    col(MaintenanceWindow.valid_until) > now,
                ),
            )
        ).scalars()
        rules = session.execute(sa.select(InhibitRule).order_by(col(InhibitRule.id))).scalars()
        firing = session.execute(
            sa.select(Alert).where(col(Alert.state) == AlertState.firing)
        ).scalars()
        return cls(list(silences), list(windows), list(rules), list(firing), now)

    def why(self, alert: Alert) -> str | None:
        """Why `alert` is not notified now, or None. Silences first, then windows, then
        inhibition (the order an operator would look in)."""
        labels = alert.labels
        for silence, matchers in self.silences:
            if silence.starts_at <= self.now < silence.ends_at and matches(matchers, labels):
                return f"silence {silence.id}"
        for window, matchers in self.windows:
            if matches(matchers, labels) and window_active(window, self.now):
                return f"maintenance window {window.id} ({window.name})"[:200]
        return self.inhibited_by(alert)

    def inhibited_by(self, alert: Alert) -> str | None:
        labels = alert.labels
        for index, rule in enumerate(self.inhibitions):
            if not matches(rule.target, labels):
                continue
            for source in self._sources(index).get(_key(rule.equal, labels), ()):
                # An alert never inhibits itself (Alertmanager: matching both sides is fine).
                if source.fingerprint != alert.fingerprint:
                    return f"inhibited by alert {source.id} ({source.name}; {rule.label})"[:200]
        return None

    def _sources(self, index: int) -> dict[tuple[str, ...], list[Alert]]:
        """The firing alerts matching a rule's source side, by their `equal` label values:
        built once per rule and round, so checking 1,000 targets is not 1,000 x 1,000."""
        if index not in self._by_rule:
            rule = self.inhibitions[index]
            grouped: dict[tuple[str, ...], list[Alert]] = {}
            for source in self.firing:
                if source.state == AlertState.firing and matches(rule.source, source.labels):
                    grouped.setdefault(_key(rule.equal, source.labels), []).append(source)
            self._by_rule[index] = grouped
        return self._by_rule[index]


def _key(names: Sequence[str], labels: Mapping[str, str]) -> tuple[str, ...]:
    # A label missing on both sides counts as equal, as in Alertmanager.
    return tuple(labels.get(n, "") for n in names)


def suppression(session: Session, alert: Alert, now: datetime) -> str | None:
    """Why this one alert is not notified now (a silence, a maintenance window, inhibition
    by a firing alert), or None. For many alerts, load a `Noise` once instead."""
    return Noise.load(session, now).why(alert)
