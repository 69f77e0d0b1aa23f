"""The case workflow: one per customer, alive for as long as the case is.

Incidents arrive by signal; people decide tasks by update (validated first, so a bad
decision never reaches history); timers escalate overdue tasks, bring protocols to
review, close quiet cases and finally let a closed case go after the 12-month rule.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from policy.categories import is_violent
    from policy.decisions import (
        DecisionFacts,
        DecisionRejected,
        ProposedDecision,
        check_decision,
    )
    from policy.ladder import LadderFacts, behaviour_summary, derive_stage, plan_after_incident
    from policy.protocol import DIRECT_CONTACT_ENDED, arrangements
    from policy.tasks import Role, TaskKind, decider_role, escalation_role
    from workflows import search_attributes as sa
    from workflows.ids import letter_id
    from workflows.messages import (
        AppealRequest,
        CaseInput,
        CaseState,
        CreateTask,
        Decision,
        EscalateTask,
        IncidentReport,
        LetterSummary,
        OpenCase,
        OpenedCase,
        Protocol,
        RecordCaseEvent,
        RecordDecision,
        RecordedIncidents,
        RecordIncidents,
        SendLetter,
        SentLetter,
        StoreSupport,
        SupersedeTask,
        SupportRecord,
        Task,
        UpdateCaseRecord,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)
ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=2))
INCIDENT_BATCH = 100
RECENT_IDS_KEPT = 500


def _invalid(message: str) -> ApplicationError:
    """A request the caller must correct (the message starts with the field)."""
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


def _conflict(message: str) -> ApplicationError:
    """A request the case's current state does not allow."""
    return ApplicationError(message, type="CaseConflict", non_retryable=True)


def _date(moment: datetime) -> str:
    return moment.strftime("%d %B %Y")


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    """A customer's Unacceptable Customer Behaviour case, from first incident to closure."""

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._profile = input.profile
        self._state = input.carried or CaseState(customer_ref=input.customer_ref)
        self._inbox: list[IncidentReport] = []
        self._recent = set(self._state.recent_incident_ids)
        self._lock = asyncio.Lock()
        self._finished = False
        self._deadlines_changed = False

    # Signals, updates, queries ----------------------------------------------------

    @workflow.signal(name="report_incident")
    def report_incident(self, raw: RawValue) -> None:
        """Queue an incident; a payload that does not decode is counted, never fatal."""
        try:
            incident = workflow.payload_converter().from_payload(raw.payload, IncidentReport)
        except Exception:
            # Never log the payload: it may hold allegations about a person.
            self._state.malformed_signals += 1
            workflow.logger.warning("report_incident signal with a malformed payload was dropped")
            return
        if incident.incident_id in self._recent:
            return
        self._recent.add(incident.incident_id)
        self._inbox.append(incident)

    @workflow.update
    async def decide(self, decision: Decision) -> CaseState:
        """Apply a person's decision on an open task; answers with the new case state."""
        async with self._lock:
            task = self._open_task(decision.task_id)
            assert task is not None  # the validator saw it open, and the lock kept it so
            await self._apply_decision(task, decision)
            await self._sync()
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    @decide.validator
    def validate_decision(self, decision: Decision) -> None:
        """Reject a wrong, stale or malformed decision before it reaches history."""
        if decision.task_id in self._state.decided_task_ids:
            raise ApplicationError(
                f"task {decision.task_id} has already been decided",
                type="TaskAlreadyDecided",
                non_retryable=True,
            )
        task = self._open_task(decision.task_id)
        if task is None:
            raise ApplicationError(
                f"no open task {decision.task_id} on this case",
                type="UnknownTask",
                non_retryable=True,
            )
        allowed = {task.role} | ({task.escalated_to} if task.escalated_to else set())
        try:
            self._check(task, decision, allowed)
        except DecisionRejected as rejected:
            raise ApplicationError(
                str(rejected), type="DecisionRejected", non_retryable=True
            ) from None

    def _check(self, task: Task, decision: Decision, allowed: set[str]) -> None:
        check_decision(
            DecisionFacts(
                kind=TaskKind(task.kind),
                allowed_roles=frozenset(allowed),
                durations=self._profile.durations,
                involved=frozenset(self._state.involved),
                violent=task.context.get("violent") == "yes",
            ),
            ProposedDecision(
                outcome=decision.outcome,
                decided_by=decision.decided_by,
                role=decision.role,
                reason=decision.reason,
                method=decision.method,
                terms=decision.terms,
                review_after_seconds=decision.review_after_seconds,
                reference=decision.reference,
                factors=decision.factors,
                reasonable_adjustments=decision.reasonable_adjustments,
            ),
        )

    @workflow.update
    async def log_appeal(self, appeal: AppealRequest) -> CaseState:
        """A customer appeals the protocol: a Director not involved decides (HS 6.5.5)."""
        async with self._lock:
            await self._event(
                f"appeal:{appeal.appeal_id}",
                appeal.logged_by,
                Role.OFFICER,
                "appeal_logged",
                reason=appeal.grounds,
            )
            await self._open_tasks([TaskKind.APPEAL_DECISION], {"appeal_id": appeal.appeal_id})
            await self._sync()
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    @log_appeal.validator
    def validate_appeal(self, appeal: AppealRequest) -> None:
        """Only a protocol in force can be appealed; legal action has its own route."""
        if not appeal.grounds.strip() or not appeal.logged_by.strip():
            raise _invalid("grounds: an appeal records its grounds and who logged it")
        if self._state.protocol is None:
            raise _conflict(
                "no communication protocol is in force: there is nothing to appeal "
                "(tenancy action has its own legal appeal route)"
            )
        if any(t.kind == TaskKind.APPEAL_DECISION for t in self._state.open_tasks):
            raise _conflict("an appeal is already waiting for a Director's decision")

    @workflow.update
    async def record_support(self, support: SupportRecord) -> CaseState:
        """Record vulnerabilities, an advocate and reasonable adjustments."""
        async with self._lock:
            await self._activity(
                "record_support",
                StoreSupport(self._state.case_key, self._state.customer_ref, support, self._now()),
            )
            flags = self._state.support
            flags.contact_via_advocate = support.contact_via_advocate
            flags.reasonable_adjustments_recorded |= bool(support.reasonable_adjustments)
            flags.referral_consent |= support.referral_consent
            flags.mediation_offered |= support.mediation_offered
            await self._sync()
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    @record_support.validator
    def validate_support(self, support: SupportRecord) -> None:
        """Support details need an author; Magna-only measures need the Magna profile."""
        if not support.recorded_by.strip():
            raise _invalid("recorded_by: say who recorded the support needs")
        if support.contact_via_advocate and not (support.advocate_email or support.advocate_name):
            raise _invalid("advocate_email: contact via an advocate needs the advocate's details")
        if support.referral_consent and not self._profile.referral_with_consent:
            raise _invalid(
                f"referral_consent: the {self._profile.name} policy has no referral with consent"
            )
        if support.mediation_offered and not self._profile.mediation:
            raise _invalid(f"mediation_offered: the {self._profile.name} policy has no mediation")

    @workflow.query(name="state")
    def state(self) -> CaseState:
        """The case's compact state: stage, open tasks, protocol, flags, letters."""
        return self._state

    # Main loop --------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> CaseState:
        """Act on incidents and timers until the closed case outlives the 12-month rule."""
        if not self._state.case_key:
            await self._open_case()
        while not self._finished:
            timeout = self._seconds_to_next_deadline()
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._inbox)
                        or self._deadlines_changed
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=timeout,
                )
            except TimeoutError:
                pass
            async with self._lock:
                self._deadlines_changed = False
                while self._inbox:
                    batch, self._inbox = self._inbox[:INCIDENT_BATCH], self._inbox[INCIDENT_BATCH:]
                    await self._handle_incidents(batch)
                await self._handle_due_deadlines()
                await self._sync()
            if not self._finished and workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._inbox:
                    self._state.recent_incident_ids = self._state.recent_incident_ids[
                        -RECENT_IDS_KEPT:
                    ]
                    workflow.continue_as_new(
                        CaseInput(self._state.customer_ref, self._profile, carried=self._state)
                    )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    # Incidents --------------------------------------------------------------------

    async def _handle_incidents(self, batch: list[IncidentReport]) -> None:
        recorded: RecordedIncidents = await self._activity(
            "record_incidents",
            RecordIncidents(self._state.case_key, str(workflow.uuid4()), batch),
            result_type=RecordedIncidents,
        )
        created = set(recorded.created_ids)
        for incident in batch:
            self._state.recent_incident_ids.append(incident.incident_id)
            if incident.incident_id in created:  # else: a resend of one already on record
                await self._handle_incident(incident)

    async def _handle_incident(self, incident: IncidentReport) -> None:
        state = self._state
        state.incident_count += 1
        state.last_activity_at = self._now()
        if state.closed_at is not None:
            # Within the 12-month rule: the case reopens and its history counts.
            state.closed_at = None
            state.reopened += 1
            await self._event(f"reopened:{state.reopened}", "system", "system", "case_reopened")
        if state.protocol is not None:
            state.protocol.incidents_since_review += 1
        plan = plan_after_incident(
            LadderFacts(
                category=incident.category,
                channel=incident.channel,
                warned_by_officer=incident.warned_by_officer,
                immediate_action_requested=incident.immediate_action_requested,
                initial_warning_given=state.initial_warning_given,
                formal_warning_given=state.formal_warning_given,
                protocol_in_force=state.protocol is not None,
                direct_contact_ended=state.direct_contact_ended,
                abusive_notice_sent=state.abusive_correspondence_notice_sent,
                open_kinds=self._open_kinds(),
            )
        )
        summary = behaviour_summary(incident.category)
        if plan.risk_flag and not state.risk_flag:
            state.risk_flag = True
            await self._event(
                f"risk_flag:{incident.incident_id}",
                "system",
                "system",
                "risk_flag_set",
                details={"category": str(incident.category)},
            )
        if plan.initial_warning_recorded:
            state.initial_warning_given = True
            await self._event(
                f"initial_warning:{incident.incident_id}",
                incident.reported_by,
                Role.OFFICER,
                "initial_warning_issued",
                details={"method": plan.initial_warning_recorded},
            )
        if plan.end_direct_contact:
            state.direct_contact_ended = True
        for kind in plan.letters:
            context = {"behaviour_summary": summary}
            if kind == "direct_contact_ended":
                context["terms"] = "\n".join(arrangements(DIRECT_CONTACT_ENDED))
            if kind == "abusive_correspondence":
                state.abusive_correspondence_notice_sent = True
            await self._send_letter(kind, kind, context)
        await self._open_tasks(
            list(plan.tasks),
            {
                "behaviour_summary": summary,
                "category": str(incident.category),
                "violent": "yes" if is_violent(incident.category) else "no",
                "incident_id": incident.incident_id,
            },
        )

    # Decisions --------------------------------------------------------------------

    async def _apply_decision(self, task: Task, decision: Decision) -> None:
        state = self._state
        kind = TaskKind(task.kind)
        state.open_tasks.remove(task)
        state.decided_task_ids.append(task.task_id)
        state.last_activity_at = self._now()
        if decision.decided_by not in state.involved:
            state.involved.append(decision.decided_by)
        protocol_status: str | None = None
        decided_on = state.protocol
        summary = task.context.get("behaviour_summary", "")
        outcome = decision.outcome
        if kind is TaskKind.INITIAL_WARNING and outcome == "issued":
            state.initial_warning_given = True
            if decision.method == "letter":
                await self._send_letter(
                    "initial_warning", "initial_warning", {"behaviour_summary": summary}
                )
        elif kind is TaskKind.FORMAL_WARNING and outcome == "issued":
            state.formal_warning_given = True
            await self._send_letter(
                "formal_warning", "formal_warning", {"behaviour_summary": summary}
            )
        elif kind is TaskKind.BEHAVIOUR_ASSESSMENT and outcome == "unacceptable":
            await self._open_tasks([TaskKind.PROTOCOL_AUTHORISATION], task.context)
        elif (kind is TaskKind.PROTOCOL_AUTHORISATION and outcome == "authorised") or (
            kind is TaskKind.IMMEDIATE_ACTION and outcome == "approved"
        ):
            assert decision.terms is not None
            period = decision.review_after_seconds or self._profile.durations.review_period_default
            state.protocol = Protocol(
                protocol_id=str(workflow.uuid4()),
                terms=decision.terms,
                authorised_by=decision.decided_by,
                authorised_at=self._now(),
                review_after_seconds=period,
                next_review_at=self._now() + timedelta(seconds=period),
                immediate=kind is TaskKind.IMMEDIATE_ACTION,
            )
            state.support.reasonable_adjustments_recorded = True
            protocol_status = "in_force"
            decided_on = state.protocol
            await self._supersede(
                TaskKind.INITIAL_WARNING,
                TaskKind.FORMAL_WARNING,
                TaskKind.BEHAVIOUR_ASSESSMENT,
                TaskKind.PROTOCOL_AUTHORISATION,
                TaskKind.IMMEDIATE_ACTION,
                why="a protocol is now in force",
            )
            await self._send_letter(
                "protocol",
                f"protocol:{state.protocol.protocol_id}",
                self._protocol_context(summary),
            )
        elif kind is TaskKind.APPEAL_DECISION and state.protocol is not None:
            protocol = state.protocol
            decided_on = protocol
            protocol_status = "in_force"
            if outcome == "overturned":
                state.protocol = None
                protocol_status = "overturned"
                await self._supersede(TaskKind.PROTOCOL_REVIEW, why="the protocol was overturned")
            elif outcome == "varied":
                assert decision.terms is not None
                protocol.terms = decision.terms
            await self._send_letter(
                "appeal_outcome",
                f"appeal_outcome:{task.task_id}",
                {
                    "outcome": outcome,
                    "reason": decision.reason,
                    "terms": "\n".join(arrangements(protocol.terms)) if outcome == "varied" else "",
                    "review_date": _date(protocol.next_review_at),
                },
            )
        elif kind is TaskKind.PROTOCOL_REVIEW and state.protocol is not None:
            protocol = state.protocol
            decided_on = protocol
            protocol.reviews += 1
            protocol.incidents_since_review = 0
            if outcome == "end":
                state.protocol = None
                protocol_status = "ended"
                await self._supersede(TaskKind.APPEAL_DECISION, why="the protocol has ended")
                await self._send_letter(
                    "review_outcome",
                    f"review_outcome:{task.task_id}",
                    {
                        "outcome": "ended",
                        "reason": decision.reason,
                        "terms": "",
                        "next_review_date": "",
                    },
                )
                await self._record_decision(task, decision, decided_on, protocol_status)
                await self._close("protocol_ended", letter=False)
                return
            if outcome == "vary":
                assert decision.terms is not None
                protocol.terms = decision.terms
            if decision.review_after_seconds:
                protocol.review_after_seconds = decision.review_after_seconds
            protocol.next_review_at = self._now() + timedelta(seconds=protocol.review_after_seconds)
            protocol_status = "in_force"
            await self._send_letter(
                "review_outcome",
                f"review_outcome:{task.task_id}",
                {
                    "outcome": "continued" if outcome == "continue" else "varied",
                    "reason": decision.reason,
                    "terms": "\n".join(arrangements(protocol.terms)),
                    "next_review_date": _date(protocol.next_review_at),
                },
            )
        await self._record_decision(task, decision, decided_on, protocol_status)

    def _protocol_context(self, summary: str) -> dict[str, str]:
        protocol = self._state.protocol
        assert protocol is not None
        complaints = (
            "You can also ask for this decision to be considered under our complaints policy."
            if self._profile.complaints_route_on_appeal
            else ""
        )
        return {
            "behaviour_summary": summary or "the behaviour described in our earlier letters",
            "terms": "\n".join(arrangements(protocol.terms)),
            "review_date": _date(protocol.next_review_at),
            "appeal_route": (
                "If you disagree with this decision you can appeal. Write to us, or ask someone "
                "to write for you, saying why; a Director who was not involved in the decision "
                "will consider your appeal."
            ),
            "complaints_route": complaints,
        }

    async def _record_decision(
        self, task: Task, decision: Decision, protocol: Protocol | None, status: str | None
    ) -> None:
        await self._activity(
            "record_decision",
            RecordDecision(
                case_key=self._state.case_key,
                task_id=task.task_id,
                kind=task.kind,
                decision=decision,
                at=self._now(),
                protocol=protocol,
                protocol_status=status,
            ),
        )

    # Timers -----------------------------------------------------------------------

    def _deadlines(self) -> list[datetime]:
        state, durations = self._state, self._profile.durations
        moments = [t.due_at for t in state.open_tasks if t.escalated_to is None]
        if state.protocol is not None and not self._open_kinds() & {TaskKind.PROTOCOL_REVIEW}:
            moments.append(state.protocol.next_review_at)
        if state.closed_at is not None:
            moments.append(state.closed_at + timedelta(seconds=durations.closed_case_disregard))
        elif self._quiet_close_possible() and state.last_activity_at is not None:
            moments.append(state.last_activity_at + timedelta(seconds=durations.quiet_period))
        return moments

    def _seconds_to_next_deadline(self) -> float | None:
        deadlines = self._deadlines()
        if not deadlines:
            return None
        return max(0.0, (min(deadlines) - self._now()).total_seconds())

    def _quiet_close_possible(self) -> bool:
        return self._state.protocol is None and not self._state.open_tasks

    async def _handle_due_deadlines(self) -> None:
        now, state, durations = self._now(), self._state, self._profile.durations
        for task in list(state.open_tasks):
            if task.escalated_to is None and task.due_at <= now:
                task.escalated_to = escalation_role(Role(task.role))
                await self._activity(
                    "escalate_task",
                    EscalateTask(state.case_key, task.task_id, task.kind, task.escalated_to, now),
                )
        protocol = state.protocol
        if (
            protocol is not None
            and protocol.next_review_at <= now
            and TaskKind.PROTOCOL_REVIEW not in self._open_kinds()
        ):
            await self._open_tasks(
                [TaskKind.PROTOCOL_REVIEW],
                {"incidents_since_review": str(protocol.incidents_since_review)},
            )
        if state.closed_at is not None:
            if state.closed_at + timedelta(seconds=durations.closed_case_disregard) <= now:
                await self._event("disregarded", "system", "system", "case_set_aside")
                self._finished = True
        elif (
            self._quiet_close_possible()
            and state.last_activity_at is not None
            and state.last_activity_at + timedelta(seconds=durations.quiet_period) <= now
        ):
            await self._close("quiet_period", letter=True)

    async def _close(self, why: str, *, letter: bool) -> None:
        state = self._state
        state.closed_at = self._now()
        state.step_counter += 1
        if letter:
            await self._send_letter("case_closed", f"case_closed:{state.step_counter}", {})
        await self._event(
            f"closed:{state.step_counter}", "system", "system", "case_closed", reason=why
        )

    # Helpers ----------------------------------------------------------------------

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
        await self._activity(
            "update_case_record",
            UpdateCaseRecord(
                case_key=state.case_key,
                stage=stage,
                risk_flag=state.risk_flag,
                at=self._now(),
                next_review_at=state.protocol.next_review_at if state.protocol else None,
                closed_at=state.closed_at,
                direct_contact_ended=state.direct_contact_ended,
            ),
        )
        self._upsert_search_attributes()

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
