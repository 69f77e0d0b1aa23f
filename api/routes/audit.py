"""The audit trail, for auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Auditor
from api.decision_schemas import AuditOut, AuditPage
from api.deps import RecordsDep

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit")
async def get_audit(
    _: Auditor,
    records: RecordsDep,
    case_key: Annotated[str | None, Query(max_length=120)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """Who did what, when, in what role, why and with what outcome; newest first."""
    rows, total = await records.audit_events(
        case_key=case_key, actor=actor, limit=limit, offset=offset
    )
    return AuditPage(
        items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
