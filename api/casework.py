"""What the routes and the inbox page share: completing tasks, appeals, support, state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.decision_schemas import (
    AppealIn,
    CaseStateOut,
    DecisionIn,
    OpenTaskOut,
    ProtocolOut,
    RiskFlagReviewIn,
    SupportIn,
)
from api.faults import RETRY_AFTER_SECONDS
from policy.protocol import AssessmentFactors, ProtocolTerms, arrangements
from policy.tasks import (
    OUTCOMES,
    Role,
    TaskKind,
    claim_blocks,
    escalation_chain,
    release_allowed,
)
from records.models import Task as TaskRow
from records.repository import Records, TaskClaimConflict
from settings import Settings
from starter.temporal import case_handle
from tokens import Principal
from workflows.case import CaseWorkflow
from workflows.errors import ErrorType, error_field
from workflows.ids import case_workflow_id
from workflows.messages import (
    AppealRequest,
    CaseState,
    Decision,
    RiskFlagReviewRequest,
    SupportRecord,
)


@dataclass
class Problem(Exception):
    """A request that cannot be carried out: an HTTP status, a message, maybe a field.

    ``retry_after`` (seconds) is sent as ``Retry-After``: set it on a 503.
    """

    status: int
    message: str
    field: str | None = None
    retry_after: int | None = None


def case_state_out(state: CaseState, case_id: str) -> CaseStateOut:
    """The API's view of the workflow's state."""
    protocol = state.protocol
    return CaseStateOut(
        case_id=case_id,
        case_key=state.case_key,
        stage=state.stage,
        risk_flag=state.risk_flag,
        direct_contact_ended=state.direct_contact_ended,
        incident_count=state.incident_count,
        open_tasks=[
            OpenTaskOut(
                task_id=t.task_id,
                kind=t.kind,
                role=t.role,
                due_at=t.due_at,
                escalated_to=t.escalated_to,
            )
            for t in state.open_tasks
        ],
        protocol=ProtocolOut(
            arrangements=arrangements(protocol.terms),
            authorised_by=protocol.authorised_by,
            next_review_at=protocol.next_review_at,
            immediate=protocol.immediate,
            reviews=protocol.reviews,
            kind=protocol.kind,
            appeals=protocol.appeals,
        )
        if protocol
        else None,
        closed_at=state.closed_at,
    )


def acting_role(principal: Principal, role: str, escalated_to: str | None) -> str:
    """The role in which the caller decides the task, or a 403 Problem."""
    held = {r.value for r in principal.roles}
    chain = escalation_chain(Role(role), Role(escalated_to) if escalated_to else None)
    # The deciding role first, then each role it climbed to, in order.
    allowed = [r.value for r in Role if r in chain]
    for candidate in allowed:
        if candidate in held:
            return candidate
    raise Problem(403, f"this task is decided by {allowed}; you hold {sorted(held)}")


def held_by_colleague(
    task: TaskRow, principal: Principal, role: str, settings: Settings, now: datetime
) -> bool:
    """Whether a colleague's claim keeps the caller (acting in ``role``) from the task."""
    return claim_blocks(
        claimed_by=task.claimed_by,
        claimed_at=task.claimed_at,
        user=principal.user,
        acting_role=role,
        task_role=task.role,
        now=now,
        claim_lasts=timedelta(seconds=settings.claim_seconds),
    )


async def _task_and_role(
    task_id: str, principal: Principal, records: Records
) -> tuple[TaskRow, str]:
    """The task and the role the caller acts in on it (404 or 403 as a Problem)."""
    task = await records.get_task(task_id)
    if task is None:
        raise Problem(404, f"no task {task_id}")
    return task, acting_role(principal, task.role, task.escalated_to)


async def claim_task(
    task_id: str, principal: Principal, records: Records, settings: Settings
) -> TaskRow:
    """Take a task so colleagues see it is being dealt with (a lapsed claim, or one held
    below a role the task escalated to, is taken over and audited); 404, 403 or 409 as a
    Problem."""
    task, role = await _task_and_role(task_id, principal, records)
    now = datetime.now(UTC)
    takeover = not held_by_colleague(task, principal, role, settings, now)
    try:
        return await records.claim_task(task_id, principal.user, now, takeover=takeover)
    except TaskClaimConflict as conflict:
        raise Problem(409, str(conflict)) from None


async def release_task(task_id: str, principal: Principal, records: Records) -> TaskRow:
    """Release the claim on a task: the claimant may, and so may a role the task escalated
    to (the rules of ``claim``, mirrored); a 403 Problem for anyone else, 409 if the task
    is not open or not claimed. The release is audited with the task's case."""
    task, role = await _task_and_role(task_id, principal, records)
    if task.status != "open":
        raise Problem(409, f"task {task_id} is already {task.status}")
    if task.claimed_by is None:
        raise Problem(409, f"task {task_id} is not claimed")
    if not release_allowed(
        claimed_by=task.claimed_by, user=principal.user, acting_role=role, task_role=task.role
    ):
        raise Problem(
            403,
            f"task {task_id} is claimed by {task.claimed_by}: only they, or a role it "
            "escalated to, may release it",
        )
    try:
        return await records.release_task(
            task_id, task.claimed_by, principal.user, role, datetime.now(UTC)
        )
    except TaskClaimConflict as conflict:
        raise Problem(409, str(conflict)) from None


async def complete_task(
    task_id: str,
    body: DecisionIn,
    principal: Principal,
    records: Records,
    client: Client,
    settings: Settings,
) -> CaseStateOut:
    """Send the decision to the case workflow as an update whose id is the task id."""
    task, role = await _task_and_role(task_id, principal, records)
    if task.status != "open":
        raise Problem(409, f"task {task_id} is already {task.status}")
    if held_by_colleague(task, principal, role, settings, datetime.now(UTC)):
        raise Problem(409, f"task {task_id} is claimed by {task.claimed_by}")
    allowed = sorted(OUTCOMES[TaskKind(task.kind)])
    if body.outcome not in allowed:
        raise Problem(422, f"outcome must be one of {allowed} for a {task.kind} task", "outcome")
    decision = Decision(
        task_id=task_id,
        outcome=body.outcome,
        decided_by=principal.user,
        role=role,
        reason=body.reason,
        method=body.method,
        terms=ProtocolTerms(**body.terms.model_dump()) if body.terms else None,
        review_after_seconds=body.review_after_seconds,
        reference=body.reference,
        factors=AssessmentFactors(**body.factors.model_dump()) if body.factors else None,
        reasonable_adjustments=body.reasonable_adjustments,
        customer_reason=body.customer_reason,
    )
    workflow_id = case_workflow_id(task.customer_ref)
    handle = case_handle(client, workflow_id)
    state = await _update(
        handle,
        settings,
        lambda h, t: h.execute_update(CaseWorkflow.decide, decision, id=task_id, rpc_timeout=t),
    )
    return case_state_out(state, workflow_id)


async def log_appeal(
    customer_ref: str, body: AppealIn, principal: Principal, client: Client, settings: Settings
) -> CaseStateOut:
    """Log a customer's appeal; a Director's task follows."""
    appeal_id = (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"appeal:{customer_ref}:{body.source_reference}"))
        if body.source_reference
        else str(uuid.uuid4())
    )
    request = AppealRequest(
        appeal_id=appeal_id,
        grounds=body.grounds,
        logged_by=principal.user,
        received_at=body.received_at or datetime.now(UTC),
        against=body.against,
        role=principal.role_names,
    )
    return await _update_case(
        customer_ref,
        client,
        settings,
        lambda h, t: h.execute_update(
            CaseWorkflow.log_appeal, request, id=f"appeal-{appeal_id}", rpc_timeout=t
        ),
    )


async def request_risk_flag_review(
    customer_ref: str,
    body: RiskFlagReviewIn,
    principal: Principal,
    client: Client,
    settings: Settings,
) -> CaseStateOut:
    """Ask a manager to decide the case's risk flag now (identity from the token)."""
    role = sorted(r.value for r in principal.roles)[0]
    request = RiskFlagReviewRequest(requested_by=principal.user, role=role, reason=body.reason)
    return await _update_case(
        customer_ref,
        client,
        settings,
        lambda h, t: h.execute_update(
            CaseWorkflow.request_risk_flag_review, request, rpc_timeout=t
        ),
    )


async def record_support(
    customer_ref: str, body: SupportIn, principal: Principal, client: Client, settings: Settings
) -> CaseStateOut:
    """Record support needs, an advocate and reasonable adjustments on the case."""
    role = sorted(r.value for r in principal.roles)[0]
    # Equality monitoring stays in the records (the route stores it): never in the workflow.
    fields = body.model_dump(exclude={"equality"})
    support = SupportRecord(recorded_by=principal.user, role=role, **fields)
    return await _update_case(
        customer_ref,
        client,
        settings,
        lambda h, t: h.execute_update(CaseWorkflow.record_support, support, rpc_timeout=t),
    )


async def _update_case(
    customer_ref: str, client: Client, settings: Settings, call: Any
) -> CaseStateOut:
    """Run an update on the customer's case; answer with the case state it leaves."""
    workflow_id = case_workflow_id(customer_ref)
    state = await _update(case_handle(client, workflow_id), settings, call)
    return case_state_out(state, workflow_id)


async def _update(
    handle: WorkflowHandle[Any, CaseState], settings: Settings, call: Any
) -> CaseState:
    """Run an update, turning Temporal's answers into Problems with clear messages."""
    timeout = timedelta(seconds=settings.update_timeout_seconds)
    try:
        state: CaseState = await call(handle, timeout)
        return state
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if not isinstance(cause, ApplicationError):
            raise Problem(409, str(cause)) from None
        kind, field = cause.type, error_field(cause.details)
        if kind in (ErrorType.TASK_ALREADY_DECIDED, ErrorType.UNKNOWN_TASK):
            raise Problem(409, cause.message) from None
        if kind in (ErrorType.DECISION_REJECTED, ErrorType.INVALID_REQUEST):
            raise Problem(422, cause.message, field) from None
        if kind == ErrorType.STEP_FAILED:
            raise Problem(503, cause.message, retry_after=RETRY_AFTER_SECONDS) from None
        raise Problem(409, cause.message) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Problem(
            503,
            "the case service did not answer in time (is the worker running?); "
            "retry the same request: it is applied at most once",
            retry_after=RETRY_AFTER_SECONDS,
        ) from None
    except RPCError as error:
        if "not found" in str(error).lower():
            raise Problem(404, "there is no open case for this customer") from None
        raise Problem(
            503, "the case service is not reachable; retry later", retry_after=RETRY_AFTER_SECONDS
        ) from None
