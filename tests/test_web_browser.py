"""Each role's journey in a real browser: Debian's Chromium, driven by Playwright, against
`yunheng serve` on a seeded estate with 90 days of history.

Screenshots of every page visited go to test-artifacts/screenshots/ (YUNHENG_SCREENSHOTS
overrides). After each test, no request the browser made may have left 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.db import make_engine
from inventory.models import Department, ResourceRequest
from tests.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Console, running_console
from tests.conftest import skip_or_fail

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None or not Path(CHROMIUM).exists():
        skip_or_fail(f"browser tests need Playwright and {CHROMIUM} (make test installs both)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    seen: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda request: seen.append(request.url))
    # A CSP violation (an inline script, an outside URL) is a console error: none allowed.
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    console.requests_seen.extend(seen)
    foreign = [u for u in seen if not u.startswith(console.url) and not u.startswith("data:")]
    assert foreign == [], f"requests left 127.0.0.1: {foreign[:5]}"
    # 4xx pages are expected where a test provokes them; anything else is a fault
    errors = [e for e in errors if "the server responded with a status of 4" not in e]
    assert errors == [], f"browser console errors: {errors[:5]}"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, console: Console, role: str) -> None:
    login = console.login_of(role)
    page.goto(f"{console.url}/login")
    page.get_by_label("用户名").fill(login.username)
    page.get_by_label("密码").fill(login.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("networkidle")


def test_login_page_and_language_switch(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, "login")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_wrong_password_shows_the_error(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")


def test_dashboard_draws_its_charts(page: Page, console: Console) -> None:
    log_in(page, console, "admin")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    # ECharts draws into a canvas inside each chart box: the bundled script ran under the CSP
    expect(page.locator("[data-chart] canvas").first).to_be_visible()
    assert page.locator("[data-chart]").count() == page.locator("[data-chart][data-drawn]").count()
    shot(page, "dashboard")


def _other_departments_request(console: Console) -> int:
    """A request of a department other than the demo user's (the history has several)."""
    engine = make_engine(console.settings.effective_database_url)
    try:
        with Session(engine) as session:
            mine = session.execute(
                sa.select(col(Department.id)).where(col(Department.code) == "gov-service")
            ).scalar_one()
            return int(
                session.execute(
                    sa.select(sa.func.min(col(ResourceRequest.id))).where(
                        col(ResourceRequest.department_id) != mine
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _post_json(console: Console, path: str, payload: object, token: str = "") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = Request(  # noqa: S310 (our own server on 127.0.0.1)
        console.url + path, data=json.dumps(payload).encode(), headers=headers
    )
    with urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def _api_token(console: Console, role: str) -> str:
    login = console.login_of(role)
    body = {"username": login.username, "password": login.password}
    return str(_post_json(console, "/api/v1/auth/login", body)["access_token"])


def _fire_alert(console: Console, name: str) -> None:
    """An alert through the Alertmanager intake, as Alertmanager would post it."""
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "yunheng",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": "critical", "instance": "sim-os-1"},
                "annotations": {"summary": "journey: probe down"},
                "startsAt": datetime.now(UTC).isoformat(),
            }
        ],
    }
    token = _api_token(console, "oncall")
    assert _post_json(console, "/api/v1/alerts/alertmanager", payload, token)["firing"] == 1


def test_journey_1_and_2_request_approve_provision(page: Page, console: Console) -> None:
    """A department user asks; an admin approves; both see it provisioned."""
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, console, "department")
    expect(page).to_have_url(re.compile(r"/requests$"))
    shot(page, "requests-list")
    page.goto(f"{console.url}/requests/new")
    page.get_by_label("服务名称").fill("journey-portal")
    page.get_by_label("副本数").fill("2")
    shot(page, "requests-new")
    page.get_by_role("button", name="提交申请").click()
    expect(page).to_have_url(re.compile(r"/requests/\d+$"))
    expect(page.get_by_text("待审批").first).to_be_visible()
    request_url = page.url
    shot(page, "requests-detail")
    page.context.clear_cookies()

    log_in(page, console, "admin")
    page.goto(f"{console.url}/approvals")
    shot(page, "approvals-list")
    page.get_by_role("row").filter(has_text="journey-portal").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/approvals/\d+$"))
    expect(page.locator("[data-chart] canvas").first).to_be_visible()
    shot(page, "approvals-detail")
    page.get_by_label("审批意见（选填）").fill("同意，按方案部署")
    page.get_by_role("button", name="批准并开始部署").click()
    # provisioning runs in the background; the progress table refreshes itself
    expect(page.get_by_text("已完成").first).to_be_visible(timeout=60_000)
    shot(page, "approvals-provisioned")
    page.goto(request_url)
    expect(page.get_by_text("已开通").first).to_be_visible()


def test_journey_3_oncall_acknowledges_and_resolves(page: Page, console: Console) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    _fire_alert(console, "JourneyProbeDown")
    log_in(page, console, "oncall")
    page.goto(f"{console.url}/alerts?q=JourneyProbeDown")
    ack = page.get_by_role("button", name=re.compile(r"^确认告警 JourneyProbeDown"))
    resolve = page.get_by_role("button", name=re.compile(r"^手动解决告警 JourneyProbeDown"))
    expect(ack).to_be_visible(timeout=30_000)
    shot(page, "alerts")
    ack.click()
    expect(resolve).to_be_visible()
    expect(ack).to_have_count(0)  # acknowledged: no second acknowledgement offered
    resolve.click()
    page.goto(f"{console.url}/alerts?q=JourneyProbeDown&status=resolved")
    expect(page.get_by_text("JourneyProbeDown").first).to_be_visible()
    expect(resolve).to_have_count(0)


def test_journey_4_manager_reads_the_report_and_downloads_the_pdf(
    page: Page, console: Console
) -> None:
    log_in(page, console, "manager")
    page.goto(f"{console.url}/reports")
    expect(page.locator("[data-chart] canvas").first).to_be_visible()
    assert page.locator("[data-chart]").count() == page.locator("[data-chart][data-drawn]").count()
    shot(page, "reports")
    with page.expect_download() as caught:
        page.get_by_role("link", name="下载 PDF").click()
    download = caught.value
    assert download.suggested_filename.endswith(".pdf")
    path = download.path()
    assert path is not None and Path(path).read_bytes().startswith(b"%PDF")


def test_another_departments_request_is_out_of_reach(page: Page, console: Console) -> None:
    foreign = _other_departments_request(console)
    log_in(page, console, "department")
    response = page.goto(f"{console.url}/requests/{foreign}")
    assert response is not None and response.status in (403, 404)


def test_bad_input_shows_the_field_error(page: Page, console: Console) -> None:
    log_in(page, console, "department")
    page.goto(f"{console.url}/requests/new")
    page.get_by_label("服务名称").fill("Bad_Name")
    # the browser's own check would stop the form first; the server's message is the contract
    form = page.locator("form").filter(has=page.get_by_role("button", name="提交申请"))
    form.evaluate("form => form.setAttribute('novalidate', '')")
    page.get_by_role("button", name="提交申请").click()
    field = page.get_by_label("服务名称")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby")
    assert described
    expect(page.locator(f"#{described.split()[0]}")).to_be_visible()
    shot(page, "requests-new-error")


ADMIN_PAGES = [
    "/dashboard",
    "/inventory/clouds",
    "/inventory/zones",
    "/inventory/hosts",
    "/inventory/workloads",
    "/requests",
    "/approvals",
    "/alerts",
    "/alerts/silences",
    "/alerts/maintenance",
    "/reports",
    "/admin",
    "/admin/clouds",
    "/admin/departments",
    "/admin/users",
    "/admin/channels",
    "/admin/rules",
]


def test_every_page_renders_cleanly_and_is_kept_as_a_screenshot(
    page: Page, console: Console
) -> None:
    log_in(page, console, "admin")
    for path in ADMIN_PAGES:
        response = page.goto(f"{console.url}{path}")
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        expect(page.locator("h1").first).to_be_visible()
        shot(page, path.strip("/").replace("/", "-"))
    for link in ("/inventory/clouds", "/inventory/hosts", "/alerts?view=incidents"):
        page.goto(f"{console.url}{link}")
        detail = page.locator("main table a[href*='/']").first
        detail.click()
        page.wait_for_load_state("networkidle")
        shot(page, "detail-" + link.strip("/").split("?")[0].replace("/", "-"))


def test_keyboard_reaches_the_navigation(page: Page, console: Console) -> None:
    log_in(page, console, "admin")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("跳到正文")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('nav') !== null")


def test_api_docs_run_under_the_csp(page: Page, console: Console) -> None:
    """Swagger UI starts from a static script, so /docs works with inline scripts forbidden."""
    page.goto(f"{console.url}/docs")
    expect(page.locator(".swagger-ui .info .title").first).to_contain_text("Yunheng")
    expect(page.locator(".opblock").first).to_be_visible()
    shot(page, "api-docs")
