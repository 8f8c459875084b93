"""The administration pages over HTTP: admin only; clouds (list, check, register), departments
and quotas, users and roles, notification channels, rules and SLOs. Every form: success,
bad input shown beside its field with what was typed kept (secrets never), and CSRF."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, col

from inventory.models import (
    ApiToken,
    AuditEvent,
    Cloud,
    Department,
    NotificationChannel,
    Quota,
    Resource,
    User,
)
from tests.factories import World
from tests.test_web_console import browser, csrf_of, log_in

SECRET = "s3cret-never-shown"
M = TypeVar("M", bound=SQLModel)
LONG = "long-enough-password"
RULES = Path(__file__).parent / "rules" / "node.yml"


def admin(world: World) -> TestClient:
    client = browser(world)
    log_in(client, "admin1")
    return client


def post(client: TestClient, page: str, action: str, **data: str) -> Any:
    """Open `page` for its CSRF token, then post `data` to `action`; the response."""
    form = client.get(page)
    assert form.status_code == 200, form.text
    return client.post(action, data={"csrf_token": csrf_of(form.text), **data})


def field_error(html: str, name: str) -> str:
    """The message shown beside control `name`, checking the control points at it."""
    pointed = rf'name="{name}"[^>]*aria-invalid="true" aria-describedby="[^"]*err-{name}"'
    assert re.search(pointed, html), f"{name} does not point at its error"
    found = re.search(rf'<p class="field-error" id="err-{name}">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


def row(world: World, model: type[M], **where: object) -> M | None:
    with Session(world.engine, expire_on_commit=False) as session:
        query = sa.select(model).where(*(getattr(model, k) == v for k, v in where.items()))
        found: M | None = session.execute(query).scalars().first()
        return found


PAGES = ["/admin", "/admin/clouds", "/admin/clouds/new", "/admin/departments",
         "/admin/users", "/admin/channels", "/admin/rules"]  # fmt: skip


@pytest.mark.parametrize("user", ["admin1", "manager1", "oncall1", "depta"])
def test_admin_pages_are_for_admins_only(world: World, user: str) -> None:
    client = browser(world)
    log_in(client, user)
    dept_b = world.estate.department_b.id
    for path in [*PAGES, f"/admin/departments/{dept_b}", f"/admin/users/{world.target.user.id}"]:
        response = client.get(path, headers={"accept": "text/html"})
        assert response.status_code == (200 if user == "admin1" else 403), (user, path)
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert "src=" in tag, f"{path}: inline script"
        for url in re.findall(r"""(?:src|href|action)=["']([^"']+)""", response.text):
            assert url.startswith(("/", "#")), f"{path}: external {url}"


def test_clouds_list_and_check(world: World) -> None:
    client = admin(world)
    html = client.get("/admin/clouds").text
    down = html[html.index("<td>cloud-down</td>") :]
    assert "异常" in down[: down.index("</tr>")]  # degraded, with its last error
    ok = client.get(f"/admin/clouds/{world.estate.clouds[0].id}/check").text
    assert "cloud-os" in ok and ok.count("status-met") == 2  # list and provision work
    broken = client.get(f"/admin/clouds/{world.broken_cloud.id}/check").text
    assert "status-failed" in broken
    assert client.get("/admin/clouds/999999/check").status_code == 404


def test_register_a_cloud(world: World) -> None:
    client = admin(world)
    settings = '{"seed": 7, "region": "r7", "hosts_per_zone": 1, "workloads": 0}'
    response = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                    name="cloud-new", vendor="Gamma", region="r7", security_level="4",
                    settings=settings)  # fmt: skip
    assert response.status_code == 303, response.text
    cloud = row(world, Cloud, name="cloud-new")
    assert isinstance(cloud, Cloud) and cloud.security_level == 4 and cloud.vendor == "Gamma"
    assert response.headers["location"] == f"/admin/clouds?registered={cloud.id}"
    assert "云平台已注册" in client.get(response.headers["location"]).text
    assert row(world, AuditEvent, action="cloud.create", target_id=str(cloud.id))


def test_register_bad_input_keeps_values_but_never_credentials(world: World) -> None:
    client = admin(world)
    bad_json = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                    name="cloud-bad", vendor="Gamma", region="r8", security_level="3",
                    settings="{seed: 1", credentials=f'{{"token": "{SECRET}"}}')  # fmt: skip
    assert bad_json.status_code == 422
    assert "not valid JSON" in field_error(bad_json.text, "settings")
    assert 'value="cloud-bad"' in bad_json.text and "{seed: 1" in bad_json.text
    assert SECRET not in bad_json.text
    taken = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                 name="cloud-os", vendor="V", region="r1", security_level="3")  # fmt: skip
    assert taken.status_code == 422
    assert field_error(taken.text, "name") == "云平台名称「cloud-os」已被占用"
    level = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                 name="cloud-lvl", vendor="V", region="r1", security_level="9")  # fmt: skip
    assert level.status_code == 422
    assert field_error(level.text, "security_level") == "不能大于 5。"  # pydantic's, in zh-CN
    creds = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                 name="cloud-cred", vendor="V", region="r1", security_level="3",
                 credentials=f'{{"token": "{SECRET}"}}')  # fmt: skip
    assert "credentials.token" in field_error(creds.text, "credentials")
    assert SECRET not in creds.text
    down = post(client, "/admin/clouds/new", "/admin/clouds", kind="simulator",
                name="cloud-dead", vendor="V", region="r1", security_level="3",
                settings='{"faults": {"unreachable": true}}')  # fmt: skip
    assert down.status_code == 422 and "its list check failed" in down.text
    assert (
        row(world, Cloud, name="cloud-bad") is None and row(world, Cloud, name="cloud-dead") is None
    )


def test_forms_refuse_a_missing_csrf_token(world: World) -> None:
    client = admin(world)
    client.get("/admin")
    for action, data in [
        ("/admin/clouds", {"name": "x"}),
        ("/admin/departments", {"code": "dept-x"}),
        ("/admin/users", {"username": "nobody"}),
        ("/admin/channels", {"name": "x"}),
        (f"/admin/users/{world.target.user.id}", {"role": "admin"}),
    ]:
        response = client.post(action, data={**data, "csrf_token": "forged"})
        assert response.status_code == 403, action
    assert row(world, Department, code="dept-x") is None


def test_departments_create_edit_and_quotas(world: World) -> None:
    client = admin(world)
    created = post(client, "/admin/departments", "/admin/departments", code="dept-web",
                   name="网页部门", contact="", quota_vcpus="40", quota_instances="")  # fmt: skip
    assert created.status_code == 303, created.text
    dept = row(world, Department, code="dept-web")
    assert isinstance(dept, Department)
    page = client.get(created.headers["location"]).text
    assert "已保存" in page and 'name="quota_vcpus" type="number" value="40"' in page
    renamed = post(client, f"/admin/departments/{dept.id}", f"/admin/departments/{dept.id}",
                   name="新名称", contact="张三")  # fmt: skip
    assert renamed.status_code == 303
    quotas = post(client, f"/admin/departments/{dept.id}",
                  f"/admin/departments/{dept.id}/quotas", quota_vcpus="",
                  quota_memory_mb="2048", quota_instances="5")  # fmt: skip
    assert quotas.status_code == 303
    with Session(world.engine) as session:
        limits = {
            q.resource: q.limit
            for q in session.execute(
                sa.select(Quota).where(col(Quota.department_id) == dept.id)
            ).scalars()
        }
        assert limits == {Resource.memory_mb: 2048, Resource.instances: 5}  # vcpus removed
        assert session.get(Department, dept.id).contact == "张三"  # type: ignore[union-attr]


def test_departments_bad_input(world: World) -> None:
    client = admin(world)
    bad_code = post(client, "/admin/departments", "/admin/departments", code="Bad Code",
                    name="x", quota_vcpus="12")  # fmt: skip
    assert bad_code.status_code == 422
    assert field_error(bad_code.text, "code").startswith("格式不符合要求")
    assert 'value="Bad Code"' in bad_code.text and 'value="12"' in bad_code.text
    dept = world.estate.department_b.id
    negative = post(client, f"/admin/departments/{dept}", f"/admin/departments/{dept}/quotas",
                    quota_vcpus="-1")  # fmt: skip
    assert negative.status_code == 422
    assert "between 0 and" in field_error(negative.text, "quota_vcpus")
    assert 'value="-1"' in negative.text
    blank = post(client, f"/admin/departments/{dept}", f"/admin/departments/{dept}", name="")
    assert blank.status_code == 422
    field_error(blank.text, "name")
    assert client.get("/admin/departments/999999").status_code == 404


def test_users_create_change_and_deactivate(world: World) -> None:
    client = admin(world)
    dept_a = str(world.estate.department_a.id)
    created = post(client, "/admin/users", "/admin/users", username="WebUser",
                   display_name="网页用户", role="department", department_id=dept_a,
                   password="long-enough-password")  # fmt: skip
    assert created.status_code == 303, created.text
    user = row(world, User, username="webuser")  # usernames are lower-cased
    assert isinstance(user, User) and user.department_id == int(dept_a)
    listing = client.get("/admin/users?created=1&sort=-username").text
    assert "用户已创建" in listing and "long-enough-password" not in listing
    moved = post(client, f"/admin/users/{user.id}", f"/admin/users/{user.id}",
                 display_name="值班", role="oncall", department_id="", is_active="1")  # fmt: skip
    assert moved.status_code == 303
    changed = row(world, User, id=user.id)
    assert isinstance(changed, User) and changed.role == "oncall" and changed.department_id is None
    target = world.target.user.id
    world.headers(world.target)  # a live session that deactivation must end
    off = post(client, f"/admin/users/{target}", f"/admin/users/{target}", role="oncall")
    assert off.status_code == 303  # the "active" box unticked
    with Session(world.engine) as session:
        assert session.get(User, target).is_active is False  # type: ignore[union-attr]
        live = session.execute(
            sa.select(ApiToken).where(
                col(ApiToken.user_id) == target, col(ApiToken.revoked_at).is_(None)
            )
        ).first()
        assert live is None


def test_users_bad_input(world: World) -> None:
    client = admin(world)
    no_dept = post(client, "/admin/users", "/admin/users", username="nodept",
                   role="department", department_id="", password=LONG)  # fmt: skip
    assert no_dept.status_code == 422
    assert field_error(no_dept.text, "department_id") == "部门用户必须指定所属部门"
    assert 'value="nodept"' in no_dept.text and LONG not in no_dept.text
    short = post(client, "/admin/users", "/admin/users", username="shortpw", role="oncall",
                 password="short")  # fmt: skip
    assert short.status_code == 422
    field_error(short.text, "password")
    me = world.estate.admin.user.id
    demote = post(client, f"/admin/users/{me}", f"/admin/users/{me}", role="manager",
                  is_active="1")  # fmt: skip
    assert demote.status_code == 422
    assert "管理员不能停用自己或降低自己的角色" in demote.text
    assert client.get("/admin/users/999999").status_code == 404


def test_channels_create_list_and_delete(world: World) -> None:
    client = admin(world)
    created = post(client, "/admin/channels", "/admin/channels", name="ops-hook",
                   kind="webhook", settings='{"url": "http://127.0.0.1:9/hook"}',
                   secrets=f'{{"bearer_token": "{SECRET}"}}', enabled="1")  # fmt: skip
    assert created.status_code == 303, created.text
    listing = client.get("/admin/channels").text
    assert "ops-hook" in listing and "bearer_token" in listing and SECRET not in listing
    channel = row(world, NotificationChannel, name="ops-hook")
    assert isinstance(channel, NotificationChannel) and SECRET not in str(channel.settings)
    assert channel.secrets_encrypted and SECRET not in channel.secrets_encrypted
    deleted = post(client, "/admin/channels", f"/admin/channels/{channel.id}/delete")
    assert deleted.status_code == 303
    assert row(world, NotificationChannel, name="ops-hook") is None
    assert row(world, AuditEvent, action="channel.delete", target_id=str(channel.id))


def test_channels_bad_input(world: World) -> None:
    client = admin(world)
    no_url = post(client, "/admin/channels", "/admin/channels", name="no-url", kind="webhook",
                  settings="{}", secrets=f'{{"bearer_token": "{SECRET}"}}')  # fmt: skip
    assert no_url.status_code == 422
    assert "url" in field_error(no_url.text, "settings")
    assert 'value="no-url"' in no_url.text and SECRET not in no_url.text
    not_object = post(client, "/admin/channels", "/admin/channels", name="x", kind="webhook",
                      settings="[1]")  # fmt: skip
    assert "JSON object" in field_error(not_object.text, "settings")


def test_rules_page_is_read_only_and_lists_the_builtin_rules(world: World) -> None:
    html = admin(world).get("/admin/rules").text
    for name in ("CloudUnreachable", "ZoneDegraded", "HostDown", "InventorySyncStale"):
        assert f"<td>{name}</td>" in html
    main = html[html.index("<main") :]
    assert "本页只读" in main and "<form" not in main
    assert "未配置 SLO 文件" in main and "未加载任何规则文件" in main


def test_rules_page_shows_rule_files_and_slo_budgets(world: World, tmp_path: Path) -> None:
    """An SLO of 99.9 % over 30 days allows 0.001 x 43200 = 43.2 minutes; a broken rule
    file is reported on the page, not as an error page."""
    slos = tmp_path / "slos.yml"
    slos.write_text(
        "slos:\n  - {name: beta avail, scope: vendor, subject: Beta, target: 0.999, "
        "days: 30, sli: 'up{job=\"beta\"}'}\n",
        encoding="utf-8",
    )
    broken = tmp_path / "broken.yml"
    broken.write_text("groups: [", encoding="utf-8")
    original = world.app.state.settings
    try:
        world.app.state.settings = original.model_copy(
            update={"slo_file": str(slos), "rule_files": str(RULES)}
        )
        html = admin(world).get("/admin/rules").text
        assert "<td>beta avail</td>" in html and '<td class="num">43.2</td>' in html
        assert '<td class="num">99.900%</td>' in html
        assert "rule:node.yml:" in html
        world.app.state.settings = original.model_copy(update={"rule_files": str(broken)})
        broken_page = admin(world).get("/admin/rules")
        assert broken_page.status_code == 200
        assert "broken.yml" in broken_page.text and "not valid YAML" in broken_page.text
    finally:
        world.app.state.settings = original
