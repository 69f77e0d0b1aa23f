"""Reading a customer's case; logging appeals, support needs and risk-flag reviews."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import AwareDatetime
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from api.access import (
    BreakGlassIn,
    BreakGlassOut,
    CaseFoundOut,
    CaseSearchOut,
    break_glass_hint,
    case_access,
    case_accesses,
    grant_break_glass,
    note_case_read,
    open_case_file,
)
from api.auth import CaseReader, Intake, Staff, StaffOnly
from api.casework import case_state_out, log_appeal, record_support, request_risk_flag_review
from api.decision_schemas import AppealIn, CaseStateOut, RiskFlagReviewIn, SupportIn
from api.deps import RecordsDep, SettingsDep, TemporalDep, audit_call
from api.integrator import (
    CASE_VIEW_LATEST,
    MAX_PAGE,
    CaseLinks,
    CaseSort,
    CaseViewOut,
    IncidentPage,
    LetterPage,
    Profile,
    Stage,
    cursor_text,
    cursor_time,
    decode_cursor,
    encode_cursor,
    time_and_key,
)
from api.routes.equality import checked_equality, store_equality
from api.routes.tasks import KindFilter, task_out
from api.schemas import AuditEntryOut, CustomerRef, IncidentOut, LetterOut
from policy.access import Access, AccessDecision, Basis, Involvement, read_access
from records.models import Case
from records.repository import CaseFilter, Records
from starter.temporal import case_handle
from tokens import Principal
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id

router = APIRouter(prefix="/v1", tags=["cases"])

# How long the case view waits for the running workflow before answering from records.
LIVE_STATUS_BUDGET = timedelta(seconds=2)


@router.get("/cases")
async def find_case(
    principal: CaseReader,
    records: RecordsDep,
    customer_ref: Annotated[CustomerRef | None, Query()] = None,
    stage: Annotated[Stage | None, Query()] = None,
    risk_flag: Annotated[bool | None, Query()] = None,
    review_due_before: Annotated[
        AwareDatetime | None,
        Query(description="Cases whose next review is due before this moment (with timezone)."),
    ] = None,
    open_task_kind: Annotated[
        KindFilter | None, Query(description="Cases with an open task of this kind.")
    ] = None,
    profile: Annotated[Profile | None, Query()] = None,
    open: Annotated[bool | None, Query(description="true: open cases; false: closed.")] = None,
    episodes: Annotated[
        Literal["latest", "all"],
        Query(description="latest: each customer's current case only (the default)."),
    ] = "latest",
    sort: Annotated[
        CaseSort,
        Query(
            description="opened_at: oldest opened first; next_review_at: soonest review "
            "first, cases without one last. Ties go by case key: the order is stable."
        ),
    ] = "opened_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> CaseSearchOut:
    """Find cases: pseudonymous summaries (customer reference, case key and episode,
    profile, stage, risk flag, dates, open tasks counted by kind), never a description, a
    name or a reason. Cursor pages in a stable order; follow ``next`` until it is null.

    Need to know: the case system sees every case. Staff see the cases they may read in
    full (involved, the role an open task sits with, break glass); asked for one
    ``customer_ref`` alone, they also learn that a case they may not read exists, and how
    to open it. A staff page may hold fewer than ``limit`` items: keep following ``next``."""
    filters = CaseFilter(
        customer_ref=customer_ref,
        stage=stage,
        risk_flag=risk_flag,
        review_due_before=review_due_before,
        open_task_kind=open_task_kind,
        profile=profile,
        open=open,
        latest_only=episodes == "latest",
    )
    after = _case_cursor(cursor, sort) if cursor else None
    facts = (stage, risk_flag, review_due_before, open_task_kind, profile)
    lookup = customer_ref is not None and all(f is None for f in facts)
    # The case system's access (and a role's without any) does not depend on the case.
    roles = [r.value for r in principal.roles]
    by_role = read_access(principal.user, roles, Involvement(), datetime.now(UTC))
    same_for_all = by_role.basis in ROLE_DECIDED
    found: list[tuple[Case, AccessDecision]] = []
    scanned, more = 0, True
    while more and len(found) < limit and scanned < STAFF_SCAN:
        batch = limit - len(found) if same_for_all else MAX_PAGE
        rows = await records.search_cases(filters, sort=sort, after=after, limit=batch + 1)
        page = rows[:batch]
        # More rows after the last one looked at: this batch's extra row, or rows of the
        # batch left unread when the page filled.
        more = len(rows) > batch
        # Need to know, for the whole batch at once (a constant number of reads).
        decisions = (
            {}
            if same_for_all
            else await case_accesses(records, principal, [c.case_key for c in page])
        )
        for index, case in enumerate(page):
            scanned += 1
            after = _sort_key(case, sort)
            decision = by_role if same_for_all else decisions[case.case_key]
            if decision.full or lookup:
                found.append((case, decision))
            if len(found) == limit or (not same_for_all and scanned >= STAFF_SCAN):
                more = more or index < len(page) - 1
                break
    counts = await records.open_task_counts([c.case_key for c, d in found if d.full])
    items = [_summary(case, decision, counts) for case, decision in found]
    next_cursor = _encode_case_cursor(after, sort) if more and after is not None else None
    return CaseSearchOut(items=items, next=next_cursor)


# The bases of an access decided by the caller's roles alone, whatever the case.
ROLE_DECIDED = frozenset({Basis.CASE_SYSTEM, Basis.CONTRACTOR, Basis.NO_CASE_ROLE})
# The most case episodes one staff search request looks at (each is a need-to-know check).
STAFF_SCAN = MAX_PAGE


def _sort_key(case: Case, sort: str) -> tuple[datetime | None, str]:
    moment = case.next_review_at if sort == "next_review_at" else case.opened_at
    return moment, case.case_key


def _encode_case_cursor(key: tuple[datetime | None, str], sort: str) -> str:
    moment, case_key = key
    return encode_cursor(f"cases:{sort}", moment.isoformat() if moment else None, case_key)


def _case_cursor(cursor: str, sort: str) -> tuple[datetime | None, str]:
    moment, case_key = decode_cursor(cursor, f"cases:{sort}", 2)
    when = cursor_time(moment, optional=sort == "next_review_at")
    return when, cursor_text(case_key)


def _summary(
    case: Case, decision: AccessDecision, counts: dict[str, dict[str, int]]
) -> CaseFoundOut:
    found = CaseFoundOut(
        customer_ref=case.customer_ref,
        case_id=case.workflow_id,
        open=case.closed_at is None,
        access=decision.access.value,
    )
    if not decision.full:
        found.how_to_open = break_glass_hint(case.customer_ref)
        return found
    found.stage, found.risk_flag, found.opened_at = case.stage, case.risk_flag, case.opened_at
    found.case_key, found.episode, found.profile = case.case_key, case.episode, case.profile
    found.next_review_at, found.closed_at = case.next_review_at, case.closed_at
    found.updated_at = case.updated_at
    found.open_tasks = counts.get(case.case_key, {})
    return found


@router.get("/cases/{customer_ref}")
async def get_case(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    client: TemporalDep,
    request: Request,
) -> CaseViewOut:
    """The customer's current case: stage, flags, history, open tasks, and its latest
    incidents and letters (the counts say how many there are; ``links`` page the rest).

    Need to know: staff not involved in the case get 403, saying how to break glass."""
    case = await open_case_file(request, records, principal, customer_ref)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    incidents, letters, tasks, trail, (incident_count, letter_count) = await asyncio.gather(
        records.latest_incidents(case.case_key, CASE_VIEW_LATEST),
        records.latest_letters(case.case_key, CASE_VIEW_LATEST),
        records.open_tasks_of_case(case.case_key),
        records.audit_trail(case.case_key),
        records.case_counts(case.case_key),
    )
    base = f"/v1/cases/{quote(customer_ref, safe='')}"
    out = CaseViewOut(
        case_id=case.workflow_id,
        case_key=case.case_key,
        episode=case.episode,
        profile=case.profile,
        stage=case.stage,
        risk_flag=case.risk_flag,
        opened_at=case.opened_at,
        next_review_at=case.next_review_at,
        closed_at=case.closed_at,
        incidents=[IncidentOut.model_validate(i, from_attributes=True) for i in incidents],
        letters=[LetterOut.model_validate(x, from_attributes=True) for x in letters],
        open_tasks=[task_out(t) for t in tasks],
        history=[AuditEntryOut.model_validate(a, from_attributes=True) for a in trail],
        incident_count=incident_count,
        letter_count=letter_count,
        links=CaseLinks(incidents=f"{base}/incidents", letters=f"{base}/letters"),
    )
    await _add_live_status(out, case_handle(client, case_workflow_id(customer_ref)))
    return out


async def _add_live_status(out: CaseViewOut, handle: WorkflowHandle[Any, Any]) -> None:
    """Add the workflow's status and malformed-signal count, within one short budget.

    The records answer on their own: a busy or unreachable worker leaves these unset
    rather than holding the response past a client's timeout."""
    try:
        async with asyncio.timeout(LIVE_STATUS_BUDGET.total_seconds()):
            description = await handle.describe(rpc_timeout=LIVE_STATUS_BUDGET)
            out.workflow_status = description.status.name if description.status else None
            if description.status == WorkflowExecutionStatus.RUNNING:
                live = await handle.query(CaseWorkflow.state, rpc_timeout=LIVE_STATUS_BUDGET)
                out.malformed_signals = live.malformed_signals
    except (RPCError, TimeoutError):
        pass


@router.get("/cases/{customer_ref}/incidents")
async def list_incidents(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    request: Request,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> IncidentPage:
    """The current case's incidents, oldest first, a page at a time (need to know, as the
    case itself; every read is audited)."""
    case_key = await _readable_case_key(request, records, principal, customer_ref)
    after = time_and_key(cursor, "incidents") if cursor else None
    rows = await records.incidents_page(case_key, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return IncidentPage(
        items=[IncidentOut.model_validate(i, from_attributes=True) for i in page],
        next=encode_cursor("incidents", page[-1].occurred_at.isoformat(), page[-1].incident_id)
        if more
        else None,
    )


@router.get("/cases/{customer_ref}/letters")
async def list_letters(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    request: Request,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> LetterPage:
    """The current case's letters, oldest first, a page at a time (need to know, as the
    case itself; every read is audited). ``GET /v1/letters/{id}`` gives one in full."""
    case_key = await _readable_case_key(request, records, principal, customer_ref)
    after = time_and_key(cursor, "letters") if cursor else None
    rows = await records.letters_page(case_key, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return LetterPage(
        items=[LetterOut.model_validate(x, from_attributes=True) for x in page],
        next=encode_cursor("letters", page[-1].created_at.isoformat(), page[-1].letter_id)
        if more
        else None,
    )


@router.get("/cases/{customer_ref}/state")
async def get_live_state(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    client: TemporalDep,
    request: Request,
) -> CaseStateOut:
    """The running workflow's own view of the case (needs the worker); need to know as
    for the case itself."""
    case = await open_case_file(request, records, principal, customer_ref)
    if case is None:
        decision = await case_access(records, principal, None)
        if decision.access is not Access.FULL:
            raise HTTPException(404, "no running case for this customer reference")
    workflow_id = case_workflow_id(customer_ref)
    handle = case_handle(client, workflow_id)
    try:
        state = await handle.query(CaseWorkflow.state, rpc_timeout=timedelta(seconds=5))
    except RPCError as error:
        raise HTTPException(404, "no running case for this customer reference") from error
    return case_state_out(state, workflow_id)


@router.post("/cases/{customer_ref}/appeals", status_code=status.HTTP_201_CREATED)
async def post_appeal(
    customer_ref: CustomerRef,
    body: AppealIn,
    principal: Intake,
    client: TemporalDep,
    settings: SettingsDep,
) -> CaseStateOut:
    """Log the customer's appeal against their protocol; a Director decides it."""
    return await log_appeal(customer_ref, body, principal, client, settings)


@router.post("/cases/{customer_ref}/risk-flag-reviews", status_code=status.HTTP_201_CREATED)
async def post_risk_flag_review(
    customer_ref: CustomerRef,
    body: RiskFlagReviewIn,
    principal: StaffOnly,
    client: TemporalDep,
    settings: SettingsDep,
) -> CaseStateOut:
    """Ask a manager to decide the risk flag now; the flag is never changed by a request."""
    return await request_risk_flag_review(customer_ref, body, principal, client, settings)


@router.post("/cases/{customer_ref}/support")
async def post_support(
    customer_ref: CustomerRef,
    body: SupportIn,
    principal: Staff,
    client: TemporalDep,
    settings: SettingsDep,
    records: RecordsDep,
    request: Request,
) -> CaseStateOut:
    """Record vulnerabilities, an advocate and reasonable adjustments; with ``equality``,
    the customer's equality monitoring too (HS 7.1: voluntary). The equality answers are
    checked first (422 naming the characteristic) and stored in the records once the case
    has the support details: they never go to the case workflow."""
    equality = checked_equality(settings, body.equality, "equality") if body.equality else None
    state = await record_support(customer_ref, body, principal, client, settings)
    if equality is not None:
        path = f"/v1/cases/{customer_ref}/support"
        action = "POST /v1/cases/{customer_ref}/support"
        audit = audit_call(principal, action, 200, path, datetime.now(UTC))
        await store_equality(records, customer_ref, equality, audit)
        request.state.audited = True  # the equality row is the call's audit row
    return state


@router.post("/cases/{customer_ref}/access", status_code=status.HTTP_201_CREATED)
async def break_glass(
    customer_ref: CustomerRef,
    body: BreakGlassIn,
    principal: StaffOnly,
    records: RecordsDep,
    settings: SettingsDep,
    request: Request,
) -> BreakGlassOut:
    """Break glass: open a case one is not involved in, for a recorded reason.

    The reason, who and their roles are written to the case's audit trail (the auditor
    sees them); reads of the case are then allowed, and audited as break-glass reads,
    for ``UCB_BREAK_GLASS_SECONDS``."""
    case = await records.latest_case(customer_ref)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    decision, until = await grant_break_glass(
        records,
        principal,
        case,
        body.reason,
        settings.break_glass_seconds,
        action="POST /v1/cases/{customer_ref}/access",
        path=f"/v1/cases/{customer_ref}/access",
    )
    request.state.audited = True
    note_case_read(request, case.case_key, decision)
    return BreakGlassOut(
        customer_ref=customer_ref,
        case_id=case.workflow_id,
        access=decision.access.value,
        basis=decision.basis.value,
        until=decision.until or until,
    )


async def _readable_case_key(
    request: Request, records: Records, principal: Principal, customer_ref: str
) -> str:
    """The current case episode the caller may read in full (else 403 / 404)."""
    case = await open_case_file(request, records, principal, customer_ref)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    return case.case_key
