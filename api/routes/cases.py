"""Reading a customer's case; logging appeals, support needs and risk-flag reviews."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from api.access import (
    BreakGlassIn,
    BreakGlassOut,
    CaseFoundOut,
    CaseSearchOut,
    break_glass_hint,
    case_access,
    note_case_read,
    open_case_file,
)
from api.auth import CaseReader, Intake, Staff, StaffOnly
from api.casework import case_state_out, log_appeal, record_support, request_risk_flag_review
from api.decision_schemas import AppealIn, CaseStateOut, RiskFlagReviewIn, SupportIn
from api.deps import RecordsDep, SettingsDep, TemporalDep
from api.routes.tasks import task_out
from api.schemas import AuditEntryOut, CaseOut, CustomerRef, IncidentOut, LetterOut
from policy.access import Access
from records.repository import ApiCall
from starter.temporal import case_handle
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases")
async def find_case(
    customer_ref: Annotated[CustomerRef, Query()],
    principal: CaseReader,
    records: RecordsDep,
) -> CaseSearchOut:
    """Whether the customer has a case. Staff involved in it see its stage and flag;
    others see only that it exists, and how to open it (break glass)."""
    case = await records.latest_case(customer_ref)
    if case is None:
        return CaseSearchOut(items=[])
    decision = await case_access(records, principal, case.case_key)
    found = CaseFoundOut(
        customer_ref=customer_ref,
        case_id=case.workflow_id,
        open=case.closed_at is None,
        access=decision.access.value,
    )
    if decision.full:
        found.stage, found.risk_flag, found.opened_at = case.stage, case.risk_flag, case.opened_at
    else:
        found.how_to_open = break_glass_hint(customer_ref)
    return CaseSearchOut(items=[found])


@router.get("/cases/{customer_ref}")
async def get_case(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    client: TemporalDep,
    request: Request,
) -> CaseOut:
    """The customer's current case: stage, flags, history, incidents, letters, open tasks.

    Need to know: staff not involved in the case get 403, saying how to break glass."""
    case = await open_case_file(request, records, principal, customer_ref)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    incidents, letters, tasks, trail = await asyncio.gather(
        records.incidents(case.case_key),
        records.letters(case.case_key),
        records.open_tasks_of_case(case.case_key),
        records.audit_trail(case.case_key),
    )
    out = CaseOut(
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
    )
    handle = case_handle(client, case_workflow_id(customer_ref))
    try:
        description = await handle.describe(rpc_timeout=timedelta(seconds=3))
        out.workflow_status = description.status.name if description.status else None
        if description.status == WorkflowExecutionStatus.RUNNING:
            live = await handle.query(CaseWorkflow.state, rpc_timeout=timedelta(seconds=3))
            out.malformed_signals = live.malformed_signals
    except RPCError:
        pass  # the records answer on their own when the workflow cannot be reached
    return out


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
) -> CaseStateOut:
    """Record vulnerabilities, an advocate and reasonable adjustments."""
    return await record_support(customer_ref, body, principal, client, settings)


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
    now = datetime.now(UTC)
    until = now + timedelta(seconds=settings.break_glass_seconds)
    call = ApiCall(
        actor=principal.user,
        role=principal.role_names,
        action="POST /v1/cases/{customer_ref}/access",
        outcome=status.HTTP_201_CREATED,
        details={"path": f"/v1/cases/{customer_ref}/access"},
        at=now,
        case_key=case.case_key,
    )
    await records.record_break_glass(case.case_key, call, body.reason, until)
    request.state.audited = True
    decision = await case_access(records, principal, case.case_key)
    note_case_read(request, case.case_key, decision)
    return BreakGlassOut(
        customer_ref=customer_ref,
        case_id=case.workflow_id,
        access=decision.access.value,
        basis=decision.basis.value,
        until=decision.until or until,
    )
