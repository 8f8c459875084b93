"""Alert state on both databases: fingerprints, matchers, pending -> firing -> resolved,
keep_firing_for, incomplete rounds, new episodes and a restart in the middle."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts.fingerprint import fingerprint
from alerts.matchers import matches, parse_matchers
from alerts.state import severity_of
from inventory.db import make_engine
from inventory.errors import Invalid
from inventory.models import Alert, AlertState, Severity
from tests import factories
from tests.alert_builders import T0, alert_by_name, at, obs, round_, state_of

# --- Fingerprints ---------------------------------------------------------------------------


def test_fingerprint_ignores_label_order_and_tells_label_sets_apart() -> None:
    one = fingerprint({"alertname": "HostDown", "host": "h1", "cloud": "c"})
    same = fingerprint({"cloud": "c", "host": "h1", "alertname": "HostDown"})
    assert one == same and len(one) == 64
    assert fingerprint({"a": "b,c"}) != fingerprint({"a": "b", "c": ""})
    assert fingerprint({"a": "b"}) != fingerprint({"a": "b", "x": ""})
    assert fingerprint({"a": "云"}) != fingerprint({"a": "云 "})


def test_fingerprint_value_is_stable_across_releases() -> None:
    # sha256 of [["alertname","HostDown"],["host","h1"]] in compact JSON.
    import hashlib

    expected = hashlib.sha256(b'[["alertname","HostDown"],["host","h1"]]').hexdigest()
    assert fingerprint({"host": "h1", "alertname": "HostDown"}) == expected


# --- Matchers --------------------------------------------------------------------------------

LABELS = {"alertname": "HostDown", "severity": "P2", "cloud": "os-1", "host": "h-10"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('alertname="HostDown"', True),
        ("alertname=HostDown", True),
        ('alertname!="HostDown"', False),
        ('severity=~"P1|P2"', True),
        ('severity!~"P1|P2"', False),
        ('alertname=~"Host"', False),  # anchored: not a substring search
        ('alertname=~"Host.*"', True),
        ('alertname=~".*Down"', True),
        ('alertname=~"ostDown"', False),
        ('team=""', True),  # an absent label is the empty string
        ('team!=""', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('cloud!="os-2"', True),
        ('host=~"h-[0-9]+"', True),
        ('host=~"h-[0-9]"', False),
    ],
)
def test_matchers_like_alertmanager(text: str, expected: bool) -> None:
    assert matches(parse_matchers([text]), LABELS) is expected


def test_matcher_shapes_agree() -> None:
    as_dicts = parse_matchers(
        [
            {"name": "severity", "op": "=~", "value": "P1|P2"},
            {"name": "cloud", "value": "os-1"},  # op defaults to =
            {"name": "host", "value": "h-1.*", "isRegex": True, "isEqual": True},
            {"name": "team", "value": "db", "isRegex": False, "isEqual": False},
        ]
    )
    as_text = parse_matchers(['{severity=~"P1|P2", cloud="os-1", host=~"h-1.*", team!="db"}'])
    assert as_dicts == as_text
    assert matches(as_dicts, LABELS)
    assert str(as_text[0]) == 'severity=~"P1|P2"'
    quoted = parse_matchers(['summary="say \\"hi\\", then go"'])
    assert quoted[0].value == 'say "hi", then go'
    assert matches([], LABELS), "no matchers select everything"


@pytest.mark.parametrize(
    ("items", "field", "words"),
    [
        (['alertname=~"("'], "matchers[0].value", "invalid regex"),
        (["alertname"], "matchers[0]", "cannot parse"),
        ([{"name": "1abc", "value": "x"}], "matchers[0].name", "not a valid label name"),
        ([{"name": "a", "op": "~=", "value": "x"}], "matchers[0].op", "not one of"),
        ([{"name": "a"}], "matchers[0].value", "required"),
        (["a=b", 'c=~"["'], "matchers[1].value", "invalid regex"),
        (['{a="b"'], "matchers[0]", "unclosed"),
    ],
)
def test_bad_matchers_name_the_field(
    items: list[dict[str, str] | str], field: str, words: str
) -> None:
    with pytest.raises(Invalid) as caught:
        parse_matchers(items)
    assert caught.value.field == field and words in caught.value.message


def test_severity_words_map_to_p1_to_p4() -> None:
    assert severity_of({"severity": "critical"}) == Severity.P1
    assert severity_of({"severity": "error"}) == Severity.P2
    assert severity_of({"severity": "major"}) == Severity.P2
    assert severity_of({"severity": "warning"}) == Severity.P3
    assert severity_of({"severity": "info"}) == Severity.P4
    assert severity_of({"severity": "p1"}) == Severity.P1
    assert severity_of({"severity": "whatever"}) == Severity.P3
    assert severity_of({}) == Severity.P3


# --- State transitions --------------------------------------------------------------------


def test_pending_then_firing_after_for(session: Session) -> None:
    rule = obs("HighLoad", for_seconds=60, instance="a")
    round_(session, [rule], at(0))
    alert = alert_by_name(session, "HighLoad")
    assert state_of(alert) == AlertState.pending and alert.fired_at is None
    assert alert.active_since == T0
    round_(session, [rule], at(59))
    assert state_of(alert) == AlertState.pending
    round_(session, [rule], at(60))
    assert state_of(alert) == AlertState.firing
    assert alert.fired_at == at(60) and alert.active_since == T0
    session.commit()


def test_for_zero_fires_at_once_and_labels_fill_columns(session: Session) -> None:
    dept = factories.department(session, "health")
    round_(
        session,
        [obs("Disk", severity="critical", department="health", annotations={"summary": "full"})],
        at(0),
    )
    alert = alert_by_name(session, "Disk")
    assert state_of(alert) == AlertState.firing and alert.fired_at == T0
    assert alert.severity == Severity.P1 and alert.department_id == dept.id
    assert alert.annotations == {"summary": "full"} and alert.source_key == "rule:test.yml:group"


def test_pending_alert_that_goes_away_never_fires(session: Session) -> None:
    round_(session, [obs("Flap", for_seconds=300)], at(0))
    round_(session, [], at(60))
    alert = alert_by_name(session, "Flap")
    assert state_of(alert) == AlertState.resolved
    assert alert.fired_at is None and alert.resolved_at == at(60)


def test_absent_from_a_complete_round_resolves(session: Session) -> None:
    round_(session, [obs("Down", host="h1"), obs("Down", host="h2")], at(0))
    round_(session, [obs("Down", host="h1")], at(30))
    assert alert_by_name(session, "Down", host="h1").state == AlertState.firing
    gone = alert_by_name(session, "Down", host="h2")
    assert gone.state == AlertState.resolved and gone.resolved_at == at(30)


def test_incomplete_round_resolves_nothing(session: Session) -> None:
    round_(session, [obs("Down", host="h1"), obs("Slow", for_seconds=60)], at(0))
    # The query failed: nothing is known, so nothing is resolved...
    round_(session, [], at(30), complete=False)
    assert alert_by_name(session, "Down").state == AlertState.firing
    assert alert_by_name(session, "Slow").state == AlertState.pending
    # ...but what was observed still moves on (the pending alert's `for` ran out).
    round_(session, [obs("Slow", for_seconds=60)], at(60), complete=False)
    assert alert_by_name(session, "Slow").state == AlertState.firing
    assert alert_by_name(session, "Down").state == AlertState.firing
    # The control: a complete round without them resolves both.
    round_(session, [], at(90))
    assert {a.state for a in session.execute(sa.select(Alert)).scalars()} == {AlertState.resolved}


def test_a_round_of_one_source_leaves_other_sources_alone(session: Session) -> None:
    round_(session, [obs("A")], at(0), key="rule:a.yml:g")
    round_(session, [obs("B")], at(0), key="rule:b.yml:g")
    round_(session, [], at(30), key="rule:b.yml:g")
    assert alert_by_name(session, "A").state == AlertState.firing
    assert alert_by_name(session, "B").state == AlertState.resolved


def test_keep_firing_for_holds_a_cleared_alert(session: Session) -> None:
    rule = obs("Flappy", keep_firing_for=120)
    round_(session, [rule], at(0))
    alert = alert_by_name(session, "Flappy")
    round_(session, [], at(30))  # cleared: held from here for 120 s
    assert state_of(alert) == AlertState.firing and alert.keep_firing_until == at(150)
    round_(session, [], at(149))
    assert state_of(alert) == AlertState.firing
    round_(session, [rule], at(160))  # true again before running out: the hold resets
    assert state_of(alert) == AlertState.firing and alert.keep_firing_until is None
    round_(session, [], at(200))
    assert alert.keep_firing_until == at(320)
    round_(session, [], at(319))
    assert state_of(alert) == AlertState.firing
    round_(session, [], at(320))
    assert state_of(alert) == AlertState.resolved and alert.resolved_at == at(320)
    assert alert.fired_at == T0, "one episode throughout"


def test_firing_again_after_resolving_is_a_new_episode(session: Session) -> None:
    rule = obs("Down", host="h1", for_seconds=30)
    round_(session, [rule], at(0))
    round_(session, [rule], at(30))
    alert = alert_by_name(session, "Down")
    round_(session, [], at(60))
    assert state_of(alert) == AlertState.resolved
    round_(session, [rule], at(90))
    assert state_of(alert) == AlertState.pending and alert.active_since == at(90)
    assert alert.resolved_at is None and alert.fired_at is None
    round_(session, [rule], at(120))
    assert state_of(alert) == AlertState.firing and alert.fired_at == at(120)
    rows = session.execute(sa.select(sa.func.count()).select_from(Alert)).scalar_one()
    assert rows == 1, "one row per series, ever"


def test_bad_observations_are_refused_naming_the_field(session: Session) -> None:
    with pytest.raises(Invalid) as caught:
        round_(session, [obs("Fine"), obs("Bad", for_seconds=-1)], at(0))
    assert caught.value.field == "observations[1].for"
    with pytest.raises(Invalid) as empty:
        round_(session, [obs("X")], at(0), key="")
    assert empty.value.field == "source_key"


def test_restart_mid_pending_keeps_the_clock(engine: Engine, database_url: str) -> None:
    rule = obs("HighLoad", for_seconds=120, instance="a")
    with Session(engine) as first:
        round_(first, [rule], at(0))
        round_(first, [rule], at(60))
        first.commit()
    engine.dispose()
    # A new process: a new engine and session on the same database.
    fresh = make_engine(database_url)
    try:
        with Session(fresh) as second:
            round_(second, [rule], at(119))
            alert = alert_by_name(second, "HighLoad")
            assert state_of(alert) == AlertState.pending and alert.active_since == T0
            round_(second, [rule], at(120))
            assert state_of(alert) == AlertState.firing and alert.fired_at == at(120)
            second.commit()
            count = second.execute(
                sa.select(sa.func.count()).select_from(Alert).where(col(Alert.name) == "HighLoad")
            ).scalar_one()
            assert count == 1
    finally:
        fresh.dispose()
