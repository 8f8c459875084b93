"""Rotation arithmetic on plain rows: whose shift it is at an instant, and when that changes.

Pure functions of layers, overrides, a time zone and an instant, so handoffs, restrictions
and swaps are tested with an injected clock and no database. Shifts are counted in local
wall-clock time (a 24-hour shift hands off at 09:00 local every day, DST or not); every
instant compared is UTC, because Python compares two datetimes sharing one tzinfo by wall
time and would get DST folds wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from inventory.models import RotationLayer, RotationOverride

# How far ahead "until when" and how far back "since when" look for a change of hands.
HORIZON = timedelta(days=35)
TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


def parse_hhmm(value: str, field: str = "time") -> time:
    """'HH:MM' (00:00-23:59) as a time; anything else is a ValueError naming the field."""
    hours, sep, minutes = value.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise ValueError(f"{field}: expected HH:MM, got {value!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"{field}: {value!r} is not a time of day")
    return time(int(hours), int(minutes))


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall-clock time in `tz` as a UTC instant."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def wall(t: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time of instant `t` in `tz`."""
    return t.astimezone(tz).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Shift:
    index: int  # 0 is the shift that contains the layer's starts_at
    user_id: int
    starts_at: datetime  # UTC, never before the layer's starts_at
    ends_at: datetime  # UTC, the next handoff


def _anchor(layer: RotationLayer, tz: ZoneInfo) -> datetime:
    """The local handoff boundary at or before the layer's start: shift 0 begins there."""
    start = wall(layer.starts_at, tz)
    base = datetime.combine(start.date(), parse_hhmm(layer.handoff_time, "handoff_time"))
    if base > start:
        base -= DAY
    length = timedelta(hours=layer.shift_hours)
    return base + ((start - base) // length) * length


def shift_at(layer: RotationLayer, tz: ZoneInfo, t: datetime) -> Shift | None:
    """The layer's shift containing `t`, ignoring restrictions; None before the layer starts
    or when it has no members."""
    if t < layer.starts_at or not layer.member_ids:
        return None
    anchor = _anchor(layer, tz)
    length = timedelta(hours=layer.shift_hours)
    index = (wall(t, tz) - anchor) // length
    starts = max(to_utc(anchor + index * length, tz), layer.starts_at)
    ends = to_utc(anchor + (index + 1) * length, tz)
    return Shift(index, layer.member_ids[index % len(layer.member_ids)], starts, ends)


def _window(layer: RotationLayer) -> tuple[time, timedelta] | None:
    """The daily restriction window (start, length), or None for all day."""
    if not layer.active_hours:
        return None
    start = parse_hhmm(layer.active_hours[0], "active_hours.0")
    end = parse_hhmm(layer.active_hours[1], "active_hours.1")
    length = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    if length <= timedelta(0):
        length += DAY  # crosses local midnight; equal times mean a whole day from start
    return start, length


def _windows_near(
    layer: RotationLayer, tz: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """The layer's active windows (UTC) that start on local days first..last. A window
    belongs to the weekday it starts on: Friday 20:00-08:00 runs into Saturday morning."""
    window = _window(layer)
    weekdays = set(layer.active_weekdays)
    found = []
    day = first
    while day <= last:
        if not weekdays or day.weekday() in weekdays:
            if window is None:
                local = datetime.combine(day, time(0))
                found.append((to_utc(local, tz), to_utc(local + DAY, tz)))
            else:
                local = datetime.combine(day, window[0])
                found.append((to_utc(local, tz), to_utc(local + window[1], tz)))
        day += DAY
    return found


def is_restricted(layer: RotationLayer) -> bool:
    return bool(layer.active_hours or layer.active_weekdays)


def active(layer: RotationLayer, tz: ZoneInfo, t: datetime) -> bool:
    """Whether `t` falls within the layer's restrictions (always, if it has none)."""
    if not is_restricted(layer):
        return True
    today = wall(t, tz).date()
    # A window starting yesterday may still run (night layers cross midnight).
    return any(s <= t < e for s, e in _windows_near(layer, tz, today - DAY, today))


@dataclass(frozen=True, slots=True)
class Answer:
    """Who is on call at one instant and why: an override, the winning layers, or nobody."""

    user_ids: tuple[int, ...]
    layers: tuple[RotationLayer, ...] = ()
    shifts: tuple[Shift, ...] = ()
    override: RotationOverride | None = None


def resolve(
    layers: Sequence[RotationLayer],
    overrides: Sequence[RotationOverride],
    tz: ZoneInfo,
    t: datetime,
) -> Answer:
    """The newest override covering `t` wins; else the highest-position layer that is on
    at `t` (several layers at that position: all their people, in layer order)."""
    covering = [o for o in overrides if o.starts_at <= t < o.ends_at]
    if covering:
        newest = max(covering, key=lambda o: o.id or 0)
        return Answer((newest.user_id,), override=newest)
    on: list[tuple[RotationLayer, Shift]] = []
    for layer in layers:
        shift = shift_at(layer, tz, t)
        if shift is not None and active(layer, tz, t):
            on.append((layer, shift))
    if not on:
        return Answer(())
    top = max(layer.position for layer, _ in on)
    winners = sorted(((la, s) for la, s in on if la.position == top), key=lambda p: p[0].id or 0)
    users = tuple(dict.fromkeys(s.user_id for _, s in winners))
    return Answer(users, tuple(la for la, _ in winners), tuple(s for _, s in winners))


def change_points(
    layers: Sequence[RotationLayer],
    overrides: Sequence[RotationOverride],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """Every instant in (start, end] at which the answer may change: handoffs, layer starts,
    restriction edges and override edges. Sorted, without repeats."""
    points: set[datetime] = set()
    for layer in layers:
        if layer.starts_at > end or not layer.member_ids:
            continue
        points.add(layer.starts_at)
        cursor = max(start, layer.starts_at)
        while cursor <= end:
            shift = shift_at(layer, tz, cursor)
            if shift is None:
                break
            if shift.ends_at <= cursor:  # a DST fold repeats the wall-clock hour
                cursor += timedelta(hours=1)
                continue
            points.add(shift.ends_at)
            cursor = shift.ends_at
        if is_restricted(layer):
            first, last = wall(start, tz).date() - DAY, wall(end, tz).date()
            for s, e in _windows_near(layer, tz, first, last):
                points.update((s, e))
    for override in overrides:
        points.update((override.starts_at, override.ends_at))
    return sorted(p for p in points if start < p <= end)


@dataclass(frozen=True, slots=True)
class Segment:
    """The stretch of time around an instant during which the same people are on call."""

    answer: Answer
    since: datetime | None  # None: unchanged for at least HORIZON before
    until: datetime | None  # None: no change within HORIZON after


def segment(
    layers: Sequence[RotationLayer],
    overrides: Sequence[RotationOverride],
    tz: ZoneInfo,
    t: datetime,
    horizon: timedelta = HORIZON,
) -> Segment:
    answer = resolve(layers, overrides, tz, t)
    until = next(
        (
            p
            for p in change_points(layers, overrides, tz, t, t + horizon)
            if resolve(layers, overrides, tz, p).user_ids != answer.user_ids
        ),
        None,
    )
    since = next(
        (
            p
            for p in reversed(change_points(layers, overrides, tz, t - horizon, t))
            if resolve(layers, overrides, tz, p - TICK).user_ids != answer.user_ids
        ),
        None,
    )
    return Segment(answer, since, until)


def timeline(
    layers: Sequence[RotationLayer],
    overrides: Sequence[RotationOverride],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime, Answer]]:
    """The schedule from `start` to `end` as consecutive (from, to, answer) stretches; a
    stretch changes only when the people on call change."""
    stretches: list[tuple[datetime, datetime, Answer]] = []
    current_from, current = start, resolve(layers, overrides, tz, start)
    for point in change_points(layers, overrides, tz, start, end):
        if point == end:
            break
        answer = resolve(layers, overrides, tz, point)
        if answer.user_ids != current.user_ids:
            stretches.append((current_from, point, current))
            current_from, current = point, answer
    stretches.append((current_from, end, current))
    return stretches
