"""Burn-rate alert rules: the workbook's factors, promtool's check, the alerting loop's loader,
and the expressions evaluated by a real Prometheus over a backfilled outage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml
from typer.testing import CliRunner

from alerts.rules import load_rule_file
from alerts.state import severity_of
from console.cli import app
from inventory.models import Severity
from sla.availability import SHANGHAI
from sla.burn import WORKBOOK_WINDOWS, rule_groups, scaled_factor, write_rules
from sla.slo import Scope, Slo
from tests.prom_backfill import (
    Series,
    backfill,
    prometheus_on,
    promtool_check_rules,
    require_promtool,
)

PORTAL = Slo(
    name="门户可用性",
    scope=Scope.service,
    subject="gov-portal",
    target=0.9995,
    sli='probe_success{target="gov-portal"}',
)
START = datetime(2026, 10, 1, tzinfo=SHANGHAI)
OUTAGE = datetime(2026, 10, 3, 12, 0, tzinfo=SHANGHAI)  # 90 minutes down from here
OUTAGE_MINUTES = 90


def test_workbook_factors_and_severities() -> None:
    rules = rule_groups([PORTAL])["groups"][0]["rules"]
    got = [
        (r["labels"]["long_window"], r["labels"]["short_window"], r["labels"]["severity"])
        for r in rules
    ]
    assert got == [("1h", "5m", "P1"), ("6h", "30m", "P2"), ("1d", "2h", "P3"), ("3d", "6h", "P4")]
    assert [r["labels"]["notify"] for r in rules] == ["page", "page", "ticket", "ticket"]
    assert "> 14.4\n" in rules[0]["expr"] and rules[0]["expr"].endswith("> 14.4")
    assert "/ 0.0005" in rules[0]["expr"]
    assert [scaled_factor(w, 30) for w in WORKBOOK_WINDOWS] == [14.4, 6.0, 3.0, 1.0]
    # A 28-day SLO: the same 2 % of budget in an hour is a slightly lower burn rate.
    assert scaled_factor(WORKBOOK_WINDOWS[0], 28) == pytest.approx(13.44)


def test_repeated_slo_is_refused() -> None:
    with pytest.raises(ValueError, match="repeated"):
        rule_groups([PORTAL, PORTAL])


def test_promtool_accepts_and_the_alert_loop_loads(tmp_path: Path) -> None:
    require_promtool()
    other = PORTAL.model_copy(update={"name": "zone", "scope": Scope.zone, "subject": "hz-a"})
    path = tmp_path / "slo.rules.yml"
    assert write_rules(path, [PORTAL, other]) == 8
    checked = promtool_check_rules(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "8 rules found" in checked.stdout
    groups = load_rule_file(path)
    assert [len(g.rules) for g in groups] == [4, 4]
    assert [severity_of(r.labels) for r in groups[0].rules] == [
        Severity.P1,
        Severity.P2,
        Severity.P3,
        Severity.P4,
    ]
    # The check can fail: promtool rejects a broken expression.
    data = yaml.safe_load(path.read_text())
    data["groups"][0]["rules"][0]["expr"] = "(1 - avg(avg_over_time(up[1h]))"
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert promtool_check_rules(broken).returncode != 0


def test_cli_writes_rules(tmp_path: Path) -> None:
    slos = tmp_path / "slos.yml"
    slos.write_text(
        yaml.safe_dump(
            {
                "tiers": {"gold": 0.9995, "silver": 0.999},
                "slos": [
                    {
                        "name": "portal",
                        "scope": "service",
                        "subject": "gov-portal",
                        "tier": "silver",
                        "sli": "up{job='portal'}",
                    },
                ],
            }
        )
    )
    out = tmp_path / "rules.yml"
    result = CliRunner().invoke(app, ["sla", "rules", "--slos", str(slos), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 alerting rule(s)" in " ".join(result.output.split())  # Rich wraps lines
    assert "/ 0.001" in load_rule_file(out)[0].rules[0].expr
    slos.write_text(
        yaml.safe_dump(
            {
                "slos": [
                    {"name": "x", "scope": "planet", "subject": "y", "target": 0.99, "sli": "up"}
                ]
            }
        )
    )
    bad = CliRunner().invoke(app, ["sla", "rules", "--slos", str(slos), "--out", str(out)])
    assert bad.exit_code == 2
    said = " ".join(bad.output.split())
    assert "slos[1]" in said and "scope" in said


# --- The expressions against real data --------------------------------------------------------


@pytest.fixture(scope="module")
def prom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_promtool()
    first, outage = int(START.timestamp()), int(OUTAGE.timestamp())
    down = range(outage, outage + OUTAGE_MINUTES * 60, 60)
    samples = [(t, 0.0 if t in down else 1.0) for t in range(first, first + 4 * 86400, 60)]
    workdir = tmp_path_factory.mktemp("burn")
    data = backfill(workdir, [Series("probe_success", {"target": "gov-portal"}, "gauge", samples)])
    with prometheus_on(workdir, data) as peer:
        yield peer.url


def _firing(url: str, at: datetime) -> list[str]:
    """Severities of PORTAL's burn alerts whose expression holds at `at`."""
    fired = []
    for rule in rule_groups([PORTAL])["groups"][0]["rules"]:
        params = urlencode({"query": rule["expr"], "time": f"{at.timestamp():.3f}"})
        with urlopen(f"{url}/api/v1/query?{params}", timeout=30) as response:  # noqa: S310
            body = json.load(response)
        assert body["status"] == "success", body
        if body["data"]["result"]:
            fired.append(rule["labels"]["severity"])
    return fired


def test_fast_burn_pages_and_clears_before_the_slow_tickets(prom_url: str) -> None:
    minutes = timedelta(minutes=1)
    # Before the outage nothing burns.
    assert _firing(prom_url, OUTAGE - 30 * minutes) == []
    # Ten minutes in: every window pair burns.
    assert _firing(prom_url, OUTAGE + 10 * minutes) == ["P1", "P2", "P3", "P4"]
    # Twenty minutes after the end: the 5-minute window is clean, so the page clears.
    assert _firing(prom_url, OUTAGE + 110 * minutes) == ["P2", "P3", "P4"]
    # Three hours after: only the three-day ticket, whose short window is 6 h, still holds.
    assert _firing(prom_url, OUTAGE + 270 * minutes) == ["P4"]


def test_cli_budget() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["sla", "budget", "--target", "0.9995", "--measured", "0.999"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "budget 21.60 min, spent 43.20 min, remaining -100.0 %, burn rate 2.000" in said
    bad = runner.invoke(app, ["sla", "budget", "--target", "1", "--measured", "0.999"])
    assert bad.exit_code == 2
    assert "target" in bad.output
