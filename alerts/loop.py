"""The 7x24 loop: evaluate -> incidents -> escalation -> notifications, every interval, in
exactly one replica.

Each step runs in its own transaction, so one failing step (a notifier's peer down, a bad
route) is logged and the others still run; the next cycle tries again. Nothing lives only
in memory: a process killed between two steps loses nothing, and because deliveries are
keyed by a unique dedupe key, the next leader that repeats a step pages nobody twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import dispatch, escalation, incidents
from alerts.builtin import EstateLimits
from alerts.evaluate import Evaluator, RoundReport
from alerts.leader import Clock, Job, LeaderScheduler
from alerts.promql import MetricsSource, PrometheusSource
from alerts.rules import RuleFileError, RuleGroup, load_rule_files, rule_paths
from inventory.crypto import SecretBox
from inventory.db import session_scope
from inventory.models import StoredReport
from inventory.settings import Settings
from inventory.types import utcnow
from scheduler import resume
from sla import stored
from sla.availability import SHANGHAI
from sla.kpi import kpi_config
from sla.measure import settler

log = logging.getLogger(__name__)

LEASE_NAME = "alert-loop"
REPORT_JOB = "monthly-report"
REPORT_CATCH_UP_JOB = "monthly-report-catch-up"
REPORT_CATCH_UP_SECONDS = 3600.0
# Durable apply (scheduler.resume): how often the leader looks for plans whose apply died.
RESUME_JOB = "plan-resume"
RESUME_SECONDS = 5.0


def report_trigger() -> CronTrigger:
    """The monthly report's time: the 1st of each month, 08:00 Asia/Shanghai (00:00 UTC)."""
    return CronTrigger(day=1, hour=stored.DUE_HOUR, minute=0, timezone=SHANGHAI)


@dataclass
class CycleReport:
    at: datetime
    round: RoundReport | None = None
    escalated: int = 0
    sent: int = 0
    failed_steps: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class RuleSet:
    """The rule files named in settings, reloaded when one changes. A file that no longer
    loads keeps the last good rules in force (and says so in the log), like Prometheus."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.stamp = self._stamp()
        self.groups: list[RuleGroup] = load_rule_files(rule_paths(spec))  # fails loudly at start

    def _stamp(self) -> tuple[tuple[str, float], ...]:
        stamps = []
        for path in rule_paths(self.spec):
            try:
                stamps.append((str(path), os.stat(path).st_mtime))
            except OSError:
                stamps.append((str(path), -1.0))
        return tuple(stamps)

    def refresh(self) -> bool:
        """True when the rules changed and were reloaded."""
        stamp = self._stamp()
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        try:
            self.groups = load_rule_files(rule_paths(self.spec))
        except RuleFileError as exc:
            log.error("rule files not reloaded, the previous rules stay in force: %s", exc)
            return False
        log.info("rule files reloaded: %d groups", len(self.groups))
        return True


def build_evaluator(
    settings: Settings,
    *,
    source: MetricsSource | None = None,
    groups: list[RuleGroup] | None = None,
) -> Evaluator:
    if source is None and settings.prometheus_url:
        source = PrometheusSource(
            settings.prometheus_url, timeout=settings.alert_query_timeout_seconds
        )
    return Evaluator(
        groups if groups is not None else [],
        source,
        limits=EstateLimits(sync_stale=timedelta(minutes=settings.alert_sync_stale_minutes)),
        blind_for_seconds=settings.alert_blind_for_seconds,
        recovery_grace_seconds=settings.alert_recovery_grace_seconds,
    )


def run_cycle(
    engine: Engine, box: SecretBox, evaluator: Evaluator, now: datetime, *, send_timeout: float
) -> CycleReport:
    """One pass of the loop at `now` (the injected clock)."""
    started = time.perf_counter()
    report = CycleReport(at=now)
    collected = evaluator.collect(now)  # network first, outside any transaction

    def evaluate(session: Session) -> None:
        report.round = evaluator.apply(session, collected, now)

    def escalate(session: Session) -> None:
        report.escalated = escalation.escalate_due(session, now)

    def send(session: Session) -> None:
        report.sent = dispatch.send_due(session, box, now, timeout=send_timeout)

    steps: list[tuple[str, Callable[[Session], None]]] = [
        ("evaluate", evaluate),
        ("incidents", lambda s: incidents.process(s, box, now)),
        ("escalation", escalate),
        ("dispatch", send),
    ]
    for name, step in steps:
        try:
            with session_scope(engine) as session:
                step(session)
        except Exception as exc:
            log.exception("alert loop step %s failed; the next cycle tries again", name)
            report.failed_steps[name] = f"{type(exc).__name__}: {exc}"[:500]
    report.seconds = time.perf_counter() - started
    return report


class AlertLoop:
    """The loop of one replica: contends for the lease and, while it leads, runs a cycle
    every `alert_interval_seconds`, plus any extra jobs (the demo's fault injector) and,
    unless `report_schedule` is off, the monthly assessment report's schedule."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        settings: Settings,
        *,
        source: MetricsSource | None = None,
        clock: Clock = utcnow,
        holder: str | None = None,
        extra_jobs: list[tuple[str, Job, float]] | None = None,
    ) -> None:
        self.engine = engine
        self.box = box
        self.settings = settings
        self.rules = RuleSet(settings.rule_files)
        self.evaluator = build_evaluator(settings, source=source, groups=self.rules.groups)
        self.leader = LeaderScheduler(
            engine,
            LEASE_NAME,
            interval_seconds=settings.alert_interval_seconds,
            holder=holder,
            clock=clock,
        )
        self.leader.add_job("alert-cycle", self.cycle, settings.alert_interval_seconds)
        for job_id, fn, seconds in extra_jobs or []:
            self.leader.add_job(job_id, fn, seconds)
        # The cron run and the hourly catch-up coincide at 08:00 on the 1st (00:00 UTC is
        # on the hour): one waits for the other and then finds the report stored.
        self._report_lock = threading.Lock()
        if settings.report_schedule:
            # On time in the holder at 08:00 on the 1st; and, since the holder may be down
            # then or leadership may move, checked by every new leader at once and hourly.
            self.leader.add_cron_job(REPORT_JOB, self.store_due_report, report_trigger())
            self.leader.add_job(REPORT_CATCH_UP_JOB, self.catch_up_report, REPORT_CATCH_UP_SECONDS)
        # The safety net behind the approval's own background apply: see scheduler.resume.
        self.leader.add_job(RESUME_JOB, self.resume_plans, RESUME_SECONDS)
        self.last: CycleReport | None = None
        self.cycles = 0  # cycles run by this replica (tests and logs)

    def cycle(self, now: datetime) -> CycleReport:
        if self.rules.refresh():
            self.evaluator.groups = self.rules.groups
        self.last = run_cycle(
            self.engine,
            self.box,
            self.evaluator,
            now,
            send_timeout=self.settings.notify_timeout_seconds,
        )
        self.cycles += 1
        if self.last.failed_steps:
            log.warning("alert cycle at %s: failed steps %s", now, self.last.failed_steps)
        return self.last

    def store_due_report(self, now: datetime) -> StoredReport | None:
        """Store the due month's assessment report if it is not stored yet (sla.stored)."""
        with self._report_lock, session_scope(self.engine) as session:
            settle = settler(session, self.settings, now)
            row = stored.ensure_due(session, now, settle, kpi_config(self.settings))
        if row is not None:
            log.info("monthly report %s stored (%s)", row.month, row.trigger)
        return row

    def catch_up_report(self, slot_time: datetime) -> StoredReport | None:
        # Interval jobs get their slot's time (up to an hour early here); the report's
        # as_of and generated_at want the real time.
        return self.store_due_report(self.leader.clock())

    def resume_plans(self, slot_time: datetime) -> list[resume.Resumed]:
        """Apply again the plans whose apply stopped with its process (scheduler.resume)."""
        return resume.resume_orphaned(
            self.engine,
            self.box,
            silent_for=resume.stale_after(self.settings),
            timeout=self.settings.adapter_timeout_seconds,
            clock=self.leader.clock,
        )

    def start(self) -> None:
        source = self.evaluator.source
        log.info(
            "alert loop: every %.1f s, %d rule groups from %r, Prometheus %s",
            self.settings.alert_interval_seconds,
            len(self.rules.groups),
            self.settings.rule_files or "(none)",
            source.url if source is not None else "not set (built-in rules only)",
        )
        self.leader.start()

    def stop(self) -> None:
        self.leader.stop()
        source = self.evaluator.source
        if isinstance(source, PrometheusSource):
            source.close()


DEMO_FAULT_PERIOD = 5.0  # seconds between the fault injector's checks


def demo_jobs(engine: Engine, box: SecretBox, settings: Settings) -> list[tuple[str, Job, float]]:
    """`yunheng demo`: a simulated fault every `demo_fault_minutes`, cleared half-way."""
    from alerts.demo_faults import DemoFaults

    faults = DemoFaults(engine, box, every=timedelta(minutes=settings.demo_fault_minutes))
    return [("demo-faults", faults, DEMO_FAULT_PERIOD)]
