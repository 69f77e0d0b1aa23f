"""Revoking tokens: an operator refuses every token a user holds (sign-out revokes one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, StringConstraints

from api.base import ApiModel
from api.deps import RecordsDep, audit_call
from api.routes.health import Operator

router = APIRouter(prefix="/v1", tags=["operations"])


class RevocationIn(ApiModel):
    """Whose tokens to refuse: every token issued to ``subject`` until now."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The user id the tokens name (their `sub`)."
    )


class RevocationOut(BaseModel):
    """The revocation recorded."""

    subject: str = Field(description="The user id whose tokens are refused.")
    tokens_issued_before: datetime = Field(
        description="Every token of theirs issued before this moment is refused."
    )


@router.post("/revocations", status_code=status.HTTP_201_CREATED)
async def revoke(
    body: RevocationIn, principal: Operator, records: RecordsDep, request: Request
) -> RevocationOut:
    """Refuse every token issued to a user until now (they sign in again with a new one)."""
    now = datetime.now(UTC)
    audit = audit_call(
        principal, "POST /v1/revocations", status.HTTP_201_CREATED, "/v1/revocations", now
    )
    await records.revoke_subject(body.subject, audit)
    request.state.audited = True
    return RevocationOut(subject=body.subject, tokens_issued_before=now)
