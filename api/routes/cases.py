"""Reading a customer's case."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, HTTPException, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from api.deps import RecordsDep, TemporalDep
from api.schemas import CaseOut, CustomerRef, IncidentOut, LetterOut
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases/{customer_ref}")
async def get_case(customer_ref: CustomerRef, records: RecordsDep, client: TemporalDep) -> CaseOut:
    """The customer's current case: stage, flags, incidents and letters."""
    case = await records.latest_case(customer_ref)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    incidents, letters = await asyncio.gather(
        records.incidents(case.case_key), records.letters(case.case_key)
    )
    out = CaseOut(
        case_id=case.workflow_id,
        case_key=case.case_key,
        episode=case.episode,
        profile=case.profile,
        stage=case.stage,
        risk_flag=case.risk_flag,
        opened_at=case.opened_at,
        incidents=[IncidentOut.model_validate(i, from_attributes=True) for i in incidents],
        letters=[LetterOut.model_validate(letter, from_attributes=True) for letter in letters],
    )
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(customer_ref))
    try:
        description = await handle.describe(rpc_timeout=timedelta(seconds=3))
        out.workflow_status = description.status.name if description.status else None
        if description.status == WorkflowExecutionStatus.RUNNING:
            live = await handle.query(CaseWorkflow.state, rpc_timeout=timedelta(seconds=3))
            out.malformed_signals = live.malformed_signals
    except RPCError:
        pass  # the records answer on their own when the workflow cannot be reached
    return out
