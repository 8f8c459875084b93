"""One evaluation round: built-in estate rules, rule files against Prometheus, and the dead
man's switch.

Queries run first, outside any transaction, batched (alerts.batch: 5,000 rules in about
100 queries) on a small thread pool; the results are then written through
alerts.state.observe, one call per rule group. A query that fails makes its group's round
incomplete, which resolves nothing: a Prometheus outage never reads as "all clear".

When Prometheus cannot be queried at all (connection refused, time-out, 5xx), the round
raises MonitoringBlind instead of going quiet: a critical alert of source `blind` that goes
through the same incidents, escalation and notifiers as any other, and resolves when
Prometheus answers again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlmodel import Session

from alerts.batch import query_batched
from alerts.builtin import EstateLimits, evaluate_builtin
from alerts.promql import (
    MetricsSource,
    QueryError,
    Sample,
    Unreachable,
)
from alerts.rules import Rule, RuleGroup
from alerts.state import Observation, observe
from alerts.templating import TemplateError, render
from inventory.models import AlertSource

log = logging.getLogger(__name__)

BLIND_SOURCE_KEY = "blind"
BLIND_ALERTNAME = "MonitoringBlind"
PROBE = "vector(1)"


@dataclass
class GroupOutcome:
    source_key: str
    observed: int = 0
    complete: bool = True
    errors: list[str] = field(default_factory=list)


Answer = list[Sample] | QueryError


@dataclass
class Collected:
    """What Prometheus said this round, before anything is written."""

    groups: list[RuleGroup] = field(default_factory=list)
    answers: list[tuple[tuple[RuleGroup, Rule], Answer]] = field(default_factory=list)
    blind: str | None = None
    queries: int = 0


@dataclass
class RoundReport:
    builtin: dict[str, int] = field(default_factory=dict)
    groups: list[GroupOutcome] = field(default_factory=list)
    blind: str | None = None  # why Prometheus could not be queried, or None
    queries: int = 0


def rule_observations(
    group: RuleGroup, rule: Rule, samples: list[Sample], prometheus_url: str
) -> list[Observation]:
    """What Prometheus's alerting rule does with a query result: series labels without
    __name__, then the rule's (templated) labels, then alertname; templates see the series'
    own labels and value. Two series that end up with equal labels fail the rule."""
    if group.limit and len(samples) > group.limit:
        raise QueryError(f"{len(samples)} alerts, more than the group's limit {group.limit}")
    link = f"{prometheus_url}/graph?g0.expr={quote(rule.expr)}&g0.tab=1"
    found: dict[frozenset[tuple[str, str]], Observation] = {}
    for sample in samples:
        series = {k: v for k, v in sample.labels.items() if k != "__name__"}
        try:
            extra = {k: render(v, series, sample.value) for k, v in rule.labels.items()}
            notes = {k: render(v, series, sample.value) for k, v in rule.annotations.items()}
        except TemplateError as exc:
            raise QueryError(f"template: {exc}") from None
        labels = {**series, **{k: v for k, v in extra.items() if v}, "alertname": rule.name}
        key = frozenset(labels.items())
        if key in found:
            raise QueryError("two series have the same labels once the rule's are added")
        found[key] = Observation(
            labels=labels,
            annotations=notes,
            value=None if math.isnan(sample.value) else sample.value,
            source=AlertSource.rule,
            for_seconds=rule.for_seconds,
            keep_firing_for_seconds=rule.keep_firing_for_seconds,
            generator_url=link,
        )
    return list(found.values())


class Evaluator:
    """Holds what lasts between rounds: the rule groups, the metrics source, when each
    group last ran. Everything about alerts themselves lives in the database."""

    def __init__(
        self,
        groups: list[RuleGroup],
        source: MetricsSource | None,
        *,
        limits: EstateLimits | None = None,
        blind_for_seconds: float = 60.0,
        recovery_grace_seconds: float = 120.0,
        workers: int = 8,
    ) -> None:
        self.groups = groups
        self.source = source
        self.limits = limits or EstateLimits()
        self.blind_for_seconds = blind_for_seconds
        # After Prometheus was unreachable, its first answers may come before its first
        # scrapes (a restart, a new TSDB): nothing resolves by absence until this passes.
        self.recovery_grace = timedelta(seconds=recovery_grace_seconds)
        self._blind = False
        self._grace_until: datetime | None = None
        self.workers = workers
        self._last_run: dict[str, datetime] = {}

    def due(self, now: datetime) -> list[RuleGroup]:
        """Groups without an interval of their own run every round; others when due."""
        due = []
        for group in self.groups:
            last = self._last_run.get(group.source_key)
            every = group.interval_seconds
            if every is None or last is None or (now - last).total_seconds() >= every * 0.999:
                due.append(group)
        return due

    def run(self, session: Session, now: datetime) -> RoundReport:
        """A whole round in one go (tests, benchmarks). The loop splits it: `collect`
        outside any transaction, then `apply` in a short one."""
        return self.apply(session, self.collect(now), now)

    def collect(self, now: datetime) -> Collected:
        """Ask Prometheus everything this round needs; no database work here."""
        collected = Collected()
        source = self.source
        if source is None:
            return collected
        try:
            source.query(PROBE)
        except QueryError as exc:
            # Every group stays incomplete: nothing observed, nothing resolved.
            collected.blind = (
                str(exc)
                if isinstance(exc, Unreachable)
                else (f"{source.url}: the probe query failed: {exc}")
            )
            return collected
        collected.groups = self.due(now)
        pairs = [(g, r) for g in collected.groups for r in g.rules]
        answers, queries = query_batched(source, [r.expr for _, r in pairs], workers=self.workers)
        collected.answers = list(zip(pairs, answers, strict=True))
        collected.queries = queries + 1
        if pairs and all(isinstance(a, Unreachable) for a in answers):
            collected.blind = f"{source.url}: no rule query was answered"
        return collected

    def apply(self, session: Session, collected: Collected, now: datetime) -> RoundReport:
        """Write one round: built-in rules, rule groups, the dead man's switch."""
        report = RoundReport(blind=collected.blind, queries=collected.queries)
        for key, observations in evaluate_builtin(session, now, self.limits).items():
            observe(session, key, observations, now, complete=True)
            report.builtin[key] = len(observations)
        if self.source is None:
            # No Prometheus configured (any more): a blind alert from before resolves.
            observe(session, BLIND_SOURCE_KEY, [], now, complete=True)
            return report
        self._note_blind(collected.blind is not None, now)
        outcomes = {g.source_key: GroupOutcome(g.source_key) for g in collected.groups}
        found: dict[str, list[Observation]] = {g.source_key: [] for g in collected.groups}
        for (group, rule), answer in collected.answers:
            try:
                if isinstance(answer, QueryError):
                    raise answer
                found[group.source_key] += rule_observations(group, rule, answer, self.source.url)
            except QueryError as exc:
                outcomes[group.source_key].complete = False
                outcomes[group.source_key].errors.append(f"{rule.name}: {exc}")
                log.warning("rule %s in %s: %s", rule.name, group.source_key, exc)
        for group in collected.groups:
            outcome = outcomes[group.source_key]
            observations = found[group.source_key]
            complete = outcome.complete and not self._in_grace(now)
            observe(session, group.source_key, observations, now, complete=complete)
            outcome.observed = len(observations)
            self._last_run[group.source_key] = now
            report.groups.append(outcome)
        blind = []
        if collected.blind is not None:
            log.error("monitoring blind: %s", collected.blind)
            blind.append(
                blind_observation(self.source.url, collected.blind, self.blind_for_seconds)
            )
        observe(session, BLIND_SOURCE_KEY, blind, now, complete=True)
        return report

    def _in_grace(self, now: datetime) -> bool:
        return self._grace_until is not None and now < self._grace_until

    def _note_blind(self, blind: bool, now: datetime) -> None:
        if self._blind and not blind:
            self._grace_until = now + self.recovery_grace
            log.info("Prometheus answers again; absent alerts resolve from %s", self._grace_until)
        self._blind = blind


def blind_observation(url: str, why: str, for_seconds: float) -> Observation:
    return Observation(
        labels={"alertname": BLIND_ALERTNAME, "severity": "critical", "prometheus": url},
        annotations={
            "summary": "监控失明:无法查询 Prometheus "
            "Monitoring blind: Prometheus cannot be queried",
            "description": f"{why}. Rule files are not being evaluated; alerts they would "
            "raise are not seen. Built-in estate rules still run.",
        },
        value=None,
        source=AlertSource.blind,
        for_seconds=for_seconds,
    )
