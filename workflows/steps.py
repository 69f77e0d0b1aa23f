"""Building blocks of the case workflow: activities, tasks, letters, events, state sync.

Deterministic like the workflow itself: every side effect goes through an activity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from policy.ladder import derive_stage
    from policy.profiles import PolicyProfile
    from policy.tasks import TaskKind, decider_role
    from workflows import search_attributes as sa
    from workflows.ids import letter_id
    from workflows.messages import (
        CaseState,
        CreateTask,
        LetterSummary,
        OpenCase,
        OpenedCase,
        RecordCaseEvent,
        SendLetter,
        SentLetter,
        SupersedeTask,
        Task,
        UpdateCaseRecord,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)
ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=2))


def letter_date(moment: datetime) -> str:
    """A date as letters print it."""
    return moment.strftime("%d %B %Y")


class CaseSteps:
    """Helpers shared by the case workflow's handlers, decisions and main loop."""

    _state: CaseState
    _profile: PolicyProfile
    # What _sync last wrote to the records and search attributes (None: not yet, this run).
    _mirrored: tuple[object, ...] | None = None

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

    def _open_task(self, task_id: str) -> Task | None:
        return next((t for t in self._state.open_tasks if t.task_id == task_id), None)

    def _open_kinds(self) -> frozenset[TaskKind]:
        return frozenset(TaskKind(t.kind) for t in self._state.open_tasks)

    async def _supersede(self, *kinds: TaskKind, why: str) -> None:
        """Close open tasks the case has moved past (recorded, never silently dropped)."""
        for task in [t for t in self._state.open_tasks if TaskKind(t.kind) in kinds]:
            self._state.open_tasks.remove(task)
            self._state.decided_task_ids.append(task.task_id)
            await self._activity(
                "supersede_task",
                SupersedeTask(self._state.case_key, task.task_id, task.kind, why, self._now()),
            )

    async def _open_tasks(self, kinds: list[TaskKind], context: dict[str, str]) -> None:
        for kind in kinds:
            if kind in self._open_kinds():
                continue
            now = self._now()
            task = Task(
                task_id=str(workflow.uuid4()),
                kind=str(kind),
                role=str(decider_role(kind, self._profile.review_decider)),
                created_at=now,
                due_at=now + timedelta(seconds=self._profile.durations.task_due),
                context=dict(context),
            )
            self._state.open_tasks.append(task)
            await self._activity(
                "create_task", CreateTask(self._state.case_key, self._state.customer_ref, task)
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
        await self._activity(
            "record_case_event",
            RecordCaseEvent(
                case_key=self._state.case_key,
                event_key=f"{self._state.case_key}:{key}",
                actor=actor,
                role=str(role),
                action=action,
                at=self._now(),
                reason=reason,
                details=details or {},
            ),
        )

    async def _open_case(self) -> None:
        info = workflow.info()
        opened: OpenedCase = await self._activity(
            "open_case",
            OpenCase(
                customer_ref=self._state.customer_ref,
                workflow_id=info.workflow_id,
                run_key=info.first_execution_run_id,
                profile_name=self._profile.name,
                opened_at=self._now(),
            ),
            result_type=OpenedCase,
        )
        self._state.case_key = opened.case_key
        self._state.episode = opened.episode
        self._state.opened_at = self._now()
        self._state.last_activity_at = self._now()
        self._upsert_search_attributes()

    async def _send_letter(self, kind: str, step: str, context: dict[str, str]) -> None:
        sent: SentLetter = await self._activity(
            "send_letter",
            SendLetter(
                letter_id=letter_id(self._state.case_key, step),
                case_key=self._state.case_key,
                customer_ref=self._state.customer_ref,
                kind=kind,
                context={"ombudsman": self._profile.ombudsman, **context},
            ),
            result_type=SentLetter,
        )
        if not any(x.letter_id == sent.letter_id for x in self._state.letters):
            self._state.letters.append(LetterSummary(sent.letter_id, kind, sent.delivery))

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
        )
        state.stage = stage
        mirrored = (
            stage,
            state.risk_flag,
            state.protocol.next_review_at if state.protocol else None,
            state.closed_at,
            state.direct_contact_ended,
            len(state.open_tasks),
        )
        if mirrored == self._mirrored:
            return  # nothing the records or the search attributes show has changed
        await self._activity(
            "update_case_record",
            UpdateCaseRecord(
                case_key=state.case_key,
                stage=stage,
                risk_flag=state.risk_flag,
                at=self._now(),
                next_review_at=mirrored[2],
                closed_at=state.closed_at,
                direct_contact_ended=state.direct_contact_ended,
            ),
        )
        self._upsert_search_attributes()
        self._mirrored = mirrored

    def _upsert_search_attributes(self) -> None:
        state = self._state
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.CUSTOMER_REF.value_set(state.customer_ref),
            sa.CASE_STAGE.value_set(state.stage),
            sa.RISK_FLAG.value_set(state.risk_flag),
            sa.POLICY_PROFILE.value_set(self._profile.name),
            sa.OPEN_TASKS.value_set(len(state.open_tasks)),
            sa.NEXT_REVIEW_AT.value_set(state.protocol.next_review_at)
            if state.protocol
            else sa.NEXT_REVIEW_AT.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)

    async def _activity(self, name: str, arg: object, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
