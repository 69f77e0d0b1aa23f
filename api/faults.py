"""Clean answers while a dependency is down: 503 with Retry-After, naming the part, never 500.

A call that fails because the records database, Temporal or another service the API
talks to cannot be reached is not the caller's fault and not a bug: it is answered
``503 Service Unavailable`` with ``Retry-After`` and ``{"detail": "<part> is not
reachable ...; retry later"}``. Every other error keeps its usual course (a bug is
still a 500 with a traceback in the log), so the handlers below re-raise what they do
not recognise.

Logs name only the method, the route template and the exception classes: never bodies,
paths with customer references, or messages (which may quote data).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Final

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger("api.faults")

RETRY_AFTER_SECONDS: Final = 5
RETRY_AFTER_HEADERS: Final = {"Retry-After": str(RETRY_AFTER_SECONDS)}

DATABASE: Final = "the records database"
TEMPORAL: Final = "the case service (Temporal)"
SOME_SERVICE: Final = "a service the API depends on"

_NETWORK_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNREFUSED",
        "ECONNRESET",
        "ECONNABORTED",
        "ETIMEDOUT",
        "EHOSTUNREACH",
        "EHOSTDOWN",
        "ENETUNREACH",
        "ENETDOWN",
        "ENETRESET",
        "EPIPE",
        "ENOTCONN",
        "EADDRNOTAVAIL",
    )
    if hasattr(errno, name)
)

# PostgreSQL errors that say the server cannot serve now, not that the statement is wrong:
# class 08 (connection), 57 (shutting down, starting up, statement cancelled), 53 (out of
# connections, memory or disk).
_ASYNCPG_UNAVAILABLE: Final = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
_TEMPORAL_UNAVAILABLE: Final = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    }
)
_MODULE_PARTS: Final = (
    (("sqlalchemy", "asyncpg", "aiosqlite", "records"), DATABASE),
    (("temporalio", "starter.temporal"), TEMPORAL),
    (("aiosmtplib",), "the mail server"),
)


class DependencyUnavailable(Exception):
    """Raise where the code knows which part is down; answered 503 with Retry-After."""

    def __init__(self, part: str, message: str | None = None) -> None:
        super().__init__(message or f"{part} is not reachable; retry later")
        self.part = part
        self.message = message or f"{part} is not reachable; retry later"


def unavailable_part(error: BaseException) -> str | None:
    """Which dependency ``error`` says is down, or None when it is some other error."""
    for link in _chain(error):
        part = _part_of(link)
        if part is not None:
            return part if part != SOME_SERVICE else _part_from_traceback(error) or part
    return None


def _part_of(error: BaseException) -> str | None:
    if isinstance(error, DependencyUnavailable):
        return error.part
    if isinstance(error, sa_exc.TimeoutError):  # the connection pool stayed exhausted
        return DATABASE
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        ):
            return DATABASE
        return None  # an integrity or programming error: a bug or a conflict, not an outage
    if isinstance(error, _ASYNCPG_UNAVAILABLE):
        return DATABASE
    if isinstance(error, asyncpg.InterfaceError) and "connection" in str(error).lower():
        return DATABASE
    if isinstance(error, RPCError):
        return TEMPORAL if error.status in _TEMPORAL_UNAVAILABLE else None
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return SOME_SERVICE
    if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
        return SOME_SERVICE
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and its explicit causes (``raise ... from cause``), each once.

    SQLAlchemy and the Temporal SDK wrap the driver's error as the cause; an error merely
    raised *while handling* another (``__context__``) is not taken to share its cause.
    """
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)  # a DBAPIError's driver error
        link = link.__cause__ or (orig if isinstance(orig, BaseException) else None)


def _part_from_traceback(error: BaseException) -> str | None:
    """For a bare socket error: the library it came out of says which part is down."""
    parts = [part for tb in _tracebacks(error) if (part := _part_of_frame(tb)) is not None]
    return parts[-1] if parts else None  # the innermost frame is the most specific


def _tracebacks(error: BaseException) -> Iterator[TracebackType]:
    tb = error.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _part_of_frame(tb: TracebackType) -> str | None:
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    for prefixes, part in _MODULE_PARTS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return part
    return None


def route_template(request: Request) -> str:
    """The matched route's template (``/v1/cases/{customer_ref}``), never the raw path."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched route>"


def unavailable_response(part: str, message: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": message or f"{part} is not reachable; retry later"},
        status_code=503,
        headers=dict(RETRY_AFTER_HEADERS),
    )


async def _dependency_down(request: Request, error: Exception) -> Response:
    """503 for an outage; anything else is re-raised to keep its usual course."""
    part = unavailable_part(error)
    if part is None:
        raise error
    log.warning(
        "answered 503: %s is unavailable (%s) on %s %s",
        part,
        " <- ".join(type(link).__name__ for link in _chain(error)),
        request.method,
        route_template(request),
    )
    message = error.message if isinstance(error, DependencyUnavailable) else None
    return unavailable_response(part, message)


async def _http_exception(request: Request, error: Exception) -> Response:
    """FastAPI's own answer, plus Retry-After on every 503 that lacks one."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 503 and "retry-after" not in {
        key.lower() for key in (error.headers or {})
    }:
        error.headers = {**(error.headers or {}), **RETRY_AFTER_HEADERS}
    return await http_exception_handler(request, error)


OUTAGE_TYPES: Final[tuple[type[Exception], ...]] = (
    DependencyUnavailable,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    RPCError,
    OSError,  # ConnectionError, TimeoutError, socket.gaierror are OSErrors
)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for kind in OUTAGE_TYPES:
        app.add_exception_handler(kind, _dependency_down)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
