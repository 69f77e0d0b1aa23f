"""Building blocks of the case workflow: activities, tasks, letters, events, state sync.

Deterministic like the workflow itself: every side effect goes through an activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from policy.ladder import derive_stage
    from policy.outcomes import APPEAL_TO
    from policy.profiles import PolicyProfile
    from policy.tasks import URGENT_KINDS, TaskKind, decider_role
    from workflows import search_attributes as sa
    from workflows.activity_api import CaseActivityApi
    from workflows.errors import ErrorType, case_error
    from workflows.ids import letter_id
    from workflows.messages import (
        CaseState,
        CaseWrite,
        CreateTask,
        DeliverLetter,
        DraftedLetter,
        DraftLetter,
        IncidentReport,
        LetterProblem,
        LetterSummary,
        OpenCase,
        OpenedCase,
        RecordCaseEvent,
        RecordCaseWrites,
        RecordedCaseWrites,
        SupersedeTask,
        Task,
        UpdateCaseRecord,
    )

from workflows.letter import LetterWorkflow, delivery_options, explain_failure

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

ACTIVITY_TIMEOUT = timedelta(seconds=60)
# Transient faults (database or mail server down, a lock timeout) retry with backoff;
# permanent ones (the error types below) fail at once and become a task for staff.
# No step retries for ever: past its budget it fails, the case lock is released and the
# main loop tries again later, so one fault never holds a case.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[
        str(ErrorType.RECORDS_REJECTED),
        str(ErrorType.LETTER_NOT_RENDERED),
        str(ErrorType.LETTER_UNDELIVERABLE),
    ],
)
STEP_BUDGET = timedelta(minutes=10)
# Patch: the main loop's pass buffers its records writes (audit rows, tasks, tasks
# superseded, letters drafted, the case record) and flushes them as one activity, one
# transaction, at its end; the letters' deliveries start after it.
ONE_STEP = "incident-one-step"
# Patch: a handler's records writes (the decision, its letters, tasks and audit rows, the
# case record) are buffered the same way and flushed as one activity before it answers.
HANDLER_ONE_STEP = "decision-one-step"
# Patch: the case runs a letter's delivery activity itself, not awaited, where it started
# a letter workflow (a child) for it: one workflow per incident, not two.
LETTER_FROM_CASE = "letter-from-case"
# Before a run ends, deliveries still in flight get this long to finish; those still
# retrying then go on in a letter workflow of their own, which outlives the run.
HANDOVER_WAIT = timedelta(seconds=30)
# Patch: a new case records its first incidents in the activity that opens its records row.
OPEN_WITH_FIRST_BATCH = "open-with-first-batch"
# A letter in one of these states needs no delivery started.
DELIVERY_DONE = ("sent", "stored", "undeliverable")
# Every letter template may use these (a first-round decision does not set them all).
LETTER_DEFAULTS = {
    "incidents": "",
    "customer_reason": "",
    "appeal_to": APPEAL_TO,
    "appeal_by": "",
    "complaints_route": "",
    "immediate": "",
    "restriction": "",
    "given": "letter",
}


class CaseSteps:
    """Helpers shared by the case workflow's handlers, decisions and main loop."""

    _state: CaseState
    _profile: PolicyProfile
    # What _sync last wrote to the records and search attributes (None: not yet, this run).
    _mirrored: tuple[object, ...] | None = None
    # Each patch's answer for this run, asked of Temporal once, at the first step that
    # depends on it (validators and queries, which may not ask, read it here after).
    _patch_answers: dict[str, bool]
    # Inside a one-step pass or handler: records writes are buffered.
    _buffering: bool = False
    # Buffered writes not yet on record (a failed flush keeps them for the next one).
    _pending: list[CaseWrite]
    # Deliveries this run started and that have not ended yet, by letter id.
    _deliveries: dict[str, DeliverLetter]

    async def _close(self, why: str, *, letter: bool) -> None:
        state = self._state
        state.closed_at = self._now()
        state.step_counter += 1
        if letter:
            await self._send_letter("case_closed", f"case_closed:{state.step_counter}", {})
        await self._event(
            f"closed:{state.step_counter}", "system", "system", "case_closed", reason=why
        )

    def _now(self) -> datetime:
        return workflow.now()

    def _patched(self, patch_id: str) -> bool:
        """Whether this run takes the patch's new path (see "Changing workflow code
        safely"): asked once, then remembered for the run."""
        if patch_id not in self._patch_answers:
            self._patch_answers[patch_id] = workflow.patched(patch_id)
        return self._patch_answers[patch_id]

    def _in_round_two(self) -> bool:
        """Whether this run follows the policy's second round (restrictions decided by a
        person, reasons for the customer). Runs whose history predates it replay the
        first round; every run started since, including by continue-as-new, takes this."""
        return self._patched("policy-round-two")

    def _in_one_step(self) -> bool:
        """Whether this run's main loop writes a pass's records in one activity. Runs
        whose history predates it replay one activity per write."""
        return self._patched(ONE_STEP)

    def _handlers_in_one_step(self) -> bool:
        """Whether this run's decisions, appeals and flag reviews write their records in
        one activity. Runs whose history predates it (and first-round runs) replay one
        activity per write."""
        return self._in_round_two() and self._patched(HANDLER_ONE_STEP)

    def _delivers_letters(self) -> bool:
        """Whether this run delivers its letters by an activity of its own. Runs whose
        history predates it replay a letter workflow per delivery."""
        return self._patched(LETTER_FROM_CASE)

    async def _in_one_write(self, change: Callable[[], Awaitable[None]]) -> None:
        """Make a handler's change, then mirror it: its records writes in one activity on
        the one-step path (a flush that fails keeps them for the main loop's next pass)."""
        self._buffering = self._handlers_in_one_step()
        try:
            await change()
            await self._sync()
        finally:
            self._buffering = False

    async def _write(self, write: CaseWrite) -> None:
        """A records write: buffered within a one-step pass, else its own activity."""
        if self._buffering:
            self._pending.append(write)
        elif write.decision is not None:
            await self._act(CaseActivityApi.record_decision, write.decision)
        elif write.event is not None:
            await self._act(CaseActivityApi.record_case_event, write.event)
        elif write.task is not None:
            await self._act(CaseActivityApi.create_task, write.task)
        elif write.supersede is not None:
            await self._act(CaseActivityApi.supersede_task, write.supersede)
        else:
            raise AssertionError("letters and the case record are written by their callers")

    async def _flush(self) -> None:
        """Put the buffered writes on record in one activity, then start the deliveries
        of the letters it stored (each letter's row is committed before it is sent)."""
        if not self._pending:
            return
        writes = list(self._pending)
        recorded: RecordedCaseWrites = await self._act(
            CaseActivityApi.record_case_writes, RecordCaseWrites(self._state.case_key, writes)
        )
        self._pending.clear()
        drafts = list(zip((w.letter for w in writes if w.letter), recorded.letters, strict=True))
        for draft, drafted in drafts:
            if not draft.copy_for_customer:
                self._remember_letter(draft.kind, drafted)
        for draft, drafted in drafts:
            if drafted.status not in DELIVERY_DONE:
                await self._start_delivery(drafted.letter_id, draft.kind, attempt=1)

    def _open_task(self, task_id: str) -> Task | None:
        return next((t for t in self._state.open_tasks if t.task_id == task_id), None)

    def _open_kinds(self) -> frozenset[TaskKind]:
        return frozenset(TaskKind(t.kind) for t in self._state.open_tasks)

    async def _supersede(self, *kinds: TaskKind, why: str) -> None:
        """Close open tasks the case has moved past (recorded, never silently dropped)."""
        for task in [t for t in self._state.open_tasks if TaskKind(t.kind) in kinds]:
            self._state.open_tasks.remove(task)
            self._state.decided_task_ids.append(task.task_id)
            await self._write(
                CaseWrite(
                    supersede=SupersedeTask(
                        self._state.case_key, task.task_id, task.kind, why, self._now()
                    )
                )
            )

    async def _open_tasks(
        self, kinds: list[TaskKind], context: dict[str, str], *, one_per_kind: bool = True
    ) -> None:
        for kind in kinds:
            if one_per_kind and kind in self._open_kinds():
                continue
            now, durations = self._now(), self._profile.durations
            restriction = self._state.protocol.kind if self._state.protocol else None
            due = durations.urgent_task_due if kind in URGENT_KINDS else durations.task_due
            task = Task(
                task_id=str(workflow.uuid4()),
                kind=str(kind),
                role=str(decider_role(kind, self._profile.review_decider, restriction=restriction)),
                created_at=now,
                due_at=now + timedelta(seconds=due),
                context=dict(context),
            )
            self._state.open_tasks.append(task)
            await self._write(
                CaseWrite(task=CreateTask(self._state.case_key, self._state.customer_ref, task))
            )

    async def _event(
        self,
        key: str,
        actor: str,
        role: str,
        action: str,
        *,
        reason: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        await self._write(
            CaseWrite(
                event=RecordCaseEvent(
                    case_key=self._state.case_key,
                    event_key=f"{self._state.case_key}:{key}",
                    actor=actor,
                    role=str(role),
                    action=action,
                    at=self._now(),
                    reason=reason,
                    details=details or {},
                )
            )
        )

    async def _open_case(self, first_batch: list[IncidentReport]) -> list[str]:
        """Open (or find) the case's records row, recording the first batch with it;
        answers with the ids of that batch this opening recorded."""
        info = workflow.info()
        opened: OpenedCase = await self._act(
            CaseActivityApi.open_case,
            OpenCase(
                customer_ref=self._state.customer_ref,
                workflow_id=info.workflow_id,
                run_key=info.first_execution_run_id,
                profile_name=self._profile.name,
                opened_at=self._now(),
                first_batch=first_batch,
            ),
        )
        self._state.case_key = opened.case_key
        self._state.episode = opened.episode
        self._state.opened_at = self._now()
        self._state.last_activity_at = self._now()
        if not first_batch:  # else the pass that acts on the batch mirrors the case
            self._upsert_search_attributes()
        return opened.created_ids

    async def _send_letter(self, kind: str, step: str, context: dict[str, str]) -> None:
        """Store the letter (and the customer's own copy of a letter that went to their
        advocate), then start its delivery, not awaited: it retries while the mail server
        is down without holding this case; one that fails for good opens a task."""
        support = self._state.support
        letters = [(step, False)]
        if support.contact_via_advocate and support.copy_to_customer and self._in_round_two():
            letters.append((f"{step}:copy", True))
        for key, copy in letters:
            if self._buffering:  # drafted with the pass's other writes, delivered after them
                self._pending.append(CaseWrite(letter=self._draft(kind, key, context, copy=copy)))
                continue
            drafted = await self._draft_and_deliver(kind, key, context, copy=copy)
            if not copy:
                self._remember_letter(kind, drafted)

    def _remember_letter(self, kind: str, drafted: DraftedLetter) -> None:
        """The case's summary of a letter stored for the customer (once per letter)."""
        if not any(x.letter_id == drafted.letter_id for x in self._state.letters):
            self._state.letters.append(LetterSummary(drafted.letter_id, kind, drafted.delivery))

    async def _draft_and_deliver(
        self, kind: str, step: str, context: dict[str, str], *, copy: bool
    ) -> DraftedLetter:
        """Store the letter once per step, then start its delivery unless it is done."""
        drafted: DraftedLetter = await self._act(
            CaseActivityApi.draft_letter, self._draft(kind, step, context, copy=copy)
        )
        if drafted.status not in DELIVERY_DONE:
            await self._start_delivery(drafted.letter_id, kind, attempt=1)
        return drafted

    def _draft(self, kind: str, step: str, context: dict[str, str], *, copy: bool) -> DraftLetter:
        return DraftLetter(
            letter_id=letter_id(self._state.case_key, step),
            case_key=self._state.case_key,
            customer_ref=self._state.customer_ref,
            kind=kind,
            context={**LETTER_DEFAULTS, "ombudsman": self._profile.ombudsman, **context},
            copy_for_customer=copy,
        )

    async def _start_delivery(self, letter: str, kind: str, *, attempt: int) -> None:
        """Start the letter's delivery; the case never waits for it to end."""
        durations = self._profile.durations
        request = DeliverLetter(
            letter_id=letter,
            case_workflow_id=workflow.info().workflow_id,
            kind=kind,
            attempt=attempt,
            budget_seconds=durations.letter_delivery_budget,
            retry_max_interval_seconds=durations.letter_retry_max_interval,
        )
        if not self._delivers_letters():
            await self._start_letter_workflow(request)
        elif letter not in self._deliveries:
            self._deliveries[letter] = request
            delivery = workflow.start_activity_method(
                CaseActivityApi.deliver_letter, request, **delivery_options(request)
            )
            delivery.add_done_callback(lambda ended: self._delivery_ended(request, ended))

    def _delivery_ended(self, request: DeliverLetter, ended: asyncio.Future[Any]) -> None:
        """A delivery that failed for good becomes a letter problem for the main loop."""
        if self._deliveries.get(request.letter_id) is not request:
            return  # handed over to a letter workflow, which reports for itself
        del self._deliveries[request.letter_id]
        failure = None if ended.cancelled() else ended.exception()
        if isinstance(failure, ActivityError):
            problem, explanation = explain_failure(failure, request.budget_seconds)
            self._state.letter_problems.append(
                LetterProblem(request.letter_id, request.kind, problem, explanation)
            )

    async def _hand_over_deliveries(self) -> None:
        """Before the run ends: let deliveries in flight finish (for a while), then give
        those still retrying to a letter workflow each, which outlives the run."""
        if not self._deliveries:
            return
        try:
            await workflow.wait_condition(lambda: not self._deliveries, timeout=HANDOVER_WAIT)
        except TimeoutError:
            for request in list(self._deliveries.values()):
                del self._deliveries[request.letter_id]
                await self._start_letter_workflow(request)

    async def _start_letter_workflow(self, request: DeliverLetter) -> None:
        try:
            await workflow.start_child_workflow(
                LetterWorkflow.run,
                request,
                id=f"letter-{request.letter_id}-{request.attempt}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # this attempt is already on its way

    async def _sync(self) -> None:
        """Derive the stage and mirror it, the flags and the dates to records and Temporal."""
        state = self._state
        stage = derive_stage(
            closed=state.closed_at is not None,
            protocol_in_force=state.protocol is not None,
            open_kinds=self._open_kinds(),
            direct_contact_ended=state.direct_contact_ended,
            formal_warning_given=state.formal_warning_given,
            initial_warning_given=state.initial_warning_given,
            restriction=state.protocol.kind if self._in_round_two() and state.protocol else None,
        )
        protocol = state.protocol
        review_overdue = protocol is not None and protocol.next_review_at <= self._now()
        mirrored = (
            stage,
            state.risk_flag,
            state.protocol.next_review_at if state.protocol else None,
            state.closed_at,
            state.direct_contact_ended,
            state.interim_measures,
            len(state.open_tasks),
            review_overdue,
        )
        changed = mirrored != self._mirrored
        if self._buffering or self._pending:
            # One-step path: the case record goes with the pass's writes (only the latest
            # one of a flush that failed before is kept), and one flush writes them all;
            # the state shows the new stage once it is on record, with the pass's letters.
            if changed:
                self._pending[:] = [w for w in self._pending if w.case_record is None]
                self._pending.append(CaseWrite(case_record=self._case_record(stage)))
            await self._flush()
            state.stage, state.review_overdue = stage, review_overdue
        else:
            state.stage, state.review_overdue = stage, review_overdue
            if changed:
                await self._act(CaseActivityApi.update_case_record, self._case_record(stage))
        if not changed:
            return  # nothing the records or the search attributes show has changed
        self._upsert_search_attributes()
        self._mirrored = mirrored

    def _case_record(self, stage: str) -> UpdateCaseRecord:
        state = self._state
        return UpdateCaseRecord(
            case_key=state.case_key,
            stage=stage,
            risk_flag=state.risk_flag,
            at=self._now(),
            next_review_at=state.protocol.next_review_at if state.protocol else None,
            closed_at=state.closed_at,
            direct_contact_ended=state.direct_contact_ended,
            interim_measures=state.interim_measures,
        )

    def _upsert_search_attributes(self) -> None:
        state = self._state
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.CUSTOMER_REF.value_set(state.customer_ref),
            sa.CASE_STAGE.value_set(state.stage),
            sa.RISK_FLAG.value_set(state.risk_flag),
            sa.POLICY_PROFILE.value_set(self._profile.name),
            sa.OPEN_TASKS.value_set(len(state.open_tasks)),
            sa.REVIEW_OVERDUE.value_set(state.review_overdue),
            sa.NEXT_REVIEW_AT.value_set(state.protocol.next_review_at)
            if state.protocol
            else sa.NEXT_REVIEW_AT.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)

    async def _act(self, activity: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT) -> ResultT:
        """Run one activity; a step that fails (for good or past its budget) raises
        ApplicationError(StepFailed), which handlers may raise and the loop retries."""
        try:
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=STEP_BUDGET,
                retry_policy=ACTIVITY_RETRY,
            )
        except ActivityError as failure:
            cause = failure.cause
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            self._state.failed_steps += 1
            workflow.logger.warning("case step %s failed: %s", failure.activity_type, kind)
            raise case_error(
                ErrorType.STEP_FAILED,
                f"the case could not complete the step {failure.activity_type} ({kind}); "
                "nothing accepted was lost: retry, or ask an operator to check the records",
            ) from None
