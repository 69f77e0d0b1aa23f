"""Driving a case through its decisions in workflow tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.service import RPCError

from policy.categories import Category, Channel
from policy.protocol import AssessmentFactors, ProtocolTerms
from settings import Settings
from starter.ops import latest_workflow_task_failure
from starter.temporal import report_incident
from tests.support import eventually
from workflows.case import CaseWorkflow
from workflows.messages import CaseState, Decision, IncidentReport, Task

Handle = WorkflowHandle[CaseWorkflow, CaseState]

TERMS = ProtocolTerms(
    contact_methods=["letter", "email"],
    single_point_of_contact="the Customer Relations Manager",
    contact_times="one email a week, answered on Mondays",
    topics="the repair to the kitchen and the rent account",
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


def assert_everything_in_force_is_reviewed(state: CaseState) -> CaseState:
    """Every restriction and every risk flag in force has a review date (no exception)."""
    restriction = state.protocol
    if restriction is not None:
        assert restriction.kind in {"protocol", "immediate_action", "direct_contact_ended"}
        assert restriction.next_review_at > restriction.authorised_at, restriction
    if state.direct_contact_ended:
        assert restriction is not None and restriction.kind == "direct_contact_ended", state
    if state.risk_flag:
        assert state.risk_flag_review_at is not None, "a risk flag without a review date"
    return state


async def latest_task_failure(handle: Handle) -> str | None:
    """Why the case's latest workflow task failed or timed out (diagnostics), read the way
    the stuck-case scan reads it."""
    events = [event async for event in handle.fetch_history_events()]
    return latest_workflow_task_failure(reversed(events))


async def state_when(handle: Handle, check: Any, within: float = 30) -> CaseState:
    """The case's state once ``check`` holds; every state seen keeps the review invariant.

    While the server retries a failed or timed-out workflow task it refuses queries; that
    is waited out here (Temporal retries the task), and a case that never recovers fails
    the test with the reasons its tasks failed."""
    refused: list[str] = []

    async def probe() -> CaseState | None:
        try:
            state = await handle.query(CaseWorkflow.state)
        except RPCError as err:
            if "Workflow Task in failed state" not in err.message:
                raise
            refused.append(err.message)
            return None
        return state if check(assert_everything_in_force_is_reviewed(state)) else None

    try:
        return await eventually(probe, within=within)
    except AssertionError as err:
        if not refused:
            raise
        reason = await latest_task_failure(handle)
        raise AssertionError(
            f"{err}; queries refused {len(refused)} times; latest workflow task failure: {reason}"
        ) from err


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
        **{
            "reason": f"{kind} {outcome}: internal note recorded in the test",
            "customer_reason": f"Customer words: {kind} {outcome}.",
            **fields,
        },
    )
    state = await handle.execute_update(CaseWorkflow.decide, decision, id=task.task_id)
    return assert_everything_in_force_is_reviewed(state)


async def climb_to_assessment(
    client: Client, settings: Settings, ref: str, last: IncidentReport | None = None
) -> Handle:
    """Initial warning, formal warning, then two more incidents (HS 6.5.3: one alone does
    not warrant an assessment): a manager's behaviour assessment is open."""
    handle = await report(client, settings, incident(ref))
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    await report(client, settings, incident(ref))
    await decide(handle, "formal_warning", "issued", "officer")
    await report(client, settings, incident(ref))
    await report(client, settings, last or incident(ref))
    await open_task(handle, "behaviour_assessment")
    return handle


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


def has_patch_marker(history: WorkflowHistory, patch_id: str) -> bool:
    """Whether the history recorded ``workflow.patched(patch_id)``'s marker."""
    return any(
        patch_id.encode() in payload.data
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        for details in e.marker_recorded_event_attributes.details.values()
        for payload in details.payloads
    )
