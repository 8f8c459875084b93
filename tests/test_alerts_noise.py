"""Noise control on both databases: silences, recurring maintenance windows in their own
time zone, inhibition (the built-in cloud-down rule and stored rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from alerts import config
from alerts.noise import Noise, suppression, window_active
from alerts.schemas import SilenceCreate
from inventory.errors import Conflict
from inventory.models import InhibitRule, MaintenanceWindow, Silence
from tests.alert_builders import T0, alert_by_name, at, obs, round_
from tests.factories import SYSTEM

SHANGHAI_MONDAY_23 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # Mon 2026-01-05 23:00 +08:00


def test_silence_applies_only_inside_its_window_and_expires(session: Session) -> None:
    round_(session, [obs("HostDown", cloud="os-1", host="h1"), obs("Other")], at(0))
    silence = config.create_silence(
        session,
        SYSTEM,
        SilenceCreate(
            matchers=['alertname="HostDown"', 'host=~"h[0-9]"'],
            starts_at=at(minutes=10),
            ends_at=at(hours=1),
            comment="replacing a disk",
        ),
        now=at(0),
    )
    down, other = alert_by_name(session, "HostDown"), alert_by_name(session, "Other")
    assert suppression(session, down, at(minutes=9)) is None, "not started yet"
    assert suppression(session, down, at(minutes=10)) == f"silence {silence.id}"
    assert suppression(session, other, at(minutes=10)) is None, "matchers must all match"
    assert suppression(session, down, at(hours=1)) is None, "ended"
    config.expire_silence(session, SYSTEM, silence.id or 0, at(minutes=20))
    assert suppression(session, down, at(minutes=21)) is None
    assert silence.ends_at == at(minutes=20)
    with pytest.raises(Conflict):
        config.expire_silence(session, SYSTEM, silence.id or 0, at(minutes=22))


def test_silence_regex_is_anchored(session: Session) -> None:
    round_(session, [obs("HostDown")], at(0))
    session.add(
        Silence(
            matchers=[{"name": "alertname", "op": "=~", "value": "Host"}],
            starts_at=at(0),
            ends_at=at(hours=1),
            created_by="t",
            comment="c",
        )
    )
    session.flush()
    assert suppression(session, alert_by_name(session, "HostDown"), at(1)) is None


def _window(**fields: object) -> MaintenanceWindow:
    base: dict[str, object] = {
        "name": "db-patching",
        "matchers": [{"name": "service", "op": "=", "value": "db"}],
        "timezone": "Asia/Shanghai",
        "weekdays": [0],  # Monday
        "start_time": "23:00",
        "duration_minutes": 120,
        "valid_from": T0 - timedelta(days=30),
        "created_by": "t",
    }
    return MaintenanceWindow.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        ("2026-01-05 22:59", False),  # Monday, a minute early
        ("2026-01-05 23:00", True),
        ("2026-01-06 00:30", True),  # across midnight: Tuesday, in Monday's occurrence
        ("2026-01-06 00:59", True),
        ("2026-01-06 01:00", False),  # 120 minutes are over
        ("2026-01-06 23:30", False),  # Tuesday is not a listed weekday
        ("2026-01-12 23:30", True),  # the next Monday
        ("2026-01-11 23:30", False),  # Sunday
    ],
)
def test_weekly_window_across_shanghai_midnight(local: str, inside: bool) -> None:
    when = datetime.fromisoformat(local + "+08:00")
    assert window_active(_window(), when) is inside


def test_window_is_judged_in_its_own_time_zone() -> None:
    # 23:00 in Shanghai is 15:00 UTC; the same window in UTC starts 8 hours later.
    assert window_active(_window(), SHANGHAI_MONDAY_23)
    assert not window_active(_window(timezone="UTC"), SHANGHAI_MONDAY_23)
    assert window_active(_window(timezone="UTC"), SHANGHAI_MONDAY_23 + timedelta(hours=8))


def test_daily_window_and_validity_bounds() -> None:
    daily = _window(weekdays=[], start_time="02:00", duration_minutes=30)
    for day in range(7):
        assert window_active(daily, datetime.fromisoformat(f"2026-01-{5 + day:02d} 02:15+08:00"))
    assert not window_active(daily, datetime.fromisoformat("2026-01-05 02:30+08:00"))
    ended = _window(valid_until=SHANGHAI_MONDAY_23 - timedelta(minutes=1))
    assert not window_active(ended, SHANGHAI_MONDAY_23)
    future = _window(valid_from=SHANGHAI_MONDAY_23 + timedelta(minutes=1))
    assert not window_active(future, SHANGHAI_MONDAY_23)


def test_long_window_spanning_days() -> None:
    # Saturday 20:00 for 36 hours: covers Sunday and ends Monday 08:00.
    weekend = _window(weekdays=[5], start_time="20:00", duration_minutes=36 * 60)
    assert window_active(weekend, datetime.fromisoformat("2026-01-11 12:00+08:00"))
    assert window_active(weekend, datetime.fromisoformat("2026-01-12 07:59+08:00"))
    assert not window_active(weekend, datetime.fromisoformat("2026-01-12 08:00+08:00"))


def test_maintenance_window_suppresses_matching_alerts(session: Session) -> None:
    window = _window()
    session.add(window)
    round_(session, [obs("DBDown", service="db"), obs("WebDown", service="web")], at(0))
    db, web = alert_by_name(session, "DBDown"), alert_by_name(session, "WebDown")
    assert suppression(session, db, SHANGHAI_MONDAY_23) == (
        f"maintenance window {window.id} (db-patching)"
    )
    assert suppression(session, web, SHANGHAI_MONDAY_23) is None
    assert suppression(session, db, SHANGHAI_MONDAY_23 - timedelta(minutes=1)) is None


def test_cloud_down_inhibits_its_hosts_alerts_only(session: Session) -> None:
    round_(
        session,
        [
            obs("CloudUnreachable", cloud="os-1", severity="critical"),
            obs("HostDown", cloud="os-1", host="h1"),
            obs("HostDown", cloud="os-2", host="h9"),
            obs("ZoneDegraded", cloud="os-1", zone="z1"),  # not a host alert
        ],
        at(0),
    )
    cloud = alert_by_name(session, "CloudUnreachable")
    mine = alert_by_name(session, "HostDown", cloud="os-1")
    why = suppression(session, mine, at(1))
    assert why is not None and why.startswith(f"inhibited by alert {cloud.id} (CloudUnreachable")
    assert suppression(session, alert_by_name(session, "HostDown", cloud="os-2"), at(1)) is None
    assert suppression(session, alert_by_name(session, "ZoneDegraded"), at(1)) is None
    assert suppression(session, cloud, at(1)) is None, "it does not inhibit itself"
    # The cloud comes back: its hosts' alerts speak again.
    round_(
        session,
        [obs("HostDown", cloud="os-1", host="h1"), obs("HostDown", cloud="os-2", host="h9")],
        at(30),
    )
    assert suppression(session, mine, at(31)) is None


def test_stored_inhibit_rule_with_equal_labels(session: Session) -> None:
    session.add(
        InhibitRule(
            source_matchers=[{"name": "severity", "op": "=", "value": "critical"}],
            target_matchers=[{"name": "severity", "op": "=~", "value": "warning|info"}],
            equal=["alertname", "cluster"],
            created_by="t",
        )
    )
    round_(
        session,
        [
            obs("Etcd", severity="critical", cluster="k1"),
            obs("Etcd", severity="warning", cluster="k1"),
            obs("Etcd", severity="warning", cluster="k2"),
            obs("Api", severity="warning", cluster="k1"),
            obs("Lonely", severity="critical"),
            obs("Lonely", severity="info"),  # cluster missing on both: equal
        ],
        at(0),
    )
    noise = Noise.load(session, at(1))
    assert noise.why(alert_by_name(session, "Etcd", severity="warning", cluster="k1"))
    assert noise.why(alert_by_name(session, "Etcd", cluster="k2")) is None
    assert noise.why(alert_by_name(session, "Api")) is None
    assert noise.why(alert_by_name(session, "Etcd", severity="critical")) is None
    assert noise.why(alert_by_name(session, "Lonely", severity="info"))


def test_a_pending_or_resolved_source_does_not_inhibit(session: Session) -> None:
    round_(
        session,
        [
            obs("CloudUnreachable", cloud="os-1", for_seconds=300),
            obs("HostDown", cloud="os-1", host="h1"),
        ],
        at(0),
    )
    host = alert_by_name(session, "HostDown")
    assert suppression(session, host, at(1)) is None, "the cloud alert is only pending"
