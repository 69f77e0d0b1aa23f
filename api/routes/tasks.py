"""The task inbox: list, claim and complete the decisions the caller's roles may take."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from api.auth import Decider
from api.casework import claim_task, complete_task, release_task
from api.decision_docs import completion_examples
from api.decision_schemas import CaseStateOut, DecisionIn, SupportOut, TaskOut
from api.deps import RecordsDep, SettingsDep, TemporalDep
from api.integrator import MAX_PAGE, TaskCursorPage, bad_query, encode_cursor, time_and_key
from api.schemas import CustomerRef
from policy.tasks import TaskKind
from records.models import CustomerSupport, Task
from workflows.ids import case_workflow_id

router = APIRouter(prefix="/v1", tags=["tasks"])

KindFilter = Literal[
    "initial_warning",
    "formal_warning",
    "behaviour_assessment",
    "protocol_authorisation",
    "appeal_decision",
    "protocol_review",
    "police_report",
    "tenancy_action",
    "immediate_action",
    "end_direct_contact",
    "support_referral",
    "risk_flag_decision",
    "colleague_support",
    "letter_undeliverable",
]
assert set(KindFilter.__args__) == {k.value for k in TaskKind}  # type: ignore[attr-defined]


def support_out(support: CustomerSupport | None) -> SupportOut | None:
    """The customer's recorded support needs as deciders read them, or None."""
    if support is None:
        return None
    return SupportOut(
        vulnerabilities=list(support.vulnerabilities or []),
        advocate_name=support.advocate_name,
        advocate_email=support.advocate_email,
        contact_via_advocate=support.contact_via_advocate,
        reasonable_adjustments=support.reasonable_adjustments,
        referral_consent=support.referral_consent,
        mediation_offered=support.mediation_offered,
        updated_at=support.updated_at,
    )


def task_out(task: Task, support: CustomerSupport | None = None) -> TaskOut:
    """A task as deciders see it; ``support`` is its customer's, when recorded."""
    return TaskOut(
        task_id=task.task_id,
        kind=task.kind,
        role=task.role,
        customer_ref=task.customer_ref,
        case_id=case_workflow_id(task.customer_ref),
        created_at=task.created_at,
        due_at=task.due_at,
        escalated_to=task.escalated_to,
        claimed_by=task.claimed_by,
        context={k: v for k, v in task.context.items() if k != "incident_id"},
        support=support_out(support),
    )


@router.get("/tasks")
async def list_tasks(
    principal: Decider,
    records: RecordsDep,
    kind: KindFilter | None = None,
    customer_ref: Annotated[CustomerRef | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Page on from the ``next`` of the previous page (instead of offset): "
            "a task decided meanwhile does not shift the pages.",
        ),
    ] = None,
) -> TaskCursorPage:
    """Open tasks the caller's roles may decide, oldest due first, each with the support
    needs recorded for its customer. Page with ``next`` (a cursor) or ``offset``."""
    roles = [r.value for r in principal.roles]
    if cursor is not None:
        if offset:
            bad_query("offset", "give a cursor or an offset, not both")
        after = time_and_key(cursor, "tasks")
        rows, total = await records.open_tasks_after(
            roles, after=after, kind=kind, customer_ref=customer_ref, limit=limit + 1
        )
    else:
        rows, total = await records.open_tasks_for(
            roles, kind=kind, customer_ref=customer_ref, limit=limit + 1, offset=offset
        )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor("tasks", last.due_at.isoformat(), last.task_id)
    support = await records.support_for([t.customer_ref for t in page])
    items = [task_out(t, support.get(t.customer_ref)) for t in page]
    return TaskCursorPage(items=items, total=total, limit=limit, offset=offset, next=next_cursor)


@router.post("/tasks/{task_id}/claim")
async def claim(
    task_id: str, principal: Decider, records: RecordsDep, settings: SettingsDep
) -> TaskOut:
    """Take a task so colleagues see it is being dealt with (a lapsed claim, or one held
    below a role the task escalated to, is taken over and audited)."""
    claimed = await claim_task(task_id, principal, records, settings)
    return task_out(claimed, await records.get_support(claimed.customer_ref))


@router.post("/tasks/{task_id}/release")
async def release(task_id: str, principal: Decider, records: RecordsDep) -> TaskOut:
    """Give a claimed task back to the team: the claimant may, and so may a role the task
    escalated to; anyone else gets 403. The release is audited on the case's trail."""
    released = await release_task(task_id, principal, records)
    return task_out(released, await records.get_support(released.customer_ref))


@router.post("/tasks/{task_id}/complete")
async def complete(
    task_id: str,
    body: Annotated[DecisionIn, Body(openapi_examples=completion_examples())],
    principal: Decider,
    records: RecordsDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> CaseStateOut:
    """Decide a task; answers with the case's new state.

    The outcomes a task allows, and the fields each outcome needs, depend on the task's
    ``kind``: see ``outcome`` in the request body (and its ``x-outcomes``), and the worked
    examples."""
    return await complete_task(task_id, body, principal, records, client, settings)
