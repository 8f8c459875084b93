"""Every error leaves as JSON `{"error": message, ...}`; bad input is 4xx, never 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from inventory.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

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
    return JSONResponse(_body(exc.message, field=exc.field, code=exc.key), status_code=code)


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


# How SQLite (SQLITE_FULL) and PostgreSQL (53100 disk_full, "No space left on device") say it.
_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file")


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    if any(marker in str(exc).lower() for marker in _DISK_FULL):
        # Not a retry-shortly outage: someone must free space. Nothing was written.
        log.critical("database disk full on %s: %s", request.url.path, exc)
        return JSONResponse(
            _body("the database's disk is full; nothing was saved; free space and retry"),
            status_code=status.HTTP_507_INSUFFICIENT_STORAGE,
        )
    log.error("database unavailable on %s: %s", request.url.path, exc)
    return JSONResponse(
        _body("database unavailable; retry shortly"),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(_body("internal error; it has been logged"), status_code=500)


# Paths that are machine interfaces: always JSON, whatever the Accept header says.
_MACHINE_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")
PageErrorRenderer = Callable[[Request, int, "str | DomainError"], Response]


def _wants_page(request: Request) -> bool:
    path = request.url.path
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not path.startswith(_MACHINE_PREFIXES)


def _as_page_when_asked(handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A browser on a console page gets the same error as a page (console.web renders it)."""

    async def respond(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        renderer: PageErrorRenderer | None = getattr(request.app.state, "page_errors", None)
        if renderer is None or not _wants_page(request):
            return response
        message = json.loads(bytes(response.body)).get("error", "")
        # A domain error goes as itself: the page shows it in its reader's language.
        page = renderer(
            request, response.status_code, exc if isinstance(exc, DomainError) else message
        )
        for name in ("retry-after", "www-authenticate"):
            if name in response.headers:
                page.headers[name] = response.headers[name]
        return page

    return respond


def install(app: FastAPI) -> None:
    handlers: list[tuple[type[Exception], Handler]] = [
        (StarletteHTTPException, _http),
        (RequestValidationError, _validation),
        (DomainError, _domain),
        (IntegrityError, _integrity),
        (DataError, _unstorable),
        (OverflowError, _unstorable),
        (OperationalError, _database_down),
        (Exception, _unexpected),
    ]
    for kind, handler in handlers:
        app.add_exception_handler(kind, _as_page_when_asked(handler))
