"""The bad writes the input suite sends: one named case per way a request can be wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests import factories

API = "/api/v1"
NOT_JSON = "this is not json"


@dataclass(frozen=True)
class Bad:
    method: str
    path: str  # {cloud}, {disabled}, {department}, {user}, {admin} are filled in from the world
    body: Any = None
    raw: str | None = None  # sent as-is with a JSON content type instead of `body`
    status: int = 422
    mentions: str = ""  # the error message must contain this (a field name, usually)
    anonymous: bool = False


# What a rejected write could have changed; each is read before and after and must not move.
AUDIT = "/audit?limit=20"
WATCH = {
    "/auth/login": ["/users?limit=500", AUDIT],
    "/tokens": ["/tokens", AUDIT],
    "/clouds": ["/clouds?limit=500", AUDIT],
    "/clouds/{cloud}": ["/clouds/{cloud}", AUDIT],
    "/clouds/{disabled}/sync": ["/clouds/{disabled}", "/hosts?cloud={disabled}", AUDIT],
    "/departments": ["/departments?limit=500", AUDIT],
    "/departments/{department}": ["/departments/{department}", AUDIT],
    "/departments/{department}/quotas": ["/departments/{department}", AUDIT],
    "/users": ["/users?limit=500", AUDIT],
    "/users/{user}": ["/users?limit=500", AUDIT],
    "/users/{admin}": ["/users?limit=500", AUDIT],
}

LONG = "x" * 300
CLOUD = {
    "name": "new-cloud",
    "kind": "simulator",
    "vendor": "V",
    "region": "r",
    "security_level": 3,
}
DEPARTMENT = {"code": "new-dept", "name": "New"}
USER = {"username": "new-user", "role": "oncall", "password": "long-enough-password"}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


LOGIN = {"username": "admin1", "password": factories.PASSWORD}

CASES = {
    # POST /auth/login
    "login: missing password": Bad(
        "POST", "/auth/login", without(LOGIN, "password"), mentions="body.password", anonymous=True
    ),
    "login: username not a string": Bad(
        "POST", "/auth/login", with_(LOGIN, username=5), mentions="body.username", anonymous=True
    ),
    "login: empty username": Bad(
        "POST", "/auth/login", with_(LOGIN, username=""), mentions="body.username", anonymous=True
    ),
    "login: username too long": Bad(
        "POST", "/auth/login", with_(LOGIN, username=LONG), mentions="body.username", anonymous=True
    ),
    "login: password too long": Bad(
        "POST", "/auth/login", with_(LOGIN, password=LONG), mentions="body.password", anonymous=True
    ),
    "login: body is a list": Bad("POST", "/auth/login", [LOGIN], mentions="body", anonymous=True),
    "login: not JSON": Bad("POST", "/auth/login", raw=NOT_JSON, mentions="body", anonymous=True),
    "login: empty body": Bad("POST", "/auth/login", raw="", mentions="body", anonymous=True),
    # POST /tokens
    "token: missing name": Bad("POST", "/tokens", {}, mentions="body.name"),
    "token: empty name": Bad("POST", "/tokens", {"name": ""}, mentions="body.name"),
    "token: name too long": Bad("POST", "/tokens", {"name": LONG}, mentions="body.name"),
    "token: zero days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 0}, mentions="body.expires_in_days"
    ),
    "token: too many days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 366}, mentions="body.expires_in_days"
    ),
    "token: days not a number": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": "ten"}, mentions="body.expires_in_days"
    ),
    "token: huge days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 10**30}, mentions="expires_in_days"
    ),
    "token: not JSON": Bad("POST", "/tokens", raw=NOT_JSON, mentions="body"),
    # POST /clouds
    "cloud: missing kind": Bad("POST", "/clouds", without(CLOUD, "kind"), mentions="body.kind"),
    "cloud: missing security level": Bad(
        "POST", "/clouds", without(CLOUD, "security_level"), mentions="body.security_level"
    ),
    "cloud: security level 0": Bad(
        "POST", "/clouds", with_(CLOUD, security_level=0), mentions="body.security_level"
    ),
    "cloud: security level 6": Bad(
        "POST", "/clouds", with_(CLOUD, security_level=6), mentions="body.security_level"
    ),
    "cloud: security level a word": Bad(
        "POST", "/clouds", with_(CLOUD, security_level="high"), mentions="body.security_level"
    ),
    "cloud: name too long": Bad(
        "POST", "/clouds", with_(CLOUD, name="c" * 65), mentions="body.name"
    ),
    "cloud: name with a slash": Bad(
        "POST", "/clouds", with_(CLOUD, name="bad/name"), mentions="body.name"
    ),
    "cloud: blank name": Bad("POST", "/clouds", with_(CLOUD, name="   "), mentions="body.name"),
    "cloud: blank vendor": Bad(
        "POST", "/clouds", with_(CLOUD, vendor="  "), mentions="body.vendor"
    ),
    "cloud: region too long": Bad(
        "POST", "/clouds", with_(CLOUD, region=LONG), mentions="body.region"
    ),
    "cloud: unknown kind": Bad(
        "POST", "/clouds", with_(CLOUD, kind="vmware"), mentions="unknown cloud kind"
    ),
    "cloud: simulator setting out of range": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"zones": 0}), mentions="settings.zones"
    ),
    "cloud: simulator setting of the wrong type": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"seed": "abc"}), mentions="settings.seed"
    ),
    "cloud: unknown simulator setting": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"zonez": 2}), mentions="settings.zonez"
    ),
    "cloud: unknown simulator profile": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"profile": "vmware"}), mentions="settings.profile"
    ),
    "cloud: nested simulator setting": Bad(
        "POST",
        "/clouds",
        with_(CLOUD, settings={"faults": {"unreachable": "maybe"}}),
        mentions="settings.faults.unreachable",
    ),
    "cloud: settings not an object": Bad(
        "POST", "/clouds", with_(CLOUD, settings="zones=2"), mentions="body.settings"
    ),
    "cloud: credentials the simulator does not take": Bad(
        "POST", "/clouds", with_(CLOUD, credentials={"password": "x"}), mentions="credentials"
    ),
    "cloud: duplicate name": Bad(
        "POST", "/clouds", with_(CLOUD, name="cloud-os"), status=409, mentions="cloud-os"
    ),
    "cloud: not JSON": Bad("POST", "/clouds", raw=NOT_JSON, mentions="body"),
    # PATCH /clouds/{id}
    "cloud patch: security level 9": Bad(
        "PATCH", "/clouds/{cloud}", {"security_level": 9}, mentions="body.security_level"
    ),
    "cloud patch: empty vendor": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": ""}, mentions="body.vendor"
    ),
    "cloud patch: vendor too long": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": LONG}, mentions="body.vendor"
    ),
    "cloud patch: null vendor": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": None}, mentions="body.vendor"
    ),
    "cloud patch: null region": Bad(
        "PATCH", "/clouds/{cloud}", {"region": None}, mentions="body.region"
    ),
    "cloud patch: null security level": Bad(
        "PATCH", "/clouds/{cloud}", {"security_level": None}, mentions="body.security_level"
    ),
    "cloud patch: enabled not a boolean": Bad(
        "PATCH", "/clouds/{cloud}", {"enabled": "maybe"}, mentions="body.enabled"
    ),
    "cloud patch: simulator setting of the wrong type": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": {"zones": "many"}}, mentions="settings.zones"
    ),
    "cloud patch: unknown simulator setting": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": {"colour": "red"}}, mentions="settings.colour"
    ),
    "cloud patch: null settings": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": None}, mentions="settings"
    ),
    "cloud patch: no such cloud": Bad(
        "PATCH", "/clouds/999999", {"vendor": "x"}, status=404, mentions="999999"
    ),
    "cloud patch: id not a number": Bad(
        "PATCH", "/clouds/first", {"vendor": "x"}, mentions="path.cloud_id"
    ),
    "cloud patch: not JSON": Bad("PATCH", "/clouds/{cloud}", raw=NOT_JSON, mentions="body"),
    # POST /clouds/{id}/sync
    "sync: disabled cloud": Bad("POST", "/clouds/{disabled}/sync", mentions="disabled"),
    "sync: no such cloud": Bad("POST", "/clouds/999999/sync", status=404, mentions="999999"),
    # POST /departments
    "department: missing code": Bad(
        "POST", "/departments", without(DEPARTMENT, "code"), mentions="body.code"
    ),
    "department: missing name": Bad(
        "POST", "/departments", without(DEPARTMENT, "name"), mentions="body.name"
    ),
    "department: code with capitals": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="Dept-X"), mentions="body.code"
    ),
    "department: code starting with a digit": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="1dept"), mentions="body.code"
    ),
    "department: code of one letter": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="d"), mentions="body.code"
    ),
    "department: code with an underscore": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="dept_x"), mentions="body.code"
    ),
    "department: code too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="d" * 33), mentions="body.code"
    ),
    "department: code not a string": Bad(
        "POST", "/departments", with_(DEPARTMENT, code=42), mentions="body.code"
    ),
    "department: empty name": Bad(
        "POST", "/departments", with_(DEPARTMENT, name=""), mentions="body.name"
    ),
    "department: name too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, name=LONG), mentions="body.name"
    ),
    "department: contact too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, contact=LONG), mentions="body.contact"
    ),
    "department: unknown quota resource": Bad(
        "POST", "/departments", with_(DEPARTMENT, quotas={"cores": 1}), mentions="body.quotas"
    ),
    "department: negative quota": Bad(
        "POST", "/departments", with_(DEPARTMENT, quotas={"vcpus": -1}), mentions="quotas.vcpus"
    ),
    "department: huge quota": Bad(
        "POST",
        "/departments",
        with_(DEPARTMENT, quotas={"vcpus": 10**12}),
        mentions="quotas.vcpus",
    ),
    "department: quota a word": Bad(
        "POST",
        "/departments",
        with_(DEPARTMENT, quotas={"vcpus": "many"}),
        mentions="quotas.vcpus",
    ),
    "department: duplicate code": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="dept-a"), status=409, mentions="dept-a"
    ),
    "department: not JSON": Bad("POST", "/departments", raw=NOT_JSON, mentions="body"),
    # PATCH /departments/{id}
    "department patch: empty name": Bad(
        "PATCH", "/departments/{department}", {"name": ""}, mentions="body.name"
    ),
    "department patch: null name": Bad(
        "PATCH", "/departments/{department}", {"name": None}, mentions="body.name"
    ),
    "department patch: name not a string": Bad(
        "PATCH", "/departments/{department}", {"name": 7}, mentions="body.name"
    ),
    "department patch: contact too long": Bad(
        "PATCH", "/departments/{department}", {"contact": LONG}, mentions="body.contact"
    ),
    "department patch: no such department": Bad(
        "PATCH", "/departments/999999", {"name": "x"}, status=404, mentions="999999"
    ),
    "department patch: not JSON": Bad(
        "PATCH", "/departments/{department}", raw=NOT_JSON, mentions="body"
    ),
    # PUT /departments/{id}/quotas
    "quotas: negative": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": -1}, mentions="body.vcpus"
    ),
    "quotas: too large": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": 10**10}, mentions="body.vcpus"
    ),
    "quotas: fractional": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": 1.5}, mentions="body.vcpus"
    ),
    "quotas: a word": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": "lots"}, mentions="body.vcpus"
    ),
    "quotas: unknown resource": Bad(
        "PUT", "/departments/{department}/quotas", {"cores": 1}, mentions="body.cores"
    ),
    "quotas: a list": Bad(
        "PUT", "/departments/{department}/quotas", [{"vcpus": 1}], mentions="body"
    ),
    "quotas: no such department": Bad(
        "PUT", "/departments/999999/quotas", {"vcpus": 1}, status=404, mentions="999999"
    ),
    "quotas: not JSON": Bad(
        "PUT", "/departments/{department}/quotas", raw=NOT_JSON, mentions="body"
    ),
    # POST /users
    "user: missing password": Bad(
        "POST", "/users", without(USER, "password"), mentions="body.password"
    ),
    "user: missing role": Bad("POST", "/users", without(USER, "role"), mentions="body.role"),
    "user: short password": Bad(
        "POST", "/users", with_(USER, password="short"), mentions="body.password"
    ),
    "user: password too long": Bad(
        "POST", "/users", with_(USER, password=LONG), mentions="body.password"
    ),
    "user: username with a space": Bad(
        "POST", "/users", with_(USER, username="new user"), mentions="body.username"
    ),
    "user: username of one letter": Bad(
        "POST", "/users", with_(USER, username="n"), mentions="body.username"
    ),
    "user: username too long": Bad(
        "POST", "/users", with_(USER, username="u" * 65), mentions="body.username"
    ),
    "user: display name too long": Bad(
        "POST", "/users", with_(USER, display_name=LONG), mentions="body.display_name"
    ),
    "user: unknown role": Bad("POST", "/users", with_(USER, role="root"), mentions="body.role"),
    "user: department user without a department": Bad(
        "POST", "/users", with_(USER, role="department"), mentions="department_id"
    ),
    "user: no such department": Bad(
        "POST",
        "/users",
        with_(USER, role="department", department_id=999999),
        mentions="department 999999",
    ),
    "user: staff in a department": Bad(
        "POST", "/users", with_(USER, department_id="{department}"), mentions="department"
    ),
    "user: department id a word": Bad(
        "POST", "/users", with_(USER, department_id="finance"), mentions="body.department_id"
    ),
    "user: duplicate username": Bad(
        "POST", "/users", with_(USER, username="admin1"), status=409, mentions="admin1"
    ),
    "user: not JSON": Bad("POST", "/users", raw=NOT_JSON, mentions="body"),
    # PATCH /users/{id}
    "user patch: unknown role": Bad("PATCH", "/users/{user}", {"role": "root"}, mentions="role"),
    "user patch: null role": Bad("PATCH", "/users/{user}", {"role": None}, mentions="body.role"),
    "user patch: null is_active": Bad(
        "PATCH", "/users/{user}", {"is_active": None}, mentions="body.is_active"
    ),
    "user patch: is_active a word": Bad(
        "PATCH", "/users/{user}", {"is_active": "maybe"}, mentions="body.is_active"
    ),
    "user patch: null display name": Bad(
        "PATCH", "/users/{user}", {"display_name": None}, mentions="body.display_name"
    ),
    "user patch: short password": Bad(
        "PATCH", "/users/{user}", {"password": "short"}, mentions="body.password"
    ),
    "user patch: department role without a department": Bad(
        "PATCH", "/users/{user}", {"role": "department"}, mentions="department_id"
    ),
    "user patch: staff in a department": Bad(
        "PATCH", "/users/{user}", {"department_id": "{department}"}, mentions="department"
    ),
    "user patch: no such department": Bad(
        "PATCH",
        "/users/{user}",
        {"role": "department", "department_id": 999999},
        mentions="department 999999",
    ),
    "user patch: admin demotes themself": Bad(
        "PATCH", "/users/{admin}", {"role": "oncall"}, status=403, mentions="themselves"
    ),
    "user patch: admin deactivates themself": Bad(
        "PATCH", "/users/{admin}", {"is_active": False}, status=403, mentions="themselves"
    ),
    "user patch: no such user": Bad(
        "PATCH", "/users/999999", {"display_name": "x"}, status=404, mentions="999999"
    ),
    "user patch: not JSON": Bad("PATCH", "/users/{user}", raw=NOT_JSON, mentions="body"),
}
