"""Reading a customer's case; logging appeals, support needs and risk-flag reviews."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, HTTPException, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from api.auth import CaseReader, Intake, Staff, StaffOnly
from api.casework import case_state_out, log_appeal, record_support, request_risk_flag_review
from api.decision_schemas import AppealIn, CaseStateOut, RiskFlagReviewIn, SupportIn
from api.deps import RecordsDep, SettingsDep, TemporalDep
from api.routes.tasks import task_out
from api.schemas import AuditEntryOut, CaseOut, CustomerRef, IncidentOut, LetterOut
from starter.temporal import case_handle
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases/{customer_ref}")
async def get_case(
    customer_ref: CustomerRef, _: CaseReader, records: RecordsDep, client: TemporalDep
) -> CaseOut:
    """The customer's current case: stage, flags, history, incidents, letters, open tasks."""
    case = await records.latest_case(customer_ref)
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
    customer_ref: CustomerRef, _: CaseReader, client: TemporalDep
) -> CaseStateOut:
    """The running workflow's own view of the case (needs the worker)."""
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
