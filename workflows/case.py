"""The case workflow: one per customer, alive for as long as the case is.

Incidents arrive by signal; people decide tasks by update (validated first, so a bad
decision never reaches history); timers escalate overdue tasks, bring protocols to
review, close quiet cases and finally let a closed case go after the 12-month rule.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from policy.categories import is_violent
    from policy.decisions import (
        DecisionFacts,
        DecisionRejected,
        ProposedDecision,
        check_decision,
    )
    from policy.ladder import LadderFacts, behaviour_summary, plan_after_incident
    from policy.protocol import DIRECT_CONTACT_ENDED, arrangements
    from policy.tasks import Role, TaskKind, escalation_role
    from workflows.decision_steps import DecisionSteps
    from workflows.messages import (
        AppealRequest,
        CaseInput,
        CaseState,
        Decision,
        EscalateTask,
        IncidentReport,
        RecordedIncidents,
        RecordIncidents,
        StoreSupport,
        SupportRecord,
        Task,
    )

INCIDENT_BATCH = 100
RECENT_IDS_KEPT = 500


def _invalid(message: str) -> ApplicationError:
    """A request the caller must correct (the message starts with the field)."""
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


def _conflict(message: str) -> ApplicationError:
    """A request the case's current state does not allow."""
    return ApplicationError(message, type="CaseConflict", non_retryable=True)


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow(DecisionSteps):
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
                **{f.name: getattr(decision, f.name) for f in fields(ProposedDecision)}
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
