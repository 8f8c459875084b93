"""Every error leaves as JSON `{"error": message, ...}`; bad input is 4xx, never 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from inventory.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    Invalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def _body(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, **{k: v for k, v in extra.items() if v is not None}}


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Echo where and why, never the input itself: it may be a password or a credential.
    fields = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", "invalid"),
        }
        for err in exc.errors()
    ]
    first = fields[0] if fields else {"field": "request", "message": "invalid"}
    message = f"invalid input: {first['field']}: {first['message']}"
    return JSONResponse(
        _body(message, fields=fields), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    code = next((c for t, c in _DOMAIN_STATUS.items() if isinstance(exc, t)), 400)
    return JSONResponse(_body(exc.message, field=exc.field), status_code=code)


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    log.info("integrity error on %s: %s", request.url.path, exc)
    return JSONResponse(_body("conflicts with existing data"), status_code=status.HTTP_409_CONFLICT)


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # A number beyond the column's range (PostgreSQL DataError, SQLite OverflowError) or a
    # NUL character in text: the input is at fault, not the server.
    log.info("unstorable value on %s: %s", request.url.path, type(exc).__name__)
    return JSONResponse(
        _body("a value is out of range or contains characters that cannot be stored"),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable on %s: %s", request.url.path, exc)
    return JSONResponse(
        _body("database unavailable; retry shortly"),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(_body("internal error; it has been logged"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
