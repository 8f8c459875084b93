"""Liveness and readiness for load balancers and Kubernetes probes."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from inventory.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and is migrated to head")
def readyz(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "unready", "error": f"database: {type(exc).__name__}"}, status_code=503
        )
    head = head_revision()
    if current != head:
        message = f"database at revision {current}, code expects {head}: run `yunheng db upgrade`"
        return JSONResponse({"status": "unready", "error": message}, status_code=503)
    return JSONResponse({"status": "ready", "revision": current})
