"""Who is on call, with an injected clock: handoffs at the local handoff time (Asia/Shanghai
and a zone with DST), layers, restrictions, overrides and swaps, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from alerts import oncall, oncall_admin
from alerts.oncall_schemas import LayerCreate, OverrideCreate, RotationCreate, SwapCreate
from inventory.access import Viewer
from inventory.errors import Forbidden, Invalid
from inventory.models import Role, RotationLayer, User
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
ADMIN = Viewer.system("test-admin")


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A Shanghai wall-clock time as an aware datetime (what a person there reads)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


def people(session: Session, *names: str, role: Role = Role.oncall) -> list[User]:
    return [factories.user(session, name, role).user for name in names]


def rotation(
    session: Session, layers: list[dict[str, Any]], *, tz: str = "Asia/Shanghai", name: str = "ops"
) -> int:
    body = RotationCreate(
        name=name, timezone=tz, layers=[LayerCreate.model_validate(layer) for layer in layers]
    )
    made = oncall_admin.create_rotation(session, ADMIN, body)
    session.commit()
    return made.id or 0


def who(session: Session, rotation_id: int, at: datetime) -> list[str]:
    return [u.username for u in oncall.on_call(session, rotation_id, at.astimezone(UTC))]


def test_daily_handoff_at_0900_shanghai_in_turn(session: Session) -> None:
    a, b, c = people(session, "ann", "bob", "cai")
    rid = rotation(
        session,
        [{"name": "primary", "member_ids": [a.id, b.id, c.id], "starts_at": sh(2024, 3, 1, 9)}],
    )
    assert who(session, rid, sh(2024, 3, 1, 8, 59)) == []  # before the rotation starts
    assert who(session, rid, sh(2024, 3, 1, 9)) == ["ann"]
    assert who(session, rid, sh(2024, 3, 2, 8, 59, 59)) == ["ann"]
    assert who(session, rid, sh(2024, 3, 2, 9)) == ["bob"]  # 01:00 UTC: handed off
    assert who(session, rid, sh(2024, 3, 3, 9)) == ["cai"]
    assert who(session, rid, sh(2024, 3, 4, 9)) == ["ann"]  # round again
    assert who(session, rid, sh(2024, 6, 1, 12)) == [["ann", "bob", "cai"][92 % 3]]


def test_handoff_at_local_midnight_not_utc_midnight(session: Session) -> None:
    a, b = people(session, "ann", "bob")
    rid = rotation(
        session,
        [
            {
                "name": "midnight",
                "member_ids": [a.id, b.id],
                "handoff_time": "00:00",
                "starts_at": sh(2024, 3, 1, 0),
            }
        ],
    )
    assert who(session, rid, sh(2024, 3, 1, 23, 59, 59)) == ["ann"]
    # Local midnight is 16:00 UTC the day before; the handoff happens there.
    assert who(session, rid, datetime(2024, 3, 1, 16, tzinfo=UTC)) == ["bob"]
    assert who(session, rid, datetime(2024, 3, 1, 15, 59, tzinfo=UTC)) == ["ann"]
    # UTC midnight (08:00 local) changes nothing.
    assert who(session, rid, datetime(2024, 3, 2, 0, tzinfo=UTC)) == ["bob"]


def test_twelve_hour_shifts_cross_local_midnight(session: Session) -> None:
    day, night = people(session, "day", "night")
    rid = rotation(
        session,
        [
            {
                "name": "halves",
                "member_ids": [day.id, night.id],
                "shift_hours": 12,
                "handoff_time": "08:00",
                "starts_at": sh(2024, 3, 1, 10),  # mid-shift: the first member has this shift
            }
        ],
    )
    assert who(session, rid, sh(2024, 3, 1, 19, 59)) == ["day"]
    assert who(session, rid, sh(2024, 3, 1, 20)) == ["night"]
    assert who(session, rid, sh(2024, 3, 1, 23, 59)) == ["night"]
    assert who(session, rid, sh(2024, 3, 2, 0, 1)) == ["night"]  # across local midnight
    assert who(session, rid, sh(2024, 3, 2, 7, 59)) == ["night"]
    assert who(session, rid, sh(2024, 3, 2, 8)) == ["day"]
    now = oncall.who_is_on_call(session, sh(2024, 3, 1, 23).astimezone(UTC))[0]
    assert now["since"] == sh(2024, 3, 1, 20).astimezone(UTC)
    assert now["until"] == sh(2024, 3, 2, 8).astimezone(UTC)
    assert now["until_local"] == "2024-03-02 08:00 CST"


def test_rotation_in_another_time_zone_keeps_local_handoff_across_dst(session: Session) -> None:
    a, b = people(session, "anna", "bernd")
    berlin = datetime(2025, 3, 28, 9, tzinfo=BERLIN)  # CET, UTC+1; DST starts 30 March
    rid = rotation(
        session,
        [{"name": "eu", "member_ids": [a.id, b.id], "starts_at": berlin}],
        tz="Europe/Berlin",
        name="eu",
    )
    # Before DST the 09:00 handoff is 08:00 UTC; after it, 07:00 UTC.
    assert who(session, rid, datetime(2025, 3, 29, 7, 59, tzinfo=UTC)) == ["anna"]
    assert who(session, rid, datetime(2025, 3, 29, 8, 0, tzinfo=UTC)) == ["bernd"]
    # The shift over the DST night is 23 hours long; the handoff stays at 09:00 local.
    assert who(session, rid, datetime(2025, 3, 30, 6, 59, tzinfo=UTC)) == ["bernd"]
    assert who(session, rid, datetime(2025, 3, 30, 7, 0, tzinfo=UTC)) == ["anna"]
    answer = oncall.who_is_on_call(session, datetime(2025, 3, 30, 12, tzinfo=UTC))[0]
    assert answer["timezone"] == "Europe/Berlin"
    assert answer["until"] == datetime(2025, 3, 31, 7, tzinfo=UTC)
    assert answer["layers"][0]["shift_starts_at"] == datetime(2025, 3, 30, 7, tzinfo=UTC)


def test_higher_layer_wins_only_where_it_is_on(session: Session) -> None:
    a, b, n, w = people(session, "ann", "bob", "nightowl", "weekender")
    rid = rotation(
        session,
        [
            {"name": "base", "member_ids": [a.id, b.id], "starts_at": sh(2024, 3, 4, 9)},
            {
                "name": "nights",
                "position": 1,
                "member_ids": [n.id],
                "starts_at": sh(2024, 3, 4, 9),
                "active_hours": ["20:00", "08:00"],
            },
            {
                "name": "weekend",
                "position": 2,
                "member_ids": [w.id],
                "starts_at": sh(2024, 3, 4, 9),
                "active_weekdays": [5, 6],
            },
        ],
    )
    # Monday 4 March 2024.
    assert who(session, rid, sh(2024, 3, 4, 12)) == ["ann"]
    assert who(session, rid, sh(2024, 3, 4, 20)) == ["nightowl"]
    assert who(session, rid, sh(2024, 3, 5, 3)) == ["nightowl"]  # the night runs past midnight
    assert who(session, rid, sh(2024, 3, 5, 8)) == ["ann"]  # nights end; ann's shift to 09:00
    assert who(session, rid, sh(2024, 3, 5, 9)) == ["bob"]
    # Friday night, then the weekend layer from Saturday 00:00 to Monday 00:00 local.
    assert who(session, rid, sh(2024, 3, 8, 23, 59)) == ["nightowl"]
    assert who(session, rid, sh(2024, 3, 9, 0)) == ["weekender"]
    assert who(session, rid, sh(2024, 3, 10, 23, 59)) == ["weekender"]
    assert who(session, rid, sh(2024, 3, 11, 0)) == ["nightowl"]  # Sunday's night window
    now = oncall.who_is_on_call(session, sh(2024, 3, 4, 21).astimezone(UTC))[0]
    assert now["source"] == "layer"
    assert [layer["name"] for layer in now["layers"]] == ["nights"]
    assert now["until"] == sh(2024, 3, 5, 8).astimezone(UTC)


def test_weekday_night_window_belongs_to_the_day_it_starts(session: Session) -> None:
    a, n = people(session, "ann", "nightowl")
    rid = rotation(
        session,
        [
            {"name": "base", "member_ids": [a.id], "starts_at": sh(2024, 3, 4, 9)},
            {
                "name": "friday-night",
                "position": 1,
                "member_ids": [n.id],
                "starts_at": sh(2024, 3, 4, 9),
                "active_weekdays": [4],
                "active_hours": ["20:00", "08:00"],
            },
        ],
    )
    assert who(session, rid, sh(2024, 3, 7, 21)) == ["ann"]  # Thursday night
    assert who(session, rid, sh(2024, 3, 8, 21)) == ["nightowl"]  # Friday night
    assert who(session, rid, sh(2024, 3, 9, 7, 59)) == ["nightowl"]  # ... into Saturday
    assert who(session, rid, sh(2024, 3, 9, 21)) == ["ann"]  # Saturday night is not Friday's


def test_overrides_beat_layers_and_the_newest_override_wins(session: Session) -> None:
    a, b, c = people(session, "ann", "bob", "cai")
    rid = rotation(session, [{"name": "base", "member_ids": [a.id], "starts_at": sh(2024, 3, 1)}])
    now = sh(2024, 3, 4, 8).astimezone(UTC)

    def override(user: User, start: datetime, end: datetime) -> None:
        oncall_admin.create_override(
            session,
            ADMIN,
            rid,
            OverrideCreate(user_id=user.id, starts_at=start, ends_at=end, comment="dentist"),
            now,
        )
        session.commit()

    override(b, sh(2024, 3, 4, 12), sh(2024, 3, 4, 18))
    override(c, sh(2024, 3, 4, 14), sh(2024, 3, 4, 15))
    assert who(session, rid, sh(2024, 3, 4, 11, 59)) == ["ann"]
    assert who(session, rid, sh(2024, 3, 4, 12)) == ["bob"]
    assert who(session, rid, sh(2024, 3, 4, 14, 30)) == ["cai"]
    assert who(session, rid, sh(2024, 3, 4, 15)) == ["bob"]
    assert who(session, rid, sh(2024, 3, 4, 18)) == ["ann"]
    answer = oncall.who_is_on_call(session, sh(2024, 3, 4, 12, 30).astimezone(UTC))[0]
    assert answer["source"] == "override"
    assert answer["override"]["user"]["username"] == "bob"
    assert answer["override"]["comment"] == "dentist"
    assert answer["until"] == sh(2024, 3, 4, 14).astimezone(UTC)
    assert answer["since"] == sh(2024, 3, 4, 12).astimezone(UTC)


def test_a_swap_exchanges_two_stretches(session: Session) -> None:
    a, b = people(session, "ann", "bob")
    rid = rotation(
        session, [{"name": "base", "member_ids": [a.id, b.id], "starts_at": sh(2024, 3, 4, 9)}]
    )
    now = sh(2024, 3, 3, 12).astimezone(UTC)
    bob = Viewer(username="bob", role=Role.oncall, user_id=b.id)
    made = oncall_admin.swap(
        session,
        bob,
        rid,
        SwapCreate(shift_at=sh(2024, 3, 4, 12), with_shift_at=sh(2024, 3, 5, 12)),
        now,
    )
    session.commit()
    assert [(o.user_id, o.starts_at, o.ends_at) for o in made] == [
        (b.id, sh(2024, 3, 4, 9).astimezone(UTC), sh(2024, 3, 5, 9).astimezone(UTC)),
        (a.id, sh(2024, 3, 5, 9).astimezone(UTC), sh(2024, 3, 6, 9).astimezone(UTC)),
    ]
    assert who(session, rid, sh(2024, 3, 4, 12)) == ["bob"]
    assert who(session, rid, sh(2024, 3, 5, 12)) == ["ann"]
    assert who(session, rid, sh(2024, 3, 6, 12)) == ["ann"]  # the rotation carries on as before
    assert who(session, rid, sh(2024, 3, 7, 12)) == ["bob"]
    # A third person may not swap other people's shifts; a swap with oneself is refused.
    c = people(session, "cai")[0]
    cai = Viewer(username="cai", role=Role.oncall, user_id=c.id)
    later = SwapCreate(shift_at=sh(2024, 3, 8, 12), with_shift_at=sh(2024, 3, 9, 12))
    with pytest.raises(Forbidden, match="may not swap"):
        oncall_admin.swap(session, cai, rid, later, now)
    same = SwapCreate(shift_at=sh(2024, 3, 8, 12), with_shift_at=sh(2024, 3, 10, 12))
    with pytest.raises(Invalid, match="same person") as raised:
        oncall_admin.swap(session, ADMIN, rid, same, now)
    assert raised.value.field == "with_shift_at"


def test_deactivated_members_are_never_returned_and_gaps_are_empty(session: Session) -> None:
    a, b = people(session, "ann", "bob")
    rid = rotation(
        session,
        [
            {
                "name": "weekdays",
                "member_ids": [a.id, b.id],
                "starts_at": sh(2024, 3, 4, 9),
                "active_weekdays": [0, 1, 2, 3, 4],
            }
        ],
    )
    assert who(session, rid, sh(2024, 3, 9, 12)) == []  # Saturday: a gap
    gap = oncall.who_is_on_call(session, sh(2024, 3, 9, 12).astimezone(UTC))[0]
    assert gap["source"] == "nobody" and gap["users"] == []
    assert gap["until"] == sh(2024, 3, 11).astimezone(UTC)
    a.is_active = False
    session.add(a)
    session.commit()
    assert who(session, rid, sh(2024, 3, 4, 12)) == []
    assert who(session, rid, sh(2024, 3, 5, 12)) == ["bob"]


def test_layer_members_must_be_active_on_call_staff(session: Session) -> None:
    (m,) = people(session, "boss", role=Role.manager)
    body = RotationCreate(
        name="bad",
        layers=[LayerCreate(name="x", member_ids=[m.id or 0], starts_at=sh(2024, 3, 1))],
    )
    with pytest.raises(Invalid, match="only oncall and admin") as raised:
        oncall_admin.create_rotation(session, ADMIN, body)
    assert raised.value.field == "layers.0.member_ids.0"
    missing = RotationCreate(
        name="bad", layers=[LayerCreate(name="x", member_ids=[999999], starts_at=sh(2024, 3, 1))]
    )
    with pytest.raises(Invalid, match="not found"):
        oncall_admin.create_rotation(session, ADMIN, missing)


def test_a_schedule_lists_only_changes_of_hands(session: Session) -> None:
    (a,) = people(session, "solo")
    rid = rotation(session, [{"name": "solo", "member_ids": [a.id], "starts_at": sh(2024, 3, 1)}])
    start = sh(2024, 3, 2).astimezone(UTC)
    stretches = oncall.stretches(session, rid, start, start + timedelta(days=7))
    # One person, one stretch: daily handoffs from solo to solo are no change of hands.
    assert [(s.starts_at, s.ends_at, [u.username for u in s.users]) for s in stretches] == [
        (start, start + timedelta(days=7), ["solo"])
    ]
    assert oncall.who_is_on_call(session, start)[0]["until"] is None


def test_a_rotation_with_broken_stored_data_does_not_hide_the_others(session: Session) -> None:
    (a,) = people(session, "ann")
    rotation(session, [{"name": "base", "member_ids": [a.id], "starts_at": sh(2024, 3, 1)}])
    broken = rotation(session, [], name="broken")
    # Written around the API's checks (as an old restore might): a start in year 1.
    session.add(
        RotationLayer(
            rotation_id=broken,
            name="ancient",
            member_ids=[a.id or 0],
            starts_at=datetime(1, 1, 1, tzinfo=UTC),
        )
    )
    session.commit()
    answers = {
        r["rotation"]: r for r in oncall.who_is_on_call(session, sh(2024, 3, 4).astimezone(UTC))
    }
    assert [u["username"] for u in answers["ops"]["users"]] == ["ann"]
    assert answers["broken"]["users"] == [] and "OverflowError" in answers["broken"]["error"]
