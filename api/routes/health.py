"""Liveness of the API and its dependencies, and (for operators) the cases that are stuck."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import text

from api.auth import require
from api.deps import SettingsDep, TemporalDep, TemporalGateway
from starter.ops import DEFAULT_ACTIVITY_ATTEMPT_BUDGET, StuckReport, stuck_cases
from tokens import ApiRole, Principal

router = APIRouter(tags=["health"])

# Who runs the service: the stuck list names cases (pseudonymous ids) and failure types.
OPERATORS = frozenset({ApiRole.OPERATOR})
Operator = Annotated[Principal, Depends(require(OPERATORS))]
STUCK_LIMIT_DEFAULT = 100
STUCK_LIMIT_MAX = 1000


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


@router.get(
    "/healthz/cases",
    responses={
        401: {"description": "No valid bearer token"},
        403: {"description": "The token does not hold the operator role"},
        503: {"description": "Temporal is not reachable"},
    },
)
async def stuck_case_list(
    _: Operator,
    settings: SettingsDep,
    client: TemporalDep,
    limit: Annotated[int, Query(ge=1, le=STUCK_LIMIT_MAX)] = STUCK_LIMIT_DEFAULT,
    attempts: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_ACTIVITY_ATTEMPT_BUDGET,
) -> StuckReport:
    """Running cases with a failing workflow task or an activity past ``attempts`` attempts.

    Always 200 with the list (empty when all is well); ``truncated`` says when more than
    ``limit`` cases are running and the older ones were not looked at. Failures are named
    by type only, never by message. Costs one Temporal call per running case described.
    """
    return await stuck_cases(client, settings, limit=limit, activity_attempt_budget=attempts)
