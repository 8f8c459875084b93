"""The inventory pages: staff only, the API's own filters, sort and paging, and the numbers
on the host and cloud pages checked against a host built with known capacity and use."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from console.web import i18n
from console.web.inventory_data import LABELS
from inventory.models import Host, HostState, ItemState, Replica, Workload
from tests.factories import World
from tests.test_web_console import browser, log_in

ROW = re.compile(r"<tr>\s*<td><a href=\"/inventory/hosts/(\d+)\">")
TOTAL = re.compile(r"共 (\d+) 条")


def total_of(html: str) -> int:
    """The row count the pager states (zh-CN: "第 1–5 条，共 16 条")."""
    found = TOTAL.search(html)
    assert found, "the page states no total"
    return int(found.group(1))


@pytest.fixture(scope="module")
def known_host(world: World) -> int:
    """A host on the never-synced cloud `cloud-off` with hand-picked capacity and use:
    vCPU 16 x 4.0 = 64 schedulable, 48 used (75.0%); memory 32768 x 1.5 = 49152 MB,
    12288 used (25.0%); disk 1000 x 1.0, 900 used (90.0%); one replica of department A."""
    with Session(world.engine) as session:
        host = Host(
            name="page-known-host",
            cloud_id=world.disabled_cloud.id or 0,
            external_id="page-known-host",
            arch="aarch64",
            vcpus=16,
            cpu_ratio=4.0,
            vcpus_used=48,
            memory_mb=32768,
            ram_ratio=1.5,
            memory_mb_used=12288,
            disk_gb=1000,
            disk_gb_used=900,
            traits=["ssd"],
        )
        session.add(host)
        session.flush()
        session.add(
            Replica(
                workload_id=world.workload_a,
                cloud_id=world.disabled_cloud.id or 0,
                host_id=host.id,
                external_id="page-known-replica",
                name="page-known-replica",
            )
        )
        session.commit()
        return host.id or 0


def pages(world: World, host_id: int) -> list[str]:
    cloud = world.estate.clouds[0].id
    return [
        "/inventory/clouds",
        f"/inventory/clouds/{cloud}",
        "/inventory/zones",
        "/inventory/hosts",
        f"/inventory/hosts/{host_id}",
        "/inventory/workloads",
    ]


@pytest.mark.parametrize("username", ["admin1", "oncall1", "manager1"])
def test_staff_see_every_inventory_page(world: World, known_host: int, username: str) -> None:
    client = browser(world)
    log_in(client, username)
    for path in pages(world, known_host):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert 'aria-current="page">资源台账' in response.text
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert "src=" in tag, f"{path}: inline script"
        for url in re.findall(r"""(?:src|href|action)=["']([^"']+)""", response.text):
            assert url.startswith(("/", "#")), f"{path}: external {url}"


def test_department_users_and_strangers_are_refused(world: World, known_host: int) -> None:
    client = browser(world)
    log_in(client, "depta")
    anonymous = browser(world)
    for path in pages(world, known_host):
        refused = client.get(path, headers={"accept": "text/html"})
        assert refused.status_code == 403, path
        assert "<html" in refused.text
        assert anonymous.get(path).headers["location"].startswith("/login?next=/inventory")


def test_clouds_list_shows_status_sync_and_error(world: World) -> None:
    client = browser(world)
    log_in(client, "oncall1")
    html = client.get("/inventory/clouds?sort=name").text
    names = re.findall(r'<a href="/inventory/clouds/\d+">([^<]+)</a>', html)
    assert names == ["cloud-down", "cloud-k8s", "cloud-off", "cloud-os"]
    down = html[html.index(">cloud-down<") : html.index(">cloud-k8s<")]
    assert "status-degraded" in down and "同步异常" in down
    assert world.broken_cloud.last_error and "unreachable" in down.lower()
    off = html[html.index(">cloud-off<") : html.index(">cloud-os<")]
    assert "已停用" in off
    # reversed by the header link, and filtered by status
    assert (
        re.findall(r">(cloud-[a-z0-9]+)</a>", client.get("/inventory/clouds?sort=-name").text)[0]
        == "cloud-os"
    )
    only = client.get("/inventory/clouds?state=degraded").text
    assert re.findall(r">(cloud-[a-z0-9]+)</a>", only) == ["cloud-down"]


def _live_hosts(world: World, cloud_id: int) -> list[tuple[int, int]]:
    with Session(world.engine) as session:
        rows = session.execute(
            sa.select(col(Host.id), col(Host.vcpus_used)).where(
                col(Host.cloud_id) == cloud_id, col(Host.state) != HostState.gone
            )
        ).all()
    return [(int(i), int(u)) for i, u in rows]


def test_hosts_filter_sort_and_paginate(world: World, known_host: int) -> None:
    cloud = world.estate.clouds[0].id or 0
    hosts = _live_hosts(world, cloud)
    assert len(hosts) > 5  # 4 per zone: more than one page of 5
    client = browser(world)
    log_in(client, "admin1")
    first = client.get(f"/inventory/hosts?cloud={cloud}&limit=5&sort=-vcpus_used")
    assert first.status_code == 200
    assert total_of(first.text) == len(hosts)
    ids = [int(i) for i in ROW.findall(first.text)]
    assert len(ids) == 5
    most = max(u for _, u in hosts)
    assert dict(hosts)[ids[0]] == most  # sorted by vCPUs used, most first
    # the next link keeps the filter and the sort
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link, "no next link"
    href = link.group(1).replace("&amp;", "&")
    assert f"cloud={cloud}" in href and "sort=-vcpus_used" in href and "offset=5" in href
    second = client.get(href)
    assert not set(ids) & {int(i) for i in ROW.findall(second.text)}
    assert 'rel="prev"' in second.text
    # search by name and filter by architecture
    found = client.get("/inventory/hosts?q=page-known&arch=aarch64").text
    assert ">page-known-host<" in found and total_of(found) == 1


def test_bad_filter_is_shown_beside_the_filters(world: World) -> None:
    client = browser(world)
    log_in(client, "manager1")
    response = client.get("/inventory/hosts?state=sideways")
    assert response.status_code == 422
    assert re.search(r'<select id="f-state" name="state" aria-invalid="true"', response.text)
    assert 'id="filter-error"' in response.text and "sideways" in response.text
    bad_sort = client.get("/inventory/zones?sort=colour")
    assert bad_sort.status_code == 422 and "colour" in bad_sort.text
    assert client.get("/inventory/workloads?limit=501").status_code == 422


def test_host_page_shows_capacity_against_use(world: World, known_host: int) -> None:
    client = browser(world)
    log_in(client, "oncall1")
    html = client.get(f"/inventory/hosts/{known_host}").text
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"<th scope=\"row\">([^<]+?) <span.*?</th>(.*?)</tr>", html, re.S)
    }
    cells = {k: re.findall(r'<td class="num">(?:<meter[^>]*></meter> )?([^<]*)</td>', v)
             for k, v in rows.items()}  # fmt: skip
    assert cells["vCPU"] == ["16", "4.00", "64.0", "48", "16.0", "75.0%"]
    assert cells["内存"] == ["32768", "1.50", "49152.0", "12288", "36864.0", "25.0%"]
    assert cells["磁盘"] == ["1000", "1.00", "1000.0", "900", "100.0", "90.0%"]
    assert cells["GPU"] == ["0", "1.00", "0.0", "0", "0.0", "—"]
    assert "运行在本主机上的副本（1 个）" in html and "page-known-replica" in html
    assert client.get("/inventory/hosts/2147483647").status_code == 404


def test_cloud_page_sums_its_hosts(world: World, known_host: int) -> None:
    client = browser(world)
    log_in(client, "admin1")
    html = client.get(f"/inventory/clouds/{world.disabled_cloud.id}").text
    total = re.search(r"<tfoot>.*?</tfoot>", html, re.S)
    assert total
    assert re.findall(r'<td class="num">([^<]*)</td>', total.group(0)) == [
        "1",
        "64",
        "75.0%",
        "48",
        "25.0%",
    ]
    assert "已停用" in html and "尚未同步" in html
    # cloud-os: the simulator's two zones with hosts_per_zone=4 (tests/factories.estate)
    synced = world.estate.clouds[0]
    assert len(_live_hosts(world, synced.id or 0)) == 8
    page = client.get(f"/inventory/clouds/{synced.id}").text
    counts = [int(n) for n in re.findall(r'<a href="/inventory/hosts\?zone=\d+">(\d+)</a>', page)]
    assert counts == [4, 4]
    assert re.search(
        r"运行中</span> <a href=\"/inventory/hosts\?cloud=\d+&amp;state=up\">8</a>", page
    )
    assert "成功" in page


def test_workloads_filter_by_department(world: World) -> None:
    with Session(world.engine) as session:
        expected = session.execute(
            sa.select(sa.func.count()).where(
                col(Workload.department_id) == world.estate.department_b.id,
                col(Workload.state) != ItemState.gone,
            )
        ).scalar_one()
    client = browser(world)
    log_in(client, "manager1")
    html = client.get("/inventory/workloads?department=dept-b&limit=200").text
    assert expected > 0 and total_of(html) == expected
    departments = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>", html)
    assert departments and set(departments) == {"dept-b"}


def test_every_state_label_exists_in_both_languages() -> None:
    for locale in i18n.LOCALES:
        known = i18n.catalogue(locale)
        missing = [key for keys in LABELS.values() for key in keys.values() if key not in known]
        assert missing == [], locale
