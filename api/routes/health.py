"""Liveness of the API and its dependencies."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from api.deps import TemporalGateway

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request, response: Response) -> dict[str, str]:
    """200 when the database and Temporal answer; 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    try:
        gateway: TemporalGateway = request.app.state.temporal
        client = await gateway.client()
        await client.service_client.check_health(timeout=timedelta(seconds=3))
        checks["temporal"] = "ok"
    except Exception:
        checks["temporal"] = "unreachable"
    if any(v != "ok" for v in checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return checks
