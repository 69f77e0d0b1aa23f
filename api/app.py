"""The FastAPI application: thin routes over the records and Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from api.casework import Problem
from api.deps import TemporalGateway
from api.routes import audit, cases, codec, customers, health, inbox, incidents, letters, tasks
from api.tokens import Principal
from records.db import make_engine, make_sessionmaker
from records.repository import Records
from settings import Settings, get_settings


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
    )
    if settings.codec_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.codec_cors_origins,
            allow_credentials=True,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        )
    for module in (incidents, customers, cases, tasks, letters, audit, health, codec, inbox):
        app.include_router(module.router)
    app.add_exception_handler(Problem, _problem_response)  # type: ignore[arg-type]
    app.middleware("http")(_audit_changes)
    return app


async def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    """A Problem as JSON; a 422 names its field the way FastAPI's own validation does."""
    if problem.status == 422:
        location = ["body", problem.field] if problem.field else ["body"]
        detail: object = [{"loc": location, "msg": problem.message, "type": "value_error"}]
    else:
        detail = problem.message
    return JSONResponse({"detail": detail}, status_code=problem.status)


CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _audit_changes(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Audit every call that changes something: who, role, when, what and the outcome."""
    response = await call_next(request)
    if request.method in CHANGING_METHODS and request.url.path.startswith("/v1/"):
        principal: Principal | None = getattr(request.state, "principal", None)
        route = request.scope.get("route")
        template = getattr(route, "path", request.url.path)
        await request.app.state.records.record_api_call(
            actor=principal.user if principal else "anonymous",
            role=",".join(sorted(r.value for r in principal.roles)) if principal else "none",
            action=f"{request.method} {template}",
            outcome=response.status_code,
            details={"path": request.url.path},
            at=datetime.now(UTC),
        )
    return response
