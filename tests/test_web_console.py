"""The web console's foundation over HTTP: login, sessions, CSRF, CSP, throttling, language.

Each test makes its own TestClient on the module's app so that cookies never leak between
tests. The browser journeys are in tests/test_web_browser.py."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from console.web.install import PAGE_ROUTERS
from tests.factories import PASSWORD, World

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(world: World) -> TestClient:
    return TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD, next: str = "/") -> str:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": next,
        },
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_pages_redirect_to_login_and_back(world: World) -> None:
    client = browser(world)
    assert client.get("/").headers["location"] == "/login"
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/dashboard"
    assert log_in(client, "admin1", next="/dashboard") == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "运行总览" in page.text


def test_each_role_lands_on_its_home(world: World) -> None:
    for username, home in [
        ("admin1", "/dashboard"),
        ("oncall1", "/dashboard"),
        ("manager1", "/dashboard"),
        ("depta", "/requests"),
    ]:
        assert log_in(browser(world), username) == home


def test_session_cookie_flags(world: World) -> None:
    client = browser(world)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "admin1", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("yh_session="))
    assert "HttpOnly" in session
    assert "SameSite=strict" in session or "samesite=strict" in session.lower()
    # a new CSRF seed at login: a seed planted before login is worthless after it
    assert any(c.startswith("yh_csrf=") for c in cookies)


def test_login_without_csrf_token_is_refused(world: World) -> None:
    client = browser(world)
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": "admin1", "password": PASSWORD, "csrf_token": "forged"},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 403
    assert "yh_session" not in response.headers.get("set-cookie", "")
    assert "security token" in response.text


def test_wrong_password_shows_one_message(world: World) -> None:
    client = browser(world)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "manager1", "password": "nope", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert 'value="manager1"' in response.text  # what was typed is kept


def test_logout_revokes_the_session(world: World) -> None:
    client = browser(world)
    log_in(client, "oncall1")
    page = client.get("/dashboard")
    token = client.cookies.get("yh_session")
    assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    # the old cookie is dead even if someone kept a copy
    other = browser(world)
    other.cookies.set("yh_session", token or "")
    assert other.get("/dashboard").status_code == 303


def test_department_user_cannot_open_staff_pages(world: World) -> None:
    client = browser(world)
    log_in(client, "depta")
    response = client.get("/dashboard", headers={"accept": "text/html"})
    assert response.status_code == 403
    assert "<html" in response.text  # a page, not JSON, for a browser


def test_security_headers_everywhere(world: World) -> None:
    client = browser(world)
    for path in ["/login", "/api/v1/auth/me", "/healthz", "/docs"]:
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        script_src = csp.split("script-src")[1].split(";")[0]
        assert "'self'" in script_src and "unsafe-inline" not in script_src
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def page_paths(world: World) -> list[str]:
    """Every console page an admin can open without an id: all GET routes outside the API."""
    paths = ["/docs"]
    for module in PAGE_ROUTERS:
        for route in module.router.routes:
            path = getattr(route, "path", "")
            if "GET" not in (getattr(route, "methods", None) or set()) or "{" in path:
                continue
            if not path.startswith("/lang"):
                paths.append(path)
    return sorted(paths)


def assert_self_contained(path: str, html: str) -> None:
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, f"{path}: inline script {tag}"
    for url in re.findall(r"""(?:src|href|action)=["']([^"']+)""", html):
        assert url.startswith(("/", "#", "?")), f"{path}: external {url}"


def test_no_page_has_inline_script_or_external_url(world: World) -> None:
    client = browser(world)
    assert_self_contained("/login", client.get("/login").text)
    log_in(client, "admin1")
    paths = [p for p in page_paths(world) if p != "/login"]
    assert {"/dashboard", "/alerts", "/reports", "/admin", "/requests/new"} <= set(paths)
    for path in paths:
        response = client.get(path)
        if response.status_code == 303:  # a section root leading to its first page
            assert response.headers["location"].startswith(path), path
            continue
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert_self_contained(path, response.text)


def test_language_switch(world: World) -> None:
    client = browser(world)
    response = client.get("/lang/en?next=/login")
    assert response.headers["location"] == "/login"
    page = client.get("/login")
    assert '<html lang="en">' in page.text
    assert "Log in" in page.text
    assert client.get("/lang/en?next=//evil.example").headers["location"] == "/"
    client.get("/lang/zh-CN")
    assert '<html lang="zh-CN">' in client.get("/login").text


def test_login_throttled_per_client(world: World) -> None:
    throttle = world.app.state.login_throttle
    client = browser(world)
    try:
        for _ in range(throttle.max_failures):
            page = client.get("/login")
            client.post(
                "/login",
                data={"username": "nobody", "password": "x", "csrf_token": csrf_of(page.text)},
            )
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"username": "admin1", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        api = client.post("/api/v1/auth/login", json={"username": "admin1", "password": PASSWORD})
        assert api.status_code == 429
    finally:
        throttle.succeeded("testclient")
