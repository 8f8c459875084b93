"""Administration (admin only): the landing page, the alert-rule and SLO page, and the
area routers (clouds, departments, users, channels), each in its own pages_admin_* module.

The rules page is read-only on purpose: built-in rules are code (alerts/builtin.py), rule
files and the SLO file are files under change control (YUNHENG_RULE_FILES,
YUNHENG_SLO_FILE) that the alert loop and the settlement read; editing them in a browser
would make the running copy and the reviewed copy differ. The page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts.builtin import BUILTIN_RULES, BuiltinRule
from alerts.rules import RuleFileError, RuleGroup, load_rule_files, rule_paths
from alerts.severity import targets_public
from console.deps import SettingsDep
from console.web.i18n import Translator
from console.web.pages_admin_channels import router as channels_router
from console.web.pages_admin_clouds import router as clouds_router
from console.web.pages_admin_common import AdminPage
from console.web.pages_admin_departments import router as departments_router
from console.web.pages_admin_users import router as users_router
from console.web.render import render, translator
from inventory.settings import Settings
from sla.burn import load_slos
from sla.slo import Slo

router = APIRouter(include_in_schema=False)
for _area in (clouds_router, departments_router, users_router, channels_router):
    router.include_router(_area)


@router.get("/admin")
def admin_home(request: Request, viewer: AdminPage) -> Response:
    return render(request, "admin/index.html", viewer)


@dataclass(frozen=True)
class RuleFiles:
    spec: str  # YUNHENG_RULE_FILES as set
    groups: list[RuleGroup]
    error: str | None


@dataclass(frozen=True)
class SloRow:
    slo: Slo
    budget_minutes: float  # over the SLO's own rolling window


@dataclass(frozen=True)
class SloFile:
    path: str
    slos: list[SloRow]
    error: str | None


def rule_files(settings: Settings) -> RuleFiles:
    """What the alert loop would load now; a broken file is shown, not raised."""
    try:
        groups = load_rule_files(rule_paths(settings.rule_files))
    except RuleFileError as exc:
        return RuleFiles(settings.rule_files, [], str(exc))
    return RuleFiles(settings.rule_files, groups, None)


def slo_file(settings: Settings) -> SloFile:
    if not settings.slo_file:
        return SloFile("", [], None)
    try:
        slos = load_slos(Path(settings.slo_file))
    except ValueError as exc:
        return SloFile(settings.slo_file, [], str(exc))
    rows = [SloRow(s, round(s.budget_minutes(), 2)) for s in slos]
    return SloFile(settings.slo_file, rows, None)


def builtin_rules(t: Translator) -> list[tuple[BuiltinRule, str]]:
    """Each built-in rule with its meaning in the reader's language (a rule added later
    shows its English summary from the code until it gets a text here)."""
    meanings = {
        "CloudUnreachable": t("admin.builtin.cloud_unreachable"),
        "ZoneDegraded": t("admin.builtin.zone_degraded"),
        "HostDown": t("admin.builtin.host_down"),
        "InventorySyncStale": t("admin.builtin.sync_stale"),
    }
    return [(rule, meanings.get(rule.name, rule.summary)) for rule in BUILTIN_RULES]


@router.get("/admin/rules")
def admin_rules(request: Request, viewer: AdminPage, settings: SettingsDep) -> Response:
    return render(
        request,
        "admin/rules.html",
        viewer,
        builtin=builtin_rules(translator(request)),
        files=rule_files(settings),
        slos=slo_file(settings),
        severities=targets_public(settings),
        prometheus=settings.prometheus_url,
    )
