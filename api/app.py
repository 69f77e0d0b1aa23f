"""The FastAPI application: thin routes over the records and Temporal."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import docs, faults, observability
from api.casework import Problem
from api.deps import TemporalGateway
from api.edges import CODEC_PREFIX, BodyLimit, CodecCORS
from api.ratelimit import RateLimits
from api.routes import (
    audit,
    cases,
    codec,
    customers,
    equality,
    events,
    health,
    inbox,
    incidents,
    letters,
    report_packs,
    reports,
    reports_page,
    revocations,
    tasks,
)
from records.db import make_engine, make_sessionmaker
from records.repository import ApiCall, Records
from settings import Settings, get_settings
from tokens import Principal

log = logging.getLogger("api.audit")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for the given settings (the process's settings by default)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.records = Records(make_sessionmaker(engine))
        app.state.temporal = TemporalGateway(settings)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="ucb-cases",
        version="0.1.0",
        summary="Durable case management for Unacceptable Customer Behaviour policies.",
        lifespan=lifespan,
        # /docs and /redoc are served from local assets (api/docs.py), never a CDN.
        docs_url=None,
        redoc_url=None,
    )
    docs.install(app)
    app.state.rate_limits = RateLimits(settings)
    if settings.codec_cors_origins:
        app.add_middleware(CodecCORS, origins=settings.codec_cors_origins)
    routers = (
        incidents,
        customers,
        cases,
        tasks,
        letters,
        audit,
        health,
        revocations,
        codec,
        inbox,
        events,
        equality,
        reports_page,
        reports,
        report_packs,
    )
    for module in routers:
        app.include_router(module.router)
    app.add_exception_handler(Problem, _problem_response)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_response)  # type: ignore[arg-type]
    faults.install(app)
    app.middleware("http")(_audit_changes)
    # Outermost: a body over the limit is refused before anything reads it or checks a token.
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        limits={CODEC_PREFIX: settings.codec_max_body_bytes},
    )
    # Outermost of all: the client's address and scheme, from X-Forwarded-For/-Proto only
    # when the peer is a trusted proxy (run uvicorn with --no-proxy-headers: this decides).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    # Outermost: request id, access log and request metrics for every answer; GET /metrics.
    observability.install(app, settings)
    return app


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate cannot break it."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _validation_response(
    request: Request, error: RequestValidationError
) -> AsciiJSONResponse:
    """422 naming each field; the rejected input is not echoed back (it may be personal
    data, and may not even be valid Unicode)."""
    errors = [{k: v for k, v in e.items() if k != "input"} for e in error.errors()]
    return AsciiJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    """A Problem as JSON; a 422 names its field the way FastAPI's own validation does."""
    if problem.status == 422:
        location = ["body", problem.field] if problem.field else ["body"]
        detail: object = [{"loc": location, "msg": problem.message, "type": "value_error"}]
    else:
        detail = problem.message
    headers = {"Retry-After": str(problem.retry_after)} if problem.retry_after is not None else None
    return JSONResponse({"detail": detail}, status_code=problem.status, headers=headers)


CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reads of a case's personal data are audited too (who looked, when, at what).
_PATH_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")
AUDITED_READS = frozenset(
    {
        "GET /v1/cases/{customer_ref}",
        "GET /v1/cases/{customer_ref}/state",
        "GET /v1/cases/{customer_ref}/incidents",
        "GET /v1/cases/{customer_ref}/letters",
        "GET /v1/customers/{customer_ref}/equality",
        "GET /v1/letters/{letter_id}",
        "GET /v1/audit",
        "GET /v1/reports",
        "GET /v1/reports/{section}",
        "GET /v1/cases/{customer_ref}/audit/export",
        "GET /inbox/tasks/{task_id}",
        "GET /inbox/cases",
        "GET /inbox/letters/{letter_id}",
        "GET /inbox/reports",
        "GET /inbox/reports/{section}.csv",
        "GET /inbox/reports/packs",
        "GET /inbox/reports/packs/{pack_id}",
        "GET /inbox/reports/packs/{pack_id}.pdf",
        "POST /codec/decode",
    }
)


async def _audit_changes(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Audit every call that changes something, and every read of a case's personal data
    (``AUDITED_READS``): who, role, when, what and the outcome.

    The row is written after the route answered, so it must never change that answer: if
    it cannot be written (the records database is down), a warning naming only the method,
    route template and status is logged and the route's own response goes out unchanged.

    An endpoint that writes its audit row in its own unit of work (so the row commits or
    rolls back with the change itself) sets ``request.state.audited = True``; the
    middleware then writes nothing more.
    """
    response = await call_next(request)
    route = request.scope.get("route")
    # As OpenAPI names the route: "/v1/letters/{letter_id}", not "{letter_id:path}".
    template = _PATH_CONVERTER.sub(r"{\1}", getattr(route, "path", request.url.path))
    change = request.method in CHANGING_METHODS and request.url.path.startswith("/v1/")
    if not change and f"{request.method} {template}" not in AUDITED_READS:
        return response
    if getattr(request.state, "audited", False):
        return response
    principal: Principal | None = getattr(request.state, "principal", None)
    try:
        await request.app.state.records.record_api_call(
            ApiCall(
                actor=principal.user if principal else "anonymous",
                role=principal.role_names if principal else "none",
                action=f"{request.method} {template}",
                outcome=response.status_code,
                # A case read names its episode and the basis of the access (api/access.py).
                details={"path": request.url.path, **getattr(request.state, "audit_details", {})},
                at=datetime.now(UTC),
                case_key=getattr(request.state, "audit_case_key", None),
            )
        )
    except Exception as error:
        log.warning(
            "audit row not written for %s %s -> %d (%s); the response stands",
            request.method,
            faults.route_template(request),
            response.status_code,
            type(error).__name__,
        )
    return response
