"""Durable apply for rebalance plans: find and claim the ones whose apply died with its process.

The same safety net as scheduler.resume (read its "Decisions"), for the moves in `plan_move`
instead of allocations; scheduler.resume.resume_orphaned runs both, one plan at a time.

- Alive or dead: scheduler.rebalance_apply stamps the move's `updated_at` with the start of
  each of its cloud calls (provision, the listing that confirms the new replica, deprovision)
  and commits after the call, so a live apply leaves a stamp younger than two adapter
  timeouts, as a placement apply does. A rebalance approved (or retried) before the cutoff
  with no move stamped since is orphaned.
- Every move of the plan is stamped by a claim, the finished ones too: a process that died
  after its last move but before it recorded the outcome leaves nothing open, and that plan
  still has to be finished (it also blocks every new rebalance, see rebalance._none_in_flight).
  A move's stamp is a liveness mark only; no page or API shows it.
- Carrying on, never duplicating, is rebalance_apply's: it resumes from the stored move
  statuses (a `provisioned` move is confirmed and its old replica removed, never made again;
  a `pending` or `failed` one is provisioned with the move's idempotency key, so a create
  the dead process sent is found, not repeated), and removing an old replica that is
  already gone counts as removed (Adapter.deprovision returns False, it does not raise).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col

from inventory.db import session_scope
from inventory.models import Plan
from inventory.models.requests import MoveStatus, PlanKind, PlanMove
from scheduler.reopen import UNFINISHED, reopen

_OTHER = sa.alias(PlanMove.__table__, "other_move")  # type: ignore[attr-defined]


def _no_stamp_since(plan_id: Any, cutoff: datetime) -> sa.ColumnElement[bool]:
    """None of the plan's moves was stamped at or after `cutoff`."""
    recent = sa.select(_OTHER.c.id).where(
        _OTHER.c.plan_id == plan_id, _OTHER.c.updated_at >= cutoff
    )
    return ~sa.exists(recent)


def _silent_plans(cutoff: datetime) -> sa.Select[int | None]:
    """Unfinished rebalance plans decided before `cutoff` with no move stamped since."""
    return sa.select(col(Plan.id)).where(
        col(Plan.kind) == PlanKind.rebalance,
        col(Plan.status).in_(UNFINISHED),
        sa.or_(col(Plan.decided_at).is_(None), col(Plan.decided_at) < cutoff),
        _no_stamp_since(col(Plan.id), cutoff),
    )


def orphaned(session: Session, now: datetime, silent_for: timedelta) -> list[int]:
    """Rebalance plans that look orphaned at `now` (no lock taken; `claim` re-checks)."""
    query = _silent_plans(now - silent_for).order_by(col(Plan.id))
    return [int(plan_id) for plan_id in session.execute(query).scalars()]


def claim(
    engine: Engine, plan_id: int, now: datetime, silent_for: timedelta, *, actor: str
) -> bool:
    """Take an orphaned rebalance plan for this process: True when this caller is to apply it.

    On success the plan is `approved` again (rebalance_apply starts only such plans), all its
    moves carry `now` as their stamp, and the audit log says so.
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
            sa.update(PlanMove)
            .where(col(PlanMove.plan_id) == plan_id, _no_stamp_since(plan_id, cutoff))
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not cast(CursorResult[Any], result).rowcount:
            return False  # progress arrived since the scan: the apply is alive
        left = session.execute(
            sa.select(sa.func.count())
            .select_from(PlanMove)
            .where(col(PlanMove.plan_id) == plan_id, col(PlanMove.status) != MoveStatus.moved)
        ).scalar_one()
        after = {"kind": "rebalance", "unfinished": int(left)}
        reopen(session, plan_id, actor=actor, silent_for=silent_for, after=after)
    return True
