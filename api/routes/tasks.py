"""The task inbox: list, claim and complete the decisions the caller's roles may take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import Decider
from api.casework import Problem, acting_role, complete_task, held_by_colleague
from api.decision_schemas import CaseStateOut, DecisionIn, SupportOut, TaskOut, TaskPage
from api.deps import RecordsDep, SettingsDep, TemporalDep
from api.schemas import CustomerRef
from policy.tasks import TaskKind
from records.models import CustomerSupport, Task
from records.repository import TaskClaimConflict
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
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TaskPage:
    """Open tasks the caller's roles may decide, oldest due first, each with the support
    needs recorded for its customer."""
    rows, total = await records.open_tasks_for(
        [r.value for r in principal.roles],
        kind=kind,
        customer_ref=customer_ref,
        limit=limit,
        offset=offset,
    )
    support = await records.support_for([t.customer_ref for t in rows])
    items = [task_out(t, support.get(t.customer_ref)) for t in rows]
    return TaskPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/tasks/{task_id}/claim")
async def claim(
    task_id: str, principal: Decider, records: RecordsDep, settings: SettingsDep
) -> TaskOut:
    """Take a task so colleagues see it is being dealt with (a lapsed claim, or one held
    below a role the task escalated to, is taken over and audited)."""
    task = await records.get_task(task_id)
    if task is None:
        raise Problem(404, f"no task {task_id}")
    role = acting_role(principal, task.role, task.escalated_to)
    now = datetime.now(UTC)
    takeover = not held_by_colleague(task, principal, role, settings, now)
    try:
        claimed = await records.claim_task(task_id, principal.user, now, takeover=takeover)
    except TaskClaimConflict as conflict:
        raise Problem(409, str(conflict)) from None
    return task_out(claimed, await records.get_support(claimed.customer_ref))


@router.post("/tasks/{task_id}/complete")
async def complete(
    task_id: str,
    body: DecisionIn,
    principal: Decider,
    records: RecordsDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> CaseStateOut:
    """Decide a task; answers with the case's new state."""
    return await complete_task(task_id, body, principal, records, client, settings)
