"""The on-call API: rotations, GET /oncall/now, overrides and swaps by role, escalation
policies, severities; bad input names the field; every change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.models import AlertRoute, Role
from tests import factories
from tests.test_oncall_schedule import sh

API = "/api/v1"
MONDAY = sh(2030, 3, 4, 9)  # in the future, so overrides are not refused as past


def iso(*args: int) -> str:
    return sh(*args).isoformat()


@pytest.fixture
def staff(session: Session) -> dict[str, factories.Actor]:
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "ann": factories.user(session, "ann", Role.oncall),
        "bob": factories.user(session, "bob", Role.oncall),
        "manager": factories.user(session, "manager1", Role.manager),
        "clerk": factories.user(session, "clerk", Role.department),
    }


def make_rotation(client: TestClient, staff: dict[str, factories.Actor]) -> dict[str, Any]:
    body = {
        "name": "平台值班",
        "layers": [
            {
                "name": "primary",
                "member_ids": [staff["ann"].user.id, staff["bob"].user.id],
                "starts_at": MONDAY.isoformat(),
            },
            {
                "name": "nights",
                "position": 1,
                "member_ids": [staff["admin"].user.id],
                "starts_at": MONDAY.isoformat(),
                "active_hours": ["22:00", "06:00"],
            },
        ],
    }
    made = client.post(f"{API}/rotations", headers=staff["admin"].headers, json=body)
    assert made.status_code == 201, made.text
    rotation: dict[str, Any] = made.json()
    return rotation


def audit_actions(client: TestClient, admin: factories.Actor) -> list[tuple[str, str]]:
    items = client.get(f"{API}/audit?limit=100", headers=admin.headers).json()["items"]
    return [(i["action"], i["actor"]) for i in items]


def test_who_is_on_call_now_for_everyone(
    client: TestClient, staff: dict[str, factories.Actor]
) -> None:
    rotation = make_rotation(client, staff)
    assert rotation["timezone"] == "Asia/Shanghai"
    assert [m["username"] for m in rotation["layers"][0]["members"]] == ["ann", "bob"]
    url = f"{API}/oncall/now?at={iso(2030, 3, 5, 23).replace('+', '%2B')}"
    answer = client.get(url, headers=staff["clerk"].headers)  # department users read too
    assert answer.status_code == 200, answer.text
    (now,) = answer.json()
    assert [u["username"] for u in now["users"]] == ["admin1"]
    assert now["source"] == "layer" and [la["name"] for la in now["layers"]] == ["nights"]
    assert now["until_local"] == "2030-03-06 06:00 CST"
    day = client.get(
        f"{API}/oncall/now",
        params={"at": iso(2030, 3, 5, 12), "rotation": rotation["id"]},
        headers=staff["manager"].headers,
    ).json()[0]
    assert [u["username"] for u in day["users"]] == ["bob"]
    assert day["since"].startswith("2030-03-05T01:00") and day["until"].startswith("2030-03-05T14")
    schedule = client.get(
        f"{API}/rotations/{rotation['id']}/schedule",
        params={"since": iso(2030, 3, 4, 9), "until": iso(2030, 3, 5, 9)},
        headers=staff["ann"].headers,
    ).json()
    assert [(s["users"][0]["username"], s["source"]) for s in schedule] == [
        ("ann", "layer"),
        ("admin1", "layer"),
        ("ann", "layer"),
    ]
    assert ("rotation.create", "admin1") in audit_actions(client, staff["admin"])
    missing = client.get(f"{API}/oncall/now?rotation=999999", headers=staff["ann"].headers)
    assert missing.status_code == 404


def test_oncall_staff_override_and_swap_only_for_themselves(
    client: TestClient, staff: dict[str, factories.Actor]
) -> None:
    rotation = make_rotation(client, staff)
    base = f"{API}/rotations/{rotation['id']}"
    window = {"starts_at": iso(2030, 3, 4, 12), "ends_at": iso(2030, 3, 4, 18)}
    mine = client.post(f"{base}/overrides", headers=staff["bob"].headers, json=window)
    assert mine.status_code == 201, mine.text
    assert mine.json()["user"]["username"] == "bob" and mine.json()["created_by"] == "bob"
    theirs = client.post(
        f"{base}/overrides",
        headers=staff["bob"].headers,
        json={**window, "user_id": staff["ann"].user.id},
    )
    assert theirs.status_code == 403 and "only for themselves" in theirs.json()["error"]
    assert (
        client.post(f"{base}/overrides", headers=staff["manager"].headers, json=window).status_code
        == 403
    )
    by_admin = client.post(
        f"{base}/overrides",
        headers=staff["admin"].headers,
        json={
            "user_id": staff["ann"].user.id,
            "starts_at": iso(2030, 3, 6, 12),
            "ends_at": iso(2030, 3, 6, 13),
        },
    )
    assert by_admin.status_code == 201, by_admin.text
    # ann may not remove bob's override, bob may; admin's override naming ann is ann's to drop.
    url = f"{base}/overrides/{mine.json()['id']}"
    assert client.delete(url, headers=staff["ann"].headers).status_code == 403
    now = client.get(
        f"{API}/oncall/now", params={"at": iso(2030, 3, 4, 13)}, headers=staff["ann"].headers
    )
    assert now.json()[0]["override"]["id"] == mine.json()["id"]
    assert client.delete(url, headers=staff["bob"].headers).status_code == 204
    assert client.delete(url, headers=staff["bob"].headers).status_code == 404
    dropped = client.delete(
        f"{base}/overrides/{by_admin.json()['id']}", headers=staff["ann"].headers
    )
    assert dropped.status_code == 204

    # ann (on Monday) and bob (on Tuesday) swap; admin1 is not a party and may, bob may.
    swap = {"shift_at": iso(2030, 3, 4, 12), "with_shift_at": iso(2030, 3, 5, 12)}
    made = client.post(f"{base}/swaps", headers=staff["bob"].headers, json=swap)
    assert made.status_code == 201, made.text
    assert [(o["user"]["username"], o["starts_at"][:16]) for o in made.json()] == [
        ("bob", "2030-03-04T01:00"),
        ("ann", "2030-03-05T01:00"),
    ]
    assert "swap: ann <-> bob" in made.json()[0]["comment"]
    actions = audit_actions(client, staff["admin"])
    for expected in [
        ("rotation.override.create", "bob"),
        ("rotation.override.create", "admin1"),
        ("rotation.override.delete", "bob"),
        ("rotation.override.delete", "ann"),
        ("rotation.swap", "bob"),
    ]:
        assert expected in actions


def layer(**change: Any) -> dict[str, Any]:
    return {"layers": [{"name": "x", "member_ids": [1], "starts_at": MONDAY.isoformat(), **change}]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        (layer(starts_at="2030-03-04T09:00"), "body.layers.0.starts_at"),  # no offset
        (layer(handoff_time="9:00"), "body.layers.0.handoff_time"),
        (layer(active_hours=["22:00"]), "body.layers.0.active_hours"),
        (layer(active_weekdays=[7]), "body.layers.0.active_weekdays"),
        (layer(member_ids=[1, 1]), "body.layers.0.member_ids"),
        (layer(shift_hours=0), "body.layers.0.shift_hours"),
        (layer(member_ids=[424242]), "layers.0.member_ids.0"),
        ({"shift": 3}, "body.shift"),
    ],
)
def test_bad_rotation_input_names_the_field(
    client: TestClient, staff: dict[str, factories.Actor], change: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"{API}/rotations", headers=staff["admin"].headers, json={"name": "bad", **change}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["error"] or body.get("field") == field, body


def test_escalation_policies_crud_and_what_they_protect(
    client: TestClient, session: Session, staff: dict[str, factories.Actor]
) -> None:
    admin = staff["admin"].headers
    rotation = make_rotation(client, staff)
    body = {
        "name": "default",
        "steps": [
            {"wait_minutes": 0, "targets": [{"type": "rotation", "id": rotation["id"]}]},
            {"wait_minutes": 15, "targets": [{"type": "user", "id": staff["admin"].user.id}]},
        ],
        "repeat": 2,
    }
    assert (
        client.post(
            f"{API}/escalation-policies", headers=staff["ann"].headers, json=body
        ).status_code
        == 403
    )
    made = client.post(f"{API}/escalation-policies", headers=admin, json=body)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    no_gap = {"steps": [{"targets": [{"type": "user", "id": staff["ann"].user.id}]}]}
    refused = client.patch(f"{API}/escalation-policies/{pid}", headers=admin, json=no_gap)
    assert refused.status_code == 422 and refused.json()["field"] == "repeat"
    bad_target = {
        "steps": [{"targets": [{"type": "user", "id": staff["clerk"].user.id}]}],
        "repeat": 0,
    }
    refused = client.patch(f"{API}/escalation-policies/{pid}", headers=admin, json=bad_target)
    assert refused.status_code == 422 and refused.json()["field"] == "steps.0.targets.0.id"
    changed = client.patch(f"{API}/escalation-policies/{pid}", headers=admin, json={"repeat": 0})
    assert changed.status_code == 200 and changed.json()["repeat"] == 0
    listed = client.get(f"{API}/escalation-policies", headers=staff["clerk"].headers).json()
    assert listed["total"] == 1 and listed["items"][0]["steps"][1]["wait_minutes"] == 15

    # The rotation is a policy's target: it cannot go; a route's policy cannot go either.
    gone = client.delete(f"{API}/rotations/{rotation['id']}", headers=admin)
    assert gone.status_code == 409 and "default" in gone.json()["error"]
    route = AlertRoute(name="db", escalation_policy_id=pid)
    session.add(route)
    session.commit()
    gone = client.delete(f"{API}/escalation-policies/{pid}", headers=admin)
    assert gone.status_code == 409 and "db" in gone.json()["error"]
    session.delete(route)
    session.commit()
    assert client.delete(f"{API}/escalation-policies/{pid}", headers=admin).status_code == 204
    assert client.delete(f"{API}/rotations/{rotation['id']}", headers=admin).status_code == 204
    actions = [a for a, _ in audit_actions(client, staff["admin"])]
    for action in (
        "escalation_policy.create",
        "escalation_policy.update",
        "escalation_policy.delete",
        "rotation.delete",
    ):
        assert action in actions


def test_layers_are_changed_by_admins_and_audited(
    client: TestClient, staff: dict[str, factories.Actor]
) -> None:
    rotation = make_rotation(client, staff)
    base = f"{API}/rotations/{rotation['id']}/layers"
    layer_id = rotation["layers"][0]["id"]
    changed = client.patch(
        f"{base}/{layer_id}", headers=staff["admin"].headers, json={"handoff_time": "08:30"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["layers"][0]["handoff_time"] == "08:30"
    null = client.patch(f"{base}/{layer_id}", headers=staff["admin"].headers, json={"name": None})
    assert null.status_code == 422
    assert (
        client.patch(
            f"{base}/{layer_id}", headers=staff["ann"].headers, json={"name": "x"}
        ).status_code
        == 403
    )
    assert client.delete(f"{base}/{layer_id}", headers=staff["admin"].headers).status_code == 204
    assert client.delete(f"{base}/{layer_id}", headers=staff["admin"].headers).status_code == 404
    actions = [a for a, _ in audit_actions(client, staff["admin"])]
    assert actions[:2] == ["rotation.layer.delete", "rotation.layer.update"]


def test_severities_and_their_targets(
    client: TestClient, staff: dict[str, factories.Actor]
) -> None:
    targets = client.get(f"{API}/severities", headers=staff["clerk"].headers).json()
    assert {t["severity"]: t["ack_within_minutes"] for t in targets} == {
        "P1": 5,
        "P2": 15,
        "P3": 60,
        "P4": 240,
    }
    report = client.get(f"{API}/severities/compliance", headers=staff["manager"].headers)
    assert report.status_code == 200 and [r["incidents"] for r in report.json()] == [0, 0, 0, 0]
    assert (
        client.get(f"{API}/severities/compliance", headers=staff["clerk"].headers).status_code
        == 403
    )
