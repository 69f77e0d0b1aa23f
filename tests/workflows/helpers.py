"""Driving a case through its decisions in workflow tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from policy.categories import Category, Channel
from policy.protocol import AssessmentFactors, ProtocolTerms
from settings import Settings
from starter.temporal import report_incident
from tests.support import eventually
from workflows.case import CaseWorkflow
from workflows.messages import CaseState, Decision, IncidentReport, Task

Handle = WorkflowHandle[CaseWorkflow, CaseState]

TERMS = ProtocolTerms(
    contact_methods=["letter", "email"],
    single_point_of_contact="the Customer Relations Manager",
    contact_times="one email a week, answered on Mondays",
)
FACTORS = AssessmentFactors(
    instances=14,
    contact_levels="40 emails in two weeks, most over 2 pages",
    language="demanding, not abusive",
    needs_and_circumstances="no known support needs; asked and none disclosed",
)


def new_ref(prefix: str = "C") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def incident(
    ref: str,
    category: Category = Category.UNREASONABLE_PERSISTENCE,
    channel: Channel = Channel.EMAIL,
    **extra: Any,
) -> IncidentReport:
    now = datetime.now(UTC)
    return IncidentReport(
        incident_id=str(uuid.uuid4()),
        customer_ref=ref,
        category=category,
        channel=channel,
        occurred_at=now,
        description="Sixth email today about the same closed repair",
        reported_by="officer-7",
        reported_at=now,
        **extra,
    )


async def report(client: Client, settings: Settings, report: IncidentReport) -> Handle:
    return await report_incident(client, settings, report)


async def state_when(handle: Handle, check: Any, within: float = 30) -> CaseState:
    async def probe() -> CaseState | None:
        state = await handle.query(CaseWorkflow.state)
        return state if check(state) else None

    return await eventually(probe, within=within)


async def open_task(handle: Handle, kind: str, within: float = 30) -> Task:
    state = await state_when(handle, lambda s: any(t.kind == kind for t in s.open_tasks), within)
    return next(t for t in state.open_tasks if t.kind == kind)


async def decide(
    handle: Handle, kind: str, outcome: str, role: str, by: str = "", **fields: Any
) -> CaseState:
    """Find the open task of ``kind`` and decide it (update id = task id)."""
    task = await open_task(handle, kind)
    decision = Decision(
        task_id=task.task_id,
        outcome=outcome,
        decided_by=by or f"{role}-1",
        role=role,
        reason=f"{kind} {outcome}: reasons recorded in the test",
        **fields,
    )
    return await handle.execute_update(CaseWorkflow.decide, decision, id=task.task_id)


async def authorise(handle: Handle, **fields: Any) -> CaseState:
    return await decide(
        handle,
        "protocol_authorisation",
        "authorised",
        "head_of_service",
        terms=TERMS,
        reasonable_adjustments="Large-print letters; none other needed",
        **fields,
    )


async def rejected(update: Awaitable[object], match: str) -> str:
    """Await an update that its validator must reject; return the rejection message."""
    try:
        await update
    except WorkflowUpdateFailedError as error:
        message = str(getattr(error.cause, "message", error.cause))
        assert re.search(match, message), f"{match!r} not in {message!r}"
        return message
    raise AssertionError(f"update was accepted; expected rejection matching {match!r}")
