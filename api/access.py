"""Need-to-know reads in the API: the records' facts, ``policy.access`` decides.

A route that reads a case file calls ``open_case_file`` (or ``check_case_file`` with a
case it already holds): involved staff and the roles the case's open tasks sit with read
it; other staff get a 403 saying how to break glass (``POST /v1/cases/{ref}/access`` with
a reason). The route also tags its audit row with the case episode and the basis of the
access, so the auditor sees every read of a case, and every refusal, on its trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, Field, field_validator

from api.casework import Problem
from api.deps import audit_call
from policy.access import Access, AccessDecision, Involvement, read_access
from records.models import Case
from records.repository import Records
from tokens import Principal

# A break-glass reason: long enough to say why, short enough to stay a reason.
MIN_REASON_CHARS = 15
MAX_REASON_CHARS = 1000


class BreakGlassIn(BaseModel):
    """Why the caller must open a case they are not involved in."""

    reason: Annotated[
        str,
        Field(
            min_length=MIN_REASON_CHARS,
            max_length=MAX_REASON_CHARS,
            description="Why you need to open this case (audited on its trail).",
        ),
    ]

    @field_validator("reason")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if len(value.strip()) < MIN_REASON_CHARS:
            raise ValueError(f"give a reason of at least {MIN_REASON_CHARS} characters")
        return value.strip()


class BreakGlassOut(BaseModel):
    """The access granted: to which case, on what basis, until when."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    case_id: str = Field(description="The customer's case workflow id.")
    access: str = Field(description="The access granted: full.")
    basis: str = Field(description="The basis of the access: break_glass.")
    until: datetime | None = Field(default=None, description="When the access lapses.")


class CaseFoundOut(BaseModel):
    """A case as a search shows it: staff not involved see only that it exists (the
    stage and dates stay empty) and how to open it."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    case_id: str = Field(description="The customer's case workflow id.")
    open: bool = Field(description="Whether the case is open.")
    access: str = Field(description="full, or exists_only for staff not involved.")
    stage: str | None = Field(default=None, description="The case's stage (full access).")
    risk_flag: bool | None = Field(
        default=None, description="Whether the risk flag is applied (full access)."
    )
    opened_at: datetime | None = Field(
        default=None, description="When the case opened (full access)."
    )
    how_to_open: str | None = Field(
        default=None, description="How to break glass (exists_only access)."
    )
    # The pseudonymous summary of a case the caller may read (GET /v1/cases filters):
    # never a description, a name or a reason.
    case_key: str | None = Field(
        default=None, description="The case episode's key: <case_id>/<episode> (full access)."
    )
    episode: int | None = Field(
        default=None, description="The customer's case episode, from 1 (full access)."
    )
    profile: str | None = Field(
        default=None, description="The policy profile: housing_solutions or magna (full access)."
    )
    next_review_at: datetime | None = Field(
        default=None, description="When the restriction or flag is next reviewed (full access)."
    )
    closed_at: datetime | None = Field(
        default=None, description="When the case closed, if it has (full access)."
    )
    updated_at: datetime | None = Field(
        default=None, description="When the case record last changed (full access)."
    )
    open_tasks: dict[str, int] | None = Field(
        default=None, description="The case's open tasks, counted by kind."
    )


class CaseSearchOut(BaseModel):
    """The cases found."""

    items: list[CaseFoundOut] = Field(description="The cases found.")
    next: str | None = Field(
        default=None, description="The cursor of the next page; null on the last page."
    )


def break_glass_hint(customer_ref: str) -> str:
    """The 403 message for a case file the caller may not read (yet)."""
    return (
        "you are not involved in this case (need to know, HS 8.1): only that it exists is "
        f"shown. To open it, record why with POST /v1/cases/{customer_ref}/access "
        f'{{"reason": "..."}} (at least {MIN_REASON_CHARS} characters); the reason, you and '
        "your roles go on the case's audit trail"
    )


def note_case_read(request: Request, case_key: str, decision: AccessDecision | None) -> None:
    """Tag the call's audit row with the case episode and the basis of the access."""
    request.state.audit_case_key = case_key
    if decision is not None:
        request.state.audit_details = {
            "access": decision.access.value,
            "basis": decision.basis.value,
        }


async def case_access(
    records: Records, principal: Principal, case_key: str | None
) -> AccessDecision:
    """The caller's access to a case episode (no episode: nothing is involved)."""
    involvement = await records.case_involvement(case_key) if case_key else Involvement()
    return read_access(
        principal.user, [r.value for r in principal.roles], involvement, datetime.now(UTC)
    )


async def case_accesses(
    records: Records, principal: Principal, case_keys: Sequence[str]
) -> dict[str, AccessDecision]:
    """The caller's access to each case episode: one batch of reads for all of them."""
    involvements = await records.case_involvements(case_keys)
    roles = [r.value for r in principal.roles]
    now = datetime.now(UTC)
    return {
        key: read_access(principal.user, roles, involvement, now)
        for key, involvement in involvements.items()
    }


async def check_case_file(
    request: Request, records: Records, principal: Principal, case: Case
) -> AccessDecision:
    """The caller's full access to ``case``, or a 403 Problem saying how to break glass."""
    decision = await case_access(records, principal, case.case_key)
    note_case_read(request, case.case_key, decision)
    if decision.access is not Access.FULL:
        raise Problem(403, break_glass_hint(case.customer_ref))
    return decision


async def open_case_file(
    request: Request, records: Records, principal: Principal, customer_ref: str
) -> Case | None:
    """The customer's latest case if the caller may read it in full; None if there is no
    case on record; a 403 Problem if the caller is not involved."""
    case = await records.latest_case(customer_ref)
    if case is not None:
        await check_case_file(request, records, principal, case)
    return case


async def grant_break_glass(
    records: Records,
    principal: Principal,
    case: Case,
    reason: str,
    lasts_seconds: int,
    *,
    action: str,
    path: str,
) -> tuple[AccessDecision, datetime]:
    """Record why ``principal`` opens a case they are not involved in (the reason, who and
    their roles go on the case's audit trail; the row is the grant), and the access it
    gives: for the API's ``POST /v1/cases/{ref}/access`` and the inbox's form alike."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=lasts_seconds)
    call = audit_call(principal, action, 201, path, now, case_key=case.case_key)
    await records.record_break_glass(case.case_key, call, reason, until)
    return await case_access(records, principal, case.case_key), until
