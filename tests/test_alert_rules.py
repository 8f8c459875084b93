"""Prometheus rule files: loading, validation that names the mistake, templating as
Prometheus renders it, and the `yunheng rules` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.evaluate import rule_observations
from alerts.promql import QueryError, Sample, parse_result
from alerts.rules import (
    RuleFileError,
    load_rule_file,
    load_rule_files,
    parse_duration,
    parse_groups,
    rule_paths,
)
from alerts.templating import TemplateError, go_float, render
from console.cli import app
from inventory.models import AlertSource

RULES = Path(__file__).parent / "rules"


def test_standard_rule_file_loads() -> None:
    groups = load_rule_file(RULES / "node.yml")
    assert [g.name for g in groups] == ["node", "estate"]
    node = groups[0]
    assert node.interval_seconds is None and node.source_key == "rule:node.yml:node"
    assert [r.name for r in node.rules] == ["HostHighLoad", "HostOutOfDisk"]  # record skipped
    load = node.rules[0]
    assert load.expr == "node_load1 > 0.8"
    assert load.for_seconds == 120 and load.keep_firing_for_seconds == 30
    assert load.labels == {"severity": "warning"}
    assert groups[1].interval_seconds == 90 and groups[1].limit == 10


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d", 86400),
        ("2w", 14 * 86400),
        ("1y", 365 * 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "for") == seconds


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"groups": [{"rules": []}]}, "f.yml: group 1: name: required"),
        ({"groups": [{"name": "a"}, {"name": "a"}]}, "group 'a': repeated in the same file"),
        ({"groups": [{"name": "a", "evaluation": "1m"}]}, "group 'a': unknown field evaluation"),
        ({"groups": [{"name": "a", "interval": "fast"}]}, "group 'a': interval: bad duration"),
        ({"groups": [{"name": "a", "limit": -1}]}, "group 'a': limit: must be a whole number"),
        ({"groups": [{"name": "a", "rules": [{"alert": "X"}]}]}, "rule 1: expr: must be"),
        (
            {"groups": [{"name": "a", "rules": [{"alert": "X Y", "expr": "up"}]}]},
            "rule 1: alert: 'X Y' is not a valid alert name",
        ),
        (
            {"groups": [{"name": "a", "rules": [{"alert": "X", "expr": "up", "for": "5 m"}]}]},
            "rule 1 (X): for: bad duration '5 m'",
        ),
        (
            {"groups": [{"name": "a", "rules": [{"alert": "X", "expr": "up", "anotations": {}}]}]},
            "rule 1: unknown field anotations",
        ),
        (
            {
                "groups": [
                    {
                        "name": "a",
                        "rules": [{"alert": "X", "expr": "up", "labels": {"bad-name": "x"}}],
                    }
                ]
            },
            "rule 1 (X): labels: invalid name 'bad-name'",
        ),
        (
            {
                "groups": [
                    {
                        "name": "a",
                        "rules": [
                            {
                                "alert": "X",
                                "expr": "up",
                                "annotations": {"summary": "{{ if $value }}hi{{ end }}"},
                            }
                        ],
                    }
                ]
            },
            "rule 1 (X): annotations.summary: template: template action 'if' is not supported",
        ),
        (
            {"groups": [{"name": "a", "rules": [{"alert": "X", "record": "y", "expr": "up"}]}]},
            "only one of 'record' and 'alert'",
        ),
        ({"rules": []}, "f.yml: expected a mapping with only 'groups'"),
    ],
)
def test_mistakes_are_named(data: object, message: str) -> None:
    with pytest.raises(RuleFileError) as raised:
        parse_groups(data, "f.yml")
    assert message in str(raised.value)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match=r"missing\.yml: cannot read"):
        load_rule_file(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: a\n   rules: [\n")
    with pytest.raises(RuleFileError, match=r"bad\.yml: not valid YAML at line \d+"):
        load_rule_file(bad)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert load_rule_file(empty) == []


def test_rule_paths_and_duplicate_groups(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "x.yml").write_text("groups: [{name: g, rules: []}]\n")
    paths = rule_paths(f"{tmp_path}/*/x.yml, ,{RULES / 'node.yml'}")
    assert [p.name for p in paths] == ["x.yml", "x.yml", "node.yml"]
    with pytest.raises(RuleFileError, match="group 'g': also in"):
        load_rule_files(paths)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ $labels.instance }} at {{ $value }}", "db1:9100 at 0.93"),
        ("{{ .Labels.job }}/{{ .Value }}", "node/0.93"),
        ('{{ index $labels "job" }}', "node"),
        ("{{ $labels.missing }}!", "!"),
        ("{{ $value | humanizePercentage }}", "93%"),
        ('{{ printf "%.1f" $value }}', "0.9"),
        ('{{ $value | printf "%.3f" }}', "0.930"),
        ("{{ $labels.job | toUpper }}", "NODE"),
        ("a {{- $labels.job -}} b", "anodeb"),
        ("{{/* a comment */}}x", "x"),
        ("{{ $externalLabels.cluster }}", ""),
    ],
)
def test_templates_render_like_prometheus(template: str, expected: str) -> None:
    assert render(template, {"instance": "db1:9100", "job": "node"}, 0.93) == expected


@pytest.mark.parametrize(
    ("value", "template", "expected"),
    [
        (1234567.0, "{{ $value | humanize }}", "1.235M"),
        (0.0012, "{{ $value | humanize }}", "1.2m"),
        (2048.0, "{{ $value | humanize1024 }}", "2ki"),
        (93784.0, "{{ $value | humanizeDuration }}", "1d 2h 3m 4s"),
        (0.25, "{{ $value | humanizeDuration }}", "250ms"),
        (1e6, "{{ $value }}", "1e+06"),
        (123456.0, "{{ $value }}", "123456"),
        (3.0, "{{ $value }}", "3"),
        (float("nan"), "{{ $value }}", "NaN"),
        (float("inf"), "{{ $value }}", "+Inf"),
    ],
)
def test_numbers_print_as_go_prints_them(value: float, template: str, expected: str) -> None:
    assert render(template, {}, value) == expected


def test_go_float_small_numbers() -> None:
    assert go_float(0.0001) == "0.0001"
    assert go_float(0.00001) == "1e-05"
    assert go_float(-2.5) == "-2.5"


def test_bad_templates_fail() -> None:
    for bad in ["{{ range $labels }}", "{{ nosuch }}", "{{ printf }}", '{{ query "up" }}']:
        with pytest.raises(TemplateError):
            render(bad, {}, 1.0)


def test_query_results_become_observations() -> None:
    group = load_rule_file(RULES / "node.yml")[0]
    rule = group.rules[0]
    samples = parse_result(
        [
            {
                "metric": {"__name__": "node_load1", "instance": "a", "job": "node"},
                "value": [1700000000.0, "0.93"],
            },
            {
                "metric": {"__name__": "node_load1", "instance": "b", "job": "node"},
                "value": [1700000000.0, "NaN"],
            },
        ]
    )
    found = rule_observations(group, rule, samples, "http://prom:9090")
    assert [o.labels for o in found] == [
        {"instance": "a", "job": "node", "severity": "warning", "alertname": "HostHighLoad"},
        {"instance": "b", "job": "node", "severity": "warning", "alertname": "HostHighLoad"},
    ]
    first = found[0]
    assert first.annotations["summary"] == "load 0.93 on a"
    assert first.value == 0.93 and found[1].value is None
    assert first.for_seconds == 120 and first.source == AlertSource.rule
    assert first.generator_url is not None and "node_load1" in first.generator_url
    # A scalar answer is one series without labels.
    assert parse_result([1700000000.0, "1"]) == [Sample({}, 1.0)]


def test_rule_failures() -> None:
    node, estate = load_rule_file(RULES / "node.yml")
    too_many = [Sample({"i": str(n)}, 1.0) for n in range(11)]
    with pytest.raises(QueryError, match="more than the group's limit 10"):
        rule_observations(estate, estate.rules[0], too_many, "http://p")
    # The rule's labels override the series' and make two series one: Prometheus fails it.
    clash = [Sample({"severity": "a"}, 1.0), Sample({"severity": "b"}, 1.0)]
    with pytest.raises(QueryError, match="same labels"):
        rule_observations(node, node.rules[0], clash, "http://p")
    with pytest.raises(QueryError, match="instant vector"):
        parse_result([{"metric": {}, "values": [[1, "1"]]}])


def test_cli_rules_check_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inventory.settings import get_settings

    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "check", str(RULES / "node.yml")])
    assert ok.exit_code == 0, ok.output
    assert "2 group(s), 3 alerting rule(s): OK" in ok.output
    bad = tmp_path / "bad.yml"
    bad.write_text("groups: [{name: a, rules: [{alert: X, expr: up, for: soon}]}]\n")
    failed = runner.invoke(app, ["rules", "check", str(bad)])
    assert failed.exit_code == 2
    assert "rule 1 (X): for: bad duration 'soon'" in failed.output
    monkeypatch.setenv("YUNHENG_RULE_FILES", str(RULES / "node.yml"))
    get_settings.cache_clear()
    try:
        listed = runner.invoke(app, ["rules", "list"], env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0, listed.output
    for name in ("CloudUnreachable", "HostDown", "InventorySyncStale", "HostHighLoad"):
        assert name in listed.output
