"""Re-approving a plan the durable-apply job has claimed, and saying so in the audit log.

Shared by scheduler.resume (placement plans) and scheduler.rebalance_resume (rebalance
plans): both claim a plan, then hand it back to scheduler.apply as `approved`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from inventory import audit
from inventory.models import Plan, PlanStatus

# A plan whose apply started and has not ended: what the durable-apply job looks for.
UNFINISHED = (PlanStatus.approved, PlanStatus.applying)


def reopen(
    session: Session, plan_id: int, *, actor: str, silent_for: timedelta, after: dict[str, Any]
) -> None:
    """Mark the claimed plan `approved` again (the appliers start only such plans) and
    record `plan.resume` with what was left to do (`after`)."""
    plan = session.get(Plan, plan_id)
    assert plan is not None
    before = plan.status.value
    plan.status = PlanStatus.approved
    session.add(plan)
    audit.record(
        session,
        actor=actor,
        action="plan.resume",
        target_type="plan",
        target_id=plan_id,
        before={"status": before},
        after=after,
        detail=f"no progress for {silent_for.total_seconds():.0f} s: applied again",
    )
