"""Dependencies shared by the route modules (``Annotated`` style)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from temporalio.client import Client

from api.faults import RETRY_AFTER_HEADERS
from records.repository import ApiCall, Records
from settings import Settings
from starter.temporal import connect
from tokens import Principal


class TemporalGateway:
    """Connects to Temporal on first use, so the API can start before Temporal is up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=5)
                except Exception as exc:
                    raise HTTPException(
                        503,
                        f"the case service (Temporal) is not reachable at "
                        f"{self._settings.temporal_address}; retry later",
                        headers=dict(RETRY_AFTER_HEADERS),
                    ) from exc
            return self._client


def settings_of(request: Request) -> Settings:
    """The app's settings (read once at the edge, when the app was built)."""
    settings: Settings = request.app.state.settings
    return settings


def records_of(request: Request) -> Records:
    """The app's records repository."""
    records: Records = request.app.state.records
    return records


async def temporal_of(request: Request) -> Client:
    """The app's Temporal client, connected on first use (503 while unreachable)."""
    gateway: TemporalGateway = request.app.state.temporal
    return await gateway.client()


SettingsDep = Annotated[Settings, Depends(settings_of)]
RecordsDep = Annotated[Records, Depends(records_of)]
TemporalDep = Annotated[Client, Depends(temporal_of)]


def audit_call(
    principal: Principal,
    action: str,
    outcome: int,
    path: str,
    at: datetime,
    *,
    case_key: str | None = None,
    **details: object,
) -> ApiCall:
    """The audit row of a call made with ``principal``'s token: actor and roles always
    from the token, never from a request body."""
    return ApiCall(
        actor=principal.user,
        role=principal.role_names,
        action=action,
        outcome=outcome,
        details={"path": path, **details},
        at=at,
        case_key=case_key,
    )
