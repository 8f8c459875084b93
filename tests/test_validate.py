"""The independent plan validator: a valid plan passes, and each hard constraint, broken alone,
is reported in words that name the service, host, zone and resource with the numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scheduler.plan import Assignment, PlanResult
from scheduler.problem import Problem
from scheduler.validate import meets_sla, predicted_availability, service_reports, violations

DOC = Path(__file__).resolve().parent.parent / "docs" / "problem-format.md"

# Two clouds in two regions, three zones, six hosts:
#   c1 (region r1, security 3): z1a (0.99) with h1, h2; z1b (0.995) with h3, h4 (h4: aarch64, gpu)
#   c2 (region r2, security 2): z2a (0.98) with h5, h6
ZONE_OF = {"h1": "z1a", "h2": "z1a", "h3": "z1b", "h4": "z1b", "h5": "z2a", "h6": "z2a"}
CLOUD_OF = {"z1a": "c1", "z1b": "c1", "z2a": "c2"}


def problem(
    services: list[dict[str, Any]],
    departments: list[dict[str, Any]] | None = None,
    host_patch: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> Problem:
    """The six-host estate above, with `services`, and `host_patch` {host id: fields} applied."""
    capacity = {"vcpus": 64, "memory_mb": 262144, "disk_gb": 2000, "gpus": 0}
    hosts: list[dict[str, Any]] = [
        {"id": h, "zone": z, "capacity": capacity} for h, z in ZONE_OF.items()
    ]
    hosts[3] |= {"arch": "aarch64", "traits": ["gpu", "ssd"], "capacity": capacity | {"gpus": 4}}
    for h in hosts:
        h.update((host_patch or {}).get(h["id"], {}))
    data: dict[str, Any] = {
        "clouds": [
            {"id": "c1", "region": "r1", "security_level": 3},
            {"id": "c2", "region": "r2", "security_level": 2},
        ],
        "zones": [
            {"id": "z1a", "cloud": "c1", "region": "r1", "availability": 0.99},
            {"id": "z1b", "cloud": "c1", "region": "r1", "availability": 0.995},
            {"id": "z2a", "cloud": "c2", "region": "r2", "availability": 0.98},
        ],
        "hosts": hosts,
        "services": services,
        "departments": departments if departments is not None else [{"id": "d1"}],
        **extra,
    }
    return Problem.model_validate(data)


def svc(sid: str = "web", replicas: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "department": "d1",
        "replicas": replicas,
        "demand": {"vcpus": 4, "memory_mb": 8192, "disk_gb": 50},
        **extra,
    }


def on(service: str, host: str, **extra: Any) -> Assignment:
    zone = ZONE_OF.get(host, "z1a")
    return Assignment(service=service, host=host, zone=zone, cloud=CLOUD_OF[zone], **extra)


def one(found: list[str], *fragments: str) -> str:
    """Exactly one violation, containing every fragment."""
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], (fragment, found[0])
    return found[0]


# --- a valid plan --------------------------------------------------------------------------------


def test_valid_plan_has_no_violations_and_reports() -> None:
    p = problem(
        [
            svc("web", 3, sla_target=0.9999, min_healthy=2),
            svc("db", 2, affinity="web", min_security_level=3, regions=["r1"], current=["h3"]),
            svc("gpu", 1, arch="aarch64", traits=["gpu"], demand={"gpus": 2}),
        ],
        departments=[
            {"id": "d1", "quota": {"vcpus": 40, "memory_mb": 100000, "disk_gb": 500, "gpus": 2}}
        ],
    )
    plan = [
        on("web", "h1"),
        on("web", "h3"),
        on("web", "h5"),
        on("db", "h3", existing=True),
        on("db", "h2"),
        on("gpu", "h4"),
    ]
    assert violations(p, plan) == []

    reports = {r.service: r for r in service_reports(p, plan)}
    assert list(reports) == ["web", "db", "gpu"]
    web = reports["web"]
    assert web.replicas == 3
    assert web.zones == {"z1a": 1, "z1b": 1, "z2a": 1}
    assert web.predicted_availability == pytest.approx(1 - 0.01 * 0.005 * 0.02)
    assert web.meets_target and web.survives_zone_loss
    assert reports["db"].sla_target is None and reports["db"].meets_target
    assert reports["db"].zones == {"z1a": 1, "z1b": 1}


def test_empty_problem_and_plan_is_valid() -> None:
    assert violations(problem([]), []) == []
    assert service_reports(problem([]), []) == []


# --- assignments name real hosts, zones and clouds ---------------------------------------------


def test_unknown_service_and_unknown_host() -> None:
    p = problem([svc("web", 1)])
    found = violations(p, [on("web", "h1"), on("ghost", "h2")])
    one(found, "unknown service 'ghost'", "host h2")
    found = violations(p, [on("web", "h99")])
    one(found, "service web", "unknown host 'h99'")


def test_assignment_zone_and_cloud_must_match_the_host() -> None:
    p = problem([svc("web", 1)])
    wrong_zone = Assignment(service="web", host="h1", zone="z1b", cloud="c1")
    one(violations(p, [wrong_zone]), "host h1 (zone z1a, cloud c1)", "says zone 'z1b'")
    wrong_cloud = Assignment(service="web", host="h1", zone="z1a", cloud="c2")
    one(violations(p, [wrong_cloud]), "host h1 (zone z1a, cloud c1)", "says cloud 'c2'")


# --- eligibility ----------------------------------------------------------------------------------


def test_security_level() -> None:
    p = problem([svc("web", 1, min_security_level=3)])
    assert violations(p, [on("web", "h1")]) == []
    one(violations(p, [on("web", "h5")]), "service web on host h5", "security level 2", "3")


def test_regions() -> None:
    p = problem([svc("web", 1, regions=["r1"])])
    assert violations(p, [on("web", "h1")]) == []
    one(violations(p, [on("web", "h6")]), "service web on host h6", "region r2", "r1")


def test_clouds() -> None:
    p = problem([svc("web", 1, clouds=["c2"])])
    assert violations(p, [on("web", "h5")]) == []
    one(violations(p, [on("web", "h2")]), "service web on host h2", "cloud c1", "c2")


def test_arch() -> None:
    p = problem([svc("web", 1, arch="aarch64")])
    assert violations(p, [on("web", "h4")]) == []
    one(violations(p, [on("web", "h1")]), "host h1", "arch x86_64", "needs aarch64")


def test_traits() -> None:
    p = problem([svc("web", 1, traits=["gpu", "ssd"])])
    assert violations(p, [on("web", "h4")]) == []
    one(violations(p, [on("web", "h3")]), "service web on host h3", "lacks", "gpu, ssd")


# --- replicas -------------------------------------------------------------------------------------


def test_replica_count() -> None:
    p = problem([svc("web", 3)])
    one(violations(p, [on("web", "h1"), on("web", "h3")]), "service web: 2 replicas", "3")
    too_many = [on("web", h) for h in ("h1", "h2", "h3", "h5")]
    one(violations(p, too_many), "service web: 4 replicas", "exactly 3")
    one(violations(p, []), "service web: 0 replicas")


def test_distinct_hosts() -> None:
    p = problem([svc("web", 3)])
    plan = [on("web", "h1"), on("web", "h1"), on("web", "h3")]
    one(violations(p, plan), "service web: 2 replicas on host h1", "distinct hosts")


# --- capacity -------------------------------------------------------------------------------------


def test_capacity_counts_used_and_assigned_against_schedulable() -> None:
    services = [svc("a", 1, demand={"vcpus": 30}), svc("b", 1, demand={"vcpus": 30})]
    p = problem(services, host_patch={"h1": {"used": {"vcpus": 10}}})
    assert violations(p, [on("a", "h1"), on("b", "h2")]) == []
    msg = one(violations(p, [on("a", "h1"), on("b", "h1")]))
    assert msg == (
        "host h1 (zone z1a): vcpus 70 > 64 schedulable (used 10 + assigned 60 by 2 replicas)"
    )


def test_capacity_uses_reserved_and_allocation_ratio() -> None:
    patch = {
        "h1": {
            "allocation_ratio": [2.0, 1.0, 1.0, 1.0],
            "reserved": {"vcpus": 10, "memory_mb": 261144},
        }
    }
    p = problem([svc("a", 1, demand={"vcpus": 100, "memory_mb": 1000})], host_patch=patch)
    assert p.hosts[0].schedulable() == (108, 1000, 2000, 0)
    assert violations(p, [on("a", "h1")]) == []
    demand = {"vcpus": 108, "memory_mb": 1001, "disk_gb": 2000}
    p = problem([svc("a", 1, demand=demand)], host_patch=patch)
    # vcpus 108 <= 108 and disk 2000 <= 2000 fit; memory does not.
    assert violations(p, [on("a", "h1")]) == [
        "host h1 (zone z1a): memory_mb 1001 > 1000 schedulable "
        "(used 0 + assigned 1001 by 1 replica)"
    ]


def test_capacity_gpus() -> None:
    # h4 has 4 GPUs: two 2-GPU services fit on it, two 3-GPU services do not.
    fits = [svc(sid, 1, demand={"gpus": 2}, arch="aarch64") for sid in ("a", "b")]
    assert violations(problem(fits), [on("a", "h4"), on("b", "h4")]) == []
    too_big = [svc(sid, 1, demand={"gpus": 3}, arch="aarch64") for sid in ("a", "b")]
    one(
        violations(problem(too_big), [on("a", "h4"), on("b", "h4")]),
        "host h4 (zone z1b): gpus 6 > 4 schedulable (used 0 + assigned 6 by 2 replicas)",
    )


# --- SLA, zone loss, affinity --------------------------------------------------------------------


def test_sla_target() -> None:
    p = problem([svc("web", 2, sla_target=0.9999)])
    # z1a and z1b: 1 - 0.01 * 0.005 = 0.99995 >= 0.9999.
    assert violations(p, [on("web", "h1"), on("web", "h3")]) == []
    # Both in z1a: 0.99 < 0.9999.
    msg = one(violations(p, [on("web", "h1"), on("web", "h2")]))
    assert msg == (
        "service web: predicted availability 0.99 over zones z1a is below its SLA target 0.9999"
    )


def test_sla_exact_boundary_is_met_despite_float_rounding() -> None:
    # 1 - (1 - 0.95)(1 - 0.99) is 0.9995 exactly on paper; in floats it is a hair below.
    assert 1 - (1 - 0.95) * (1 - 0.99) < 0.9995
    assert predicted_availability([0.95, 0.99]) < 0.9995
    assert meets_sla(0.9995, [0.95, 0.99])
    assert meets_sla(0.999999, [0.999, 0.999])
    assert not meets_sla(0.99951, [0.95, 0.99])
    assert not meets_sla(0.9999991, [0.999, 0.999])
    assert meets_sla(None, [])
    assert not meets_sla(0.5, [])


def test_zone_loss_min_healthy() -> None:
    p = problem([svc("web", 3, min_healthy=2)])
    assert violations(p, [on("web", "h1"), on("web", "h3"), on("web", "h5")]) == []
    msg = one(violations(p, [on("web", "h1"), on("web", "h2"), on("web", "h5")]))
    assert msg == (
        "service web: losing zone z1a leaves 1 of 3 replicas, below min_healthy 2 "
        "(2 replicas in that zone)"
    )
    reports = service_reports(p, [on("web", "h1"), on("web", "h2"), on("web", "h5")])
    assert not reports[0].survives_zone_loss


def test_affinity() -> None:
    p = problem([svc("db", 2), svc("web", 2, affinity="db")])
    ok = [on("db", "h1"), on("db", "h3"), on("web", "h2"), on("web", "h4")]
    assert violations(p, ok) == []
    bad = [on("db", "h1"), on("db", "h3"), on("web", "h2"), on("web", "h5")]
    one(violations(p, bad), "service web", "zone z2a", "affinity service db", "z1a, z1b")


# --- quotas ---------------------------------------------------------------------------------------


def test_quota_per_resource_counts_whole_services_and_used() -> None:
    depts = [{"id": "d1", "quota": {"vcpus": 15}, "used": {"vcpus": 4}}]
    p = problem([svc("web", 2, demand={"vcpus": 4}), svc("db", 1, demand={"vcpus": 3})], depts)
    plan = [on("web", "h1"), on("web", "h3"), on("db", "h5")]
    # 4 + 2x4 + 1x3 = 15: exactly at quota.
    assert violations(p, plan) == []
    p = problem(
        [svc("web", 2, demand={"vcpus": 4}), svc("db", 1, demand={"vcpus": 4}, current=["h5"])],
        depts,
    )
    plan[-1] = on("db", "h5", existing=True)
    msg = one(violations(p, plan))
    assert msg == "department d1: vcpus 16 > quota 15 (used 4 + services 12: web 2x4, db 1x4)"


def test_instances_quota() -> None:
    depts = [{"id": "d1", "instances_quota": 4, "used_instances": 2}]
    p = problem([svc("web", 2)], depts)
    plan = [on("web", "h1"), on("web", "h3")]
    assert violations(p, plan) == []
    p = problem([svc("web", 3)], depts)
    msg = one(violations(p, [*plan, on("web", "h5")]))
    assert (
        msg == "department d1: 5 instances > instances quota 4 (used 2 + 3 replicas of 1 service)"
    )


def test_department_without_quota_is_unlimited() -> None:
    p = problem([svc("web", 2, demand={"vcpus": 60})], [{"id": "d1", "used": {"vcpus": 10**6}}])
    assert violations(p, [on("web", "h1"), on("web", "h3")]) == []


# --- modes ----------------------------------------------------------------------------------------


def test_place_keeps_existing_replicas() -> None:
    p = problem([svc("web", 3, current=["h1", "h3"])])
    ok = [on("web", "h1", existing=True), on("web", "h3", existing=True), on("web", "h5")]
    assert violations(p, ok) == []
    bad = [on("web", "h1", existing=True), on("web", "h4"), on("web", "h5")]
    one(violations(p, bad), "existing replica on host h3 must stay (place mode)")


def test_place_moves_nothing() -> None:
    # The replica count and placement are otherwise fine; only moved_from is wrong.
    p = problem([svc("web", 2, current=["h1"])])
    bad = [on("web", "h1", existing=True), on("web", "h3", moved_from="h2")]
    one(violations(p, bad), "service web on host h3", "moved from host h2", "place plan")


def test_existing_flag_must_match_current() -> None:
    p = problem([svc("web", 2, current=["h1"])])
    one(violations(p, [on("web", "h1"), on("web", "h3")]), "host h1", "not flagged existing")
    one(
        violations(p, [on("web", "h1", existing=True), on("web", "h3", existing=True)]),
        "service web on host h3",
        "flagged existing",
    )


def test_rebalance_within_budget() -> None:
    p = problem([svc("web", 3, current=["h1", "h2", "h3"])], mode="rebalance", migration_budget=1)
    plan = [on("web", "h1", existing=True), on("web", "h3", existing=True)]
    assert violations(p, [*plan, on("web", "h5", moved_from="h2")]) == []
    # Nothing moved at all is fine too.
    kept = [on("web", h, existing=True) for h in ("h1", "h2", "h3")]
    assert violations(p, kept) == []


def test_rebalance_over_migration_budget() -> None:
    p = problem(
        [svc("web", 3, current=["h1", "h2", "h3"]), svc("db", 1, current=["h4"])],
        mode="rebalance",
        migration_budget=2,
    )
    plan = [
        on("web", "h3", existing=True),
        on("web", "h5", moved_from="h1"),
        on("web", "h6", moved_from="h2"),
        on("db", "h3", moved_from="h4"),
    ]
    msg = one(violations(p, plan))
    assert msg == "rebalance moves 3 existing replicas, over the migration budget 2 (web 2, db 1)"


def test_rebalance_moved_from_bookkeeping() -> None:
    p = problem([svc("web", 3, current=["h1", "h2"])], mode="rebalance", migration_budget=2)
    kept = on("web", "h1", existing=True)
    assert violations(p, [kept, on("web", "h5"), on("web", "h6", moved_from="h2")]) == []
    one(
        violations(p, [kept, on("web", "h5"), on("web", "h6")]),
        "the replica on host h2 is gone from the plan but no assignment records moved_from h2",
    )
    one(
        violations(p, [kept, on("web", "h5", moved_from="h4"), on("web", "h6", moved_from="h2")]),
        "service web on host h5: moved from host h4, where the service has no existing replica",
    )
    one(
        violations(p, [kept, on("web", "h5", moved_from="h1"), on("web", "h6", moved_from="h2")]),
        "service web on host h5: moved from host h1, but the plan still keeps a replica there",
    )
    one(
        violations(p, [kept, on("web", "h5", moved_from="h2"), on("web", "h6", moved_from="h2")]),
        "service web: 2 replicas claim to move from host h2",
    )
    one(
        violations(p, [kept, on("web", "h2", existing=True, moved_from="h1"), on("web", "h5")]),
        "service web on host h2: flagged as moved from host h1",
    )


# --- availability arithmetic ----------------------------------------------------------------------


def test_predicted_availability() -> None:
    assert predicted_availability([]) == 0.0
    assert predicted_availability([0.99]) == pytest.approx(0.99, abs=1e-15)
    assert predicted_availability([0.99, 0.995]) == pytest.approx(1 - 0.01 * 0.005, abs=1e-15)
    assert predicted_availability(iter([0.9, 0.9, 0.9])) == pytest.approx(0.999, abs=1e-15)
    assert 0.0 <= predicted_availability([1e-9]) <= 1e-8


# --- scale ----------------------------------------------------------------------------------------


def test_scale_smoke_3000_hosts_20000_assignments() -> None:
    clouds = [{"id": f"c{i}", "region": f"r{i % 2}", "security_level": 3} for i in range(3)]
    zones = [
        {"id": f"z{i}", "cloud": f"c{i % 3}", "region": f"r{i % 3 % 2}", "availability": 0.99}
        for i in range(30)
    ]
    hosts = [
        {"id": f"h{i}", "zone": f"z{i % 30}", "capacity": {"vcpus": 128, "memory_mb": 1 << 20}}
        for i in range(3000)
    ]
    services = [
        {
            "id": f"s{i}",
            "department": f"d{i % 10}",
            "replicas": 10,
            "demand": {"vcpus": 1, "memory_mb": 1024},
            "sla_target": 0.9999,
            "min_healthy": 8,
            "current": [f"h{(i * 7) % 3000}"],
        }
        for i in range(2000)
    ]
    quota = {"vcpus": 10**6, "memory_mb": 10**9, "disk_gb": 10**6, "gpus": 0}
    departments = [{"id": f"d{i}", "quota": quota} for i in range(10)]
    p = Problem.model_validate(
        {
            "clouds": clouds,
            "zones": zones,
            "hosts": hosts,
            "services": services,
            "departments": departments,
        }
    )
    plan: list[Assignment] = []
    for i in range(2000):
        for k in range(10):
            h = (i * 7 + k * 301) % 3000
            z = h % 30
            plan.append(
                Assignment(
                    service=f"s{i}", host=f"h{h}", zone=f"z{z}", cloud=f"c{z % 3}", existing=k == 0
                )
            )
    assert len(plan) == 20_000
    assert violations(p, plan) == []
    assert len(service_reports(p, plan)) == 2000
    # A broken copy still runs and reports: every replica of s0 on one host.
    broken = [a.model_copy(update={"host": "h0"}) if a.service == "s0" else a for a in plan]
    assert any("10 replicas on host h0" in v for v in violations(p, broken))


# --- the documented example ----------------------------------------------------------------------


def _doc_json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_documented_example_problem_and_result_are_valid() -> None:
    blocks = _doc_json_blocks()
    assert len(blocks) >= 2, "docs/problem-format.md needs the example problem and result"
    p = Problem.model_validate_json(blocks[0])
    assert (len(p.clouds), len(p.zones), len(p.hosts), len(p.services), len(p.departments)) == (
        2,
        3,
        4,
        2,
        1,
    )
    result = PlanResult.model_validate_json(blocks[1])
    assert violations(p, result.assignments) == []
    assert result.services == service_reports(p, result.assignments)
    assert result.objective is not None
    cost = sum(
        sum(
            d * price
            for d, price in zip(
                next(s for s in p.services if s.id == a.service).demand.vector(),
                next(c for c in p.clouds if c.id == a.cloud).prices.vector(),
                strict=True,
            )
        )
        for a in result.assignments
    )
    assert result.objective.cost_per_hour == pytest.approx(cost)
    assert result.objective.hosts_used == len({a.host for a in result.assignments})
    json.loads(blocks[1])  # plain JSON, no comments
