"""One runner among replicas: a lease row in the database and a scheduler that obeys it.

Several console replicas share one PostgreSQL; exactly one of them must evaluate rules and
page people. Each replica's heartbeat tries to take or renew the lease with a conditional
UPDATE (`... WHERE name = :n AND (expires_at < :now OR holder = :me)`), which the database
serialises: two contenders never both see their row updated. The holder renews every
quarter interval; its jobs run only while its last renewal has not expired (by its own
clock), so a holder cut off from the database stops by itself before anyone takes over.

Cron jobs (`add_cron_job`, an APScheduler 3.x trigger such as `CronTrigger`) fire at
wall-clock times and obey the same guard: a replica that does not hold the lease at that
moment skips the run. They are not caught up by the scheduler: a job that must not be missed
when the holder is down at that time, or leadership moves, pairs with an interval job that
checks whether its work is done (interval jobs also run at once on a new leader).

Takeover bound: the lease lives 1.5 intervals after the last renewal and contenders look
every quarter interval, so a new leader runs within 1.75 intervals of the holder's death
(within two intervals, with room for clock skew and a slow heartbeat). A clean shutdown
releases the lease, so the next replica takes over at its next heartbeat.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from inventory.models import Lease
from inventory.types import utcnow

log = logging.getLogger(__name__)

LEASE = Lease.__table__  # type: ignore[attr-defined]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TTL_INTERVALS = 1.5
HEARTBEATS_PER_INTERVAL = 4

Clock = Callable[[], datetime]
Job = Callable[[datetime], object]
# A fired cron run late by more than this (a stalled process) is skipped; its catch-up job,
# if it has one, does the work instead.
CRON_MISFIRE_SECONDS = 600


def slot(at: datetime, period: float) -> datetime:
    """`at` rounded down to a multiple of `period` seconds since the epoch."""
    micros = round(period * 1_000_000)
    since = at - EPOCH
    whole = since.days * 86_400_000_000 + since.seconds * 1_000_000 + since.microseconds
    return EPOCH + timedelta(microseconds=whole - whole % micros)


def new_holder_id() -> str:
    """host:pid:random, so a restarted process on the same host is a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:200]


def acquire(engine: Engine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take the lease if it is free or expired, or renew it if `holder` has it."""
    mine_or_expired = sa.or_(LEASE.c.expires_at < now, LEASE.c.holder == holder)
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == name, mine_or_expired)
            .values(
                holder=holder,
                expires_at=now + ttl,
                # A renewal keeps when this holder first took it; a takeover starts afresh.
                acquired_at=sa.case((LEASE.c.holder == holder, LEASE.c.acquired_at), else_=now),
            )
        )
        if updated.rowcount == 1:
            return True
        if conn.execute(sa.select(LEASE.c.name).where(LEASE.c.name == name)).first():
            return False
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(LEASE).values(
                    name=name, holder=holder, acquired_at=now, expires_at=now + ttl
                )
            )
        return True
    except IntegrityError:
        return False  # another replica inserted it first


def release(engine: Engine, name: str, holder: str, now: datetime) -> bool:
    """Give the lease up at once (clean shutdown); only its holder can."""
    with engine.begin() as conn:
        updated = conn.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == name, LEASE.c.holder == holder)
            .values(expires_at=now - timedelta(seconds=1))
        )
    return bool(updated.rowcount == 1)


@dataclass(frozen=True)
class LeaseState:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


def current(engine: Engine, name: str) -> LeaseState | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(LEASE).where(LEASE.c.name == name)).first()
    if row is None:
        return None
    return LeaseState(row.name, row.holder, row.acquired_at, row.expires_at)


class LeaderScheduler:
    """APScheduler jobs that run only in the replica holding lease `name`.

    `interval_seconds` sets the lease timing (see the module docstring); each job has its
    own period. Jobs get the clock's `now`; an exception in a job is logged and the job
    runs again next period: a failing peer degrades the loop, never stops it.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        interval_seconds: float,
        holder: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds: must be more than 0")
        self.engine = engine
        self.name = name
        self.holder = holder or new_holder_id()
        self.interval = interval_seconds
        self.ttl = timedelta(seconds=interval_seconds * TTL_INTERVALS)
        self.clock = clock
        self._valid_until: datetime | None = None
        self._lock = threading.Lock()
        self._jobs: list[tuple[str, Job, float]] = []
        self._cron_jobs: list[tuple[str, Job, Any]] = []  # (id, fn, APScheduler trigger)
        self._running: dict[str, threading.Lock] = {}
        self._scheduler: BackgroundScheduler | None = None

    def add_job(self, job_id: str, fn: Job, seconds: float) -> None:
        if self._scheduler is not None:
            raise RuntimeError("add jobs before start()")
        self._jobs.append((job_id, fn, seconds))

    def add_cron_job(self, job_id: str, fn: Job, trigger: Any) -> None:
        """Run `fn(now)` at the times of `trigger` (e.g. `CronTrigger(day=1, hour=8,
        timezone=...)`), only in the lease holder. Unlike interval jobs it is neither
        slot-aligned nor run when this replica becomes leader: see the module docstring."""
        if self._scheduler is not None:
            raise RuntimeError("add jobs before start()")
        self._cron_jobs.append((job_id, fn, trigger))

    def scheduled_job(self, job_id: str) -> Any:
        """The started scheduler's APScheduler job `job_id` (its `next_run_time`, its
        trigger), or None when not started or there is no such job."""
        scheduler = self._scheduler
        return scheduler.get_job(job_id) if scheduler is not None else None

    @property
    def is_leader(self) -> bool:
        return self.holds(self.clock())

    def holds(self, now: datetime) -> bool:
        with self._lock:
            return self._valid_until is not None and now < self._valid_until

    def heartbeat(self) -> bool:
        """Take or renew the lease; True while this replica leads. Safe to call directly."""
        now = self.clock()
        was = self.holds(now)
        try:
            held = acquire(self.engine, self.name, self.holder, now, self.ttl)
        except SQLAlchemyError as exc:
            # Cannot renew: keep leading only until the last renewal runs out.
            log.warning("lease %s: cannot renew it in the database: %s", self.name, exc)
            return self.holds(now)
        with self._lock:
            self._valid_until = now + self.ttl if held else None
        if held and not was:
            log.info("lease %s: %s leads now", self.name, self.holder)
            self._run_jobs_now()
        elif was and not held:
            log.warning("lease %s: lost to another replica", self.name)
        return held

    def run_job(self, job_id: str, fn: Job, period: float | None = None) -> bool:
        """Run one job once if this replica leads; False when it did not run.

        With a `period`, the job gets the time of its slot (the clock rounded down to a
        multiple of the period), as Prometheus gives its rules slot-aligned evaluation
        times: a few milliseconds of scheduling delay must not push a `for: 2s` or a
        group_wait past the slot where it ends and so delay a page by a whole interval.
        """
        running = self._running.setdefault(job_id, threading.Lock())
        if not running.acquire(blocking=False):
            return False  # still running from its last slot (or a leader's first run)
        try:
            now = self.clock()
            if not self.holds(now):
                return False
            fn(slot(now, period) if period else now)
        except Exception:
            log.exception("job %s failed; it runs again next period", job_id)
        finally:
            running.release()
        return True

    def start(self) -> None:
        scheduler = BackgroundScheduler(timezone=UTC)
        beat = self.interval / HEARTBEATS_PER_INTERVAL
        first = datetime.now(UTC)
        scheduler.add_job(
            self.heartbeat,
            "interval",
            seconds=beat,
            id="lease",
            next_run_time=first,
            max_instances=1,
            coalesce=True,
        )
        for job_id, fn, seconds in self._jobs:
            scheduler.add_job(
                self.run_job,
                "interval",
                args=[job_id, fn, seconds],
                seconds=seconds,
                id=job_id,
                # Runs start on the slot grid (see run_job), a few ms after each slot.
                next_run_time=slot(first, seconds) + timedelta(seconds=seconds),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(seconds)),
            )
        for job_id, fn, trigger in self._cron_jobs:
            scheduler.add_job(
                self.run_job,
                trigger,
                args=[job_id, fn],
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=CRON_MISFIRE_SECONDS,
            )
        self._scheduler = scheduler
        scheduler.start()

    def _run_jobs_now(self) -> None:
        # A new leader does not wait a whole period: whatever was due is run at once.
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        # A one-off run beside the regular ones, which stay on their slot grid.
        for job_id, fn, seconds in self._jobs:
            scheduler.add_job(self.run_job, "date", args=[job_id, fn, seconds])

    def stop(self, *, release_lease: bool = True) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        if release_lease and self.holds(self.clock()):
            try:
                release(self.engine, self.name, self.holder, self.clock())
            except SQLAlchemyError as exc:
                log.warning("lease %s: not released (%s); it expires by itself", self.name, exc)
        with self._lock:
            self._valid_until = None
