"""Durable apply: finish the plans whose apply died with its process.

Approving a plan starts its apply at once in the approving process (a FastAPI background
task: the fast path, scheduler.apply). If that process dies mid-apply (SIGKILL, OOM, a lost
node), the plan stays `approved` or `applying` with allocations `pending`. The alert loop's
lease holder runs `resume_orphaned` every few seconds (alerts.loop) as the safety net: it
applies such plans again, and because every allocation carries an idempotency key and is
committed as soon as it is made, what the dead process made is found, never made twice.

Decisions:
- Alive or dead is read from the database, not from a process list, so it holds across
  replicas. A live apply commits each allocation as it goes, stamping `updated_at` with the
  start of its cloud call, and every call is cut off after `adapter_timeout_seconds`; so a
  live apply leaves a stamp younger than two timeouts (the last call's start, then at most
  one whole call before the next commit). A plan with nothing newer than `stale_after` (two
  timeouts plus a margin for a busy thread pool and clock skew between replicas) since its
  approval and its last allocation stamp is orphaned. A fresh or progressing apply is never
  taken from the process running it.
- One applier per plan: the job runs only in the lease holder, and each plan is claimed in
  one transaction that locks the plan row (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs
  one writer at a time) and then re-checks staleness inside a conditional UPDATE that stamps
  the plan's unfinished allocations with `now`. A second claimer (a former leader whose job
  was still running) sees the stamp and backs off, and the stamp keeps the plan looking live
  to every replica while the claimer applies it.
- One plan at a time, each claimed right before it is applied, so no claim ages in a queue.
- Rebalance plans are covered the same way, with their moves (`plan_move.updated_at`) in
  place of allocations: scheduler.rebalance_resume finds and claims them, and this job
  applies them through scheduler.apply like the rest, oldest plan first.
- `yunheng plan retry` stamps what is left to do (allocations, or a rebalance's moves), so
  the job leaves a retry's own apply alone for `stale_after`. Not covered: a retried place
  plan whose apply dies while its allocations are all `failed` (none `pending`); the admin
  retries it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col

from inventory.crypto import SecretBox
from inventory.db import session_scope
from inventory.models import Allocation, AllocationStatus, Plan, PlanStatus
from inventory.models.requests import PlanKind
from inventory.settings import Settings
from inventory.types import utcnow
from scheduler import apply, rebalance_resume
from scheduler.reopen import UNFINISHED, reopen

log = logging.getLogger(__name__)

ACTOR = "system"  # the audit trail's name for work no user started
# Room beyond two adapter timeouts: a background task waiting for a free worker thread,
# a slow commit, and clock skew between replicas (each stamps with its own clock).
MARGIN = timedelta(seconds=5)
_OTHER = sa.alias(Allocation.__table__, "other")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Resumed:
    plan_id: int
    status: PlanStatus  # how the resumed apply ended (applied or partial)


def stale_after(settings: Settings) -> timedelta:
    """How long an unfinished plan must be silent before it counts as orphaned."""
    return 2 * timedelta(seconds=settings.adapter_timeout_seconds) + MARGIN


def _no_stamp_since(plan_id: Any, cutoff: datetime) -> sa.ColumnElement[bool]:
    """None of the plan's allocations was stamped at or after `cutoff`."""
    recent = sa.select(_OTHER.c.id).where(
        _OTHER.c.plan_id == plan_id, _OTHER.c.updated_at >= cutoff
    )
    return ~sa.exists(recent)


def _has_pending(plan_id: Any) -> sa.ColumnElement[bool]:
    pending = sa.select(_OTHER.c.id).where(
        _OTHER.c.plan_id == plan_id, _OTHER.c.status == AllocationStatus.pending.value
    )
    return sa.exists(pending)


def _silent_plans(cutoff: datetime) -> sa.Select[int | None]:
    """Unfinished place plans approved before `cutoff`, with pending allocations."""
    return sa.select(col(Plan.id)).where(
        col(Plan.kind) == PlanKind.place,
        col(Plan.status).in_(UNFINISHED),
        sa.or_(col(Plan.decided_at).is_(None), col(Plan.decided_at) < cutoff),
        _has_pending(col(Plan.id)),
    )


def orphaned(session: Session, now: datetime, silent_for: timedelta) -> list[int]:
    """Plans that look orphaned at `now` (no lock taken; `claim` re-checks), oldest first."""
    cutoff = now - silent_for
    query = _silent_plans(cutoff).where(_no_stamp_since(col(Plan.id), cutoff))
    return [int(plan_id) for plan_id in session.execute(query.order_by(col(Plan.id))).scalars()]


def claim(engine: Engine, plan_id: int, now: datetime, silent_for: timedelta) -> bool:
    """Take an orphaned plan for this process: True when this caller is to apply it.

    On success the plan is `approved` again (scheduler.apply starts only such plans), its
    unfinished allocations carry `now` as their stamp, and the audit log says so.
    """
    cutoff = now - silent_for
    with session_scope(engine) as session:
        # The row lock makes a concurrent claimer wait here, then see this one's stamps.
        locked = session.execute(
            _silent_plans(cutoff).where(col(Plan.id) == plan_id).with_for_update()
        ).first()
        if locked is None:
            return False
        result = session.execute(
            sa.update(Allocation)
            .where(
                col(Allocation.plan_id) == plan_id,
                col(Allocation.status) != AllocationStatus.provisioned,
                _no_stamp_since(plan_id, cutoff),
            )
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        stamped = cast(CursorResult[Any], result).rowcount
        if not stamped:
            return False  # progress arrived since the scan: the apply is alive
        reopen(session, plan_id, actor=ACTOR, silent_for=silent_for, after={"unfinished": stamped})
    return True


def _claim_rebalance(engine: Engine, plan_id: int, now: datetime, silent_for: timedelta) -> bool:
    return rebalance_resume.claim(engine, plan_id, now, silent_for, actor=ACTOR)


def resume_orphaned(
    engine: Engine,
    box: SecretBox,
    *,
    silent_for: timedelta,
    timeout: float,
    clock: Callable[[], datetime] = utcnow,
) -> list[Resumed]:
    """Claim and apply every orphaned plan, one after another; what was resumed.

    The clock is read again for each claim: an earlier plan's apply may take minutes, and
    a claim stamped with a stale time would look orphaned to the next leader too soon."""
    with Session(engine) as session:
        now = clock()
        candidates = sorted(
            [(plan_id, claim) for plan_id in orphaned(session, now, silent_for)]
            + [
                (plan_id, _claim_rebalance)
                for plan_id in rebalance_resume.orphaned(session, now, silent_for)
            ],
            key=lambda candidate: candidate[0],  # oldest plan first, whatever its kind
        )
    done: list[Resumed] = []
    for plan_id, claimer in candidates:
        if not claimer(engine, plan_id, clock(), silent_for):
            continue
        log.warning("plan %s: its apply stopped with its process; applying it again", plan_id)
        status = apply.apply_plan(engine, box, plan_id, actor=ACTOR, timeout=timeout)
        log.info("plan %s: resumed apply ended %s", plan_id, status.value)
        done.append(Resumed(plan_id, status))
    return done
