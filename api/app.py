"""The FastAPI application: thin routes over the records and Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import TemporalGateway
from api.routes import cases, customers, health, incidents
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
    for module in (incidents, customers, cases, health):
        app.include_router(module.router)
    return app
