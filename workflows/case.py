"""The case workflow: one per customer, alive for as long as the case is.

Incidents arrive by signal; people decide tasks by update (validated first, so a bad
decision never reaches history); timers escalate overdue tasks (again and again, up
the chain, until someone decides), bring protocols to review, close quiet cases and
finally let a closed case go after the 12-month rule. Each run stays small: the case
continues-as-new on its own bound, carrying incidents not yet recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.api.common.v1 import Payload
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
    from policy.outcomes import further_appeal_allowed, warning_appeal_words
    from policy.protocol import DIRECT_CONTACT_ENDED, INTERIM_MEASURES, arrangements
    from policy.tasks import URGENT_KINDS, Role, TaskKind, escalation_chain, escalation_role
    from workflows.activity_api import CaseActivityApi
    from workflows.errors import ErrorType, case_error
    from workflows.messages import (
        AppealRequest,
        CaseInput,
        CaseState,
        Decision,
        EscalateTask,
        IncidentNote,
        IncidentReport,
        LetterProblem,
        RecordedIncidents,
        RecordIncidents,
        Restriction,
        RiskFlagReviewRequest,
        StoreSupport,
        SupportRecord,
        Task,
    )

from workflows.decision_steps import DecisionSteps
from workflows.steps import OPEN_WITH_FIRST_BATCH

# A run continues-as-new at whichever bound it meets first (the server's own suggestion
# comes at 4 Ki events by default): every run of every case stays small to replay.
MAX_RUN_EVENTS = 2_000
MAX_RUN_BYTES = 4 * 1024 * 1024
# ...triggered early enough that the batch in hand and the signals still arriving while
# handlers drain fit in the headroom.
CONTINUE_AFTER_EVENTS = 1_500
CONTINUE_AFTER_BYTES = 3 * 1024 * 1024
# Incidents recorded per activity: at most this many, and at most this many characters
# of description. Intake keeps descriptions in the records, so its signals carry none;
# a description signalled directly costs at most 12 bytes a character in JSON (an
# escaped surrogate pair), so 40,000 characters stay under 0.5 MB, a quarter of
# Temporal's 2 MB payload limit, and a batch always fits four of the largest.
INCIDENT_BATCH = 200
BATCH_DESCRIPTION_CHARS = 40_000
MAX_DESCRIPTION_CHARS = 10_000
# More incidents (or description characters) than this waiting: record another batch
# before continuing-as-new, so the next run's input stays small.
MAX_CARRIED = 200
MAX_CARRIED_DESCRIPTION_CHARS = BATCH_DESCRIPTION_CHARS
RECENT_IDS_KEPT = 500
# The latest incidents a letter may name (dates, channels, kinds of behaviour).
INCIDENT_NOTES_KEPT = 20
# After a step failed past its budget, the loop releases the case and tries again.
RETRY_FAILED_STEP_AFTER = timedelta(minutes=1)


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow(DecisionSteps):
    """A customer's Unacceptable Customer Behaviour case, from first incident to closure."""

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._profile = input.profile
        self._state = input.carried or CaseState(customer_ref=input.customer_ref)
        # Signals are kept as they arrived and decoded a batch at a time, so a flood of
        # them costs each workflow task almost nothing (decoding is the dear part).
        self._arrivals: list[Payload] = []
        self._inbox: list[IncidentReport] = list(input.pending)  # decoded, not recorded
        self._recent = set(self._state.recent_incident_ids)
        self._recent.update(i.incident_id for i in self._inbox)
        self._batch: list[IncidentReport] = []  # recorded, not yet acted on
        self._pending = []  # records writes of a one-step pass not yet on record
        self._deliveries = {}  # letters this run is delivering
        self._patch_answers = {}  # each patch's answer, once asked
        self._lock = asyncio.Lock()
        self._finished = False
        self._deadlines_changed = False

    # Signals, updates, queries ----------------------------------------------------

    @workflow.signal(name="report_incident")
    def report_incident(self, raw: RawValue) -> None:
        """Queue an incident as it arrived; it is decoded (and checked) when batched."""
        self._arrivals.append(raw.payload)

    def _decode_arrivals(self, wanted: int) -> None:
        """Decode up to ``wanted`` arrivals into the inbox; bad payloads are counted."""
        taken, self._arrivals = self._arrivals[:wanted], self._arrivals[wanted:]
        converter = workflow.payload_converter()
        for payload in taken:
            try:
                incident = converter.from_payload(payload, IncidentReport)
            except Exception:
                # Never log the payload: it may hold allegations about a person.
                self._state.malformed_signals += 1
                workflow.logger.warning("report_incident signal with a malformed payload dropped")
                continue
            if len(incident.description) > MAX_DESCRIPTION_CHARS:
                self._state.malformed_signals += 1
                workflow.logger.warning("report_incident signal with an oversized description")
                continue
            if incident.incident_id in self._recent:
                continue
            self._recent.add(incident.incident_id)
            self._inbox.append(incident)

    @workflow.signal(name="letter_undeliverable")
    def letter_undeliverable(self, problem: LetterProblem) -> None:
        """A letter's delivery failed for good: the main loop opens a task for staff."""
        self._state.letter_problems.append(problem)

    @workflow.update
    async def decide(self, decision: Decision) -> CaseState:
        """Apply a person's decision on an open task; answers with the new case state."""
        await self._case_opened()
        async with self._lock:
            task = self._open_task(decision.task_id)
            if task is None:  # decided or superseded while this update waited for the lock
                raise case_error(
                    ErrorType.UNKNOWN_TASK, f"no open task {decision.task_id} on this case"
                )
            await self._in_one_write(lambda: self._apply_decision(task, decision))
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    @decide.validator
    def validate_decision(self, decision: Decision) -> None:
        """Reject a wrong, stale or malformed decision before it reaches history."""
        if decision.task_id in self._state.decided_task_ids:
            raise case_error(
                ErrorType.TASK_ALREADY_DECIDED, f"task {decision.task_id} has already been decided"
            )
        task = self._open_task(decision.task_id)
        if task is None:
            raise case_error(
                ErrorType.UNKNOWN_TASK, f"no open task {decision.task_id} on this case"
            )
        allowed = escalation_chain(
            Role(task.role), Role(task.escalated_to) if task.escalated_to else None
        )
        try:
            self._check(task, decision, {str(r) for r in allowed})
        except DecisionRejected as rejected:
            raise case_error(ErrorType.DECISION_REJECTED, str(rejected), rejected.field) from None

    def _check(self, task: Task, decision: Decision, allowed: set[str]) -> None:
        check_decision(
            DecisionFacts(
                kind=TaskKind(task.kind),
                allowed_roles=frozenset(allowed),
                durations=self._profile.durations,
                involved=frozenset(self._state.involved),
                violent=task.context.get("violent") == "yes",
                appeal_against=task.context.get("against", "restriction"),
                protocol_must_include=tuple(self._profile.protocol_must_include),
                restriction=self._state.protocol.kind if self._state.protocol else None,
                referral_consent=self._state.support.referral_consent,
            ),
            ProposedDecision(
                **{f.name: getattr(decision, f.name) for f in fields(ProposedDecision)}
            ),
        )

    @workflow.update
    async def log_appeal(self, appeal: AppealRequest) -> CaseState:
        """A customer appeals the restriction in force: a Director not involved decides
        (HS 6.5.5; Magna: any decision except legal action)."""
        return await self._change_in_one_write(lambda: self._log_appeal(appeal))

    async def _change_in_one_write(self, change: Callable[[], Awaitable[None]]) -> CaseState:
        """A handler's change once the case is on record, under its lock, its records
        writes in one activity; answers with the new case state."""
        await self._case_opened()
        async with self._lock:
            await self._in_one_write(change)
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    async def _log_appeal(self, appeal: AppealRequest) -> None:
        await self._event(
            f"appeal:{appeal.appeal_id}",
            appeal.logged_by,
            appeal.role,
            "appeal_logged",
            reason=appeal.grounds,
        )
        await self._open_tasks(
            [TaskKind.APPEAL_DECISION],
            {"appeal_id": appeal.appeal_id, "against": appeal.against},
        )

    @log_appeal.validator
    def validate_appeal(self, appeal: AppealRequest) -> None:
        """Only a restriction in force can be appealed (HS: once); legal action has its own
        route."""
        if not appeal.grounds.strip() or not appeal.logged_by.strip():
            raise case_error(
                ErrorType.INVALID_REQUEST,
                "grounds: an appeal records its grounds and who logged it",
                "grounds",
            )
        against = appeal.against
        if against not in self._profile.appealable:
            raise case_error(
                ErrorType.INVALID_REQUEST,
                f"against: the {self._profile.title} gives an appeal against "
                f"{' or '.join(self._profile.appealable)}, not {against!r}",
                "against",
            )
        if any(t.kind == TaskKind.APPEAL_DECISION for t in self._state.open_tasks):
            raise case_error(
                ErrorType.CASE_CONFLICT, "an appeal is already waiting for a Director's decision"
            )
        if against != "restriction":
            given = {
                "initial_warning": self._state.initial_warning_given,
                "formal_warning": self._state.formal_warning_given,
                "risk_flag": self._state.risk_flag,
            }
            if not given.get(against, False):
                raise case_error(
                    ErrorType.CASE_CONFLICT, f"there is no {against.replace('_', ' ')} to appeal"
                )
            return
        restriction = self._state.protocol
        if restriction is None:
            raise case_error(
                ErrorType.CASE_CONFLICT,
                "no restriction is in force: there is nothing to appeal "
                "(tenancy action has its own legal appeal route)",
            )
        limit = self._profile.appeals_per_restriction
        if not further_appeal_allowed(restriction.appeals, limit):
            raise case_error(
                ErrorType.CASE_CONFLICT,
                f"this restriction has had its {limit} further assessment by a Director "
                f"({self._profile.title}); the customer may still use the complaints policy",
            )

    @workflow.update
    async def request_risk_flag_review(self, request: RiskFlagReviewRequest) -> CaseState:
        """Staff ask for the risk flag to be decided now: a manager's task opens."""
        return await self._change_in_one_write(lambda: self._request_flag_review(request))

    async def _request_flag_review(self, request: RiskFlagReviewRequest) -> None:
        self._state.step_counter += 1
        await self._event(
            f"risk_flag_review_requested:{self._state.step_counter}",
            request.requested_by,
            request.role,
            "risk_flag_review_requested",
            reason=request.reason,
        )
        await self._open_tasks([TaskKind.RISK_FLAG_DECISION], {"review": "yes"})

    @request_risk_flag_review.validator
    def validate_risk_flag_review(self, request: RiskFlagReviewRequest) -> None:
        """A request says who and why; one decision on the flag is open at a time."""
        if not request.reason.strip() or not request.requested_by.strip():
            raise case_error(
                ErrorType.INVALID_REQUEST, "reason: say why the flag should be decided", "reason"
            )
        if any(t.kind == TaskKind.RISK_FLAG_DECISION for t in self._state.open_tasks):
            raise case_error(
                ErrorType.CASE_CONFLICT, "a decision on the risk flag is already waiting"
            )

    @workflow.update
    async def record_support(self, support: SupportRecord) -> CaseState:
        """Record vulnerabilities, an advocate and reasonable adjustments."""
        await self._case_opened()
        async with self._lock:
            await self._act(
                CaseActivityApi.record_support,
                StoreSupport(self._state.case_key, self._state.customer_ref, support, self._now()),
            )
            flags = self._state.support
            flags.contact_via_advocate = support.contact_via_advocate
            flags.copy_to_customer = support.copy_to_customer
            flags.reasonable_adjustments_recorded |= bool(support.reasonable_adjustments)
            flags.referral_consent |= support.referral_consent
            flags.mediation_offered |= support.mediation_offered
            await self._sync()
            self._deadlines_changed = True  # the main loop recomputes its next timer
        return self._state

    @record_support.validator
    def validate_support(self, support: SupportRecord) -> None:
        """Support details need an author; Magna-only measures need the Magna profile."""

        def invalid(field: str, message: str) -> ApplicationError:
            return case_error(ErrorType.INVALID_REQUEST, f"{field}: {message}", field)

        if not support.recorded_by.strip():
            raise invalid("recorded_by", "say who recorded the support needs")
        if support.contact_via_advocate and not (support.advocate_email or support.advocate_name):
            raise invalid("advocate_email", "contact via an advocate needs the advocate's details")
        if support.referral_consent and not self._profile.referral_with_consent:
            raise invalid(
                "referral_consent", f"the {self._profile.name} policy has no referral with consent"
            )
        if support.mediation_offered and not self._profile.mediation:
            raise invalid("mediation_offered", f"the {self._profile.name} policy has no mediation")

    @workflow.query(name="state")
    def state(self) -> CaseState:
        """The case's compact state: stage, open tasks, protocol, flags, letters. A task
        shows once it is on record (a one-step pass writes its tasks at its end), so that
        staff can complete every task they see."""
        unwritten = {w.task.task.task_id for w in self._pending if w.task is not None}
        if not unwritten:
            return self._state
        on_record = [t for t in self._state.open_tasks if t.task_id not in unwritten]
        return replace(self._state, open_tasks=on_record)

    async def _case_opened(self) -> None:
        """Handlers wait for the case's records row (the first step of a new case)."""
        await workflow.wait_condition(lambda: bool(self._state.case_key))

    # Main loop --------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> CaseState:
        """Act on incidents and timers until the closed case outlives the 12-month rule."""
        if self._in_round_two():
            self._carry_into_round_two()
            self._deadlines_changed = True  # a first pass mirrors the state at once
        while not self._state.case_key:
            try:
                await self._open_with_first_batch()
            except ApplicationError:
                await workflow.sleep(RETRY_FAILED_STEP_AFTER)
        while not self._finished:
            if self._continue_as_new_due():
                await self._continue_as_new()
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(
                            self._arrivals
                            or self._inbox
                            or self._batch
                            or self._state.letter_problems
                            or self._pending
                        )
                        or self._deadlines_changed
                        or self._continue_as_new_due()
                    ),
                    timeout=self._seconds_to_next_deadline(),
                )
            except TimeoutError:
                pass
            try:
                async with self._lock:
                    self._deadlines_changed = False
                    # One-step path: the pass's records writes go in one activity (_sync).
                    self._buffering = self._in_one_step()
                    try:
                        await self._handle_next_batch()
                        await self._handle_letter_problems()
                        await self._handle_due_deadlines()
                        await self._sync()
                    finally:
                        self._buffering = False
            except ApplicationError:
                # A step failed past its budget (records down for long, or refused):
                # nothing is lost — the batch and the deadlines wait — and no lock is held.
                await workflow.sleep(RETRY_FAILED_STEP_AFTER)
        await self._before_run_ends()
        return self._state

    def _carry_into_round_two(self) -> None:
        """A first-round case continuing into the second: direct contact it ended becomes a
        restriction with a review date, and its risk flag gets one (nothing in force is
        ever left without a review date)."""
        state = self._state
        if state.risk_flag and state.risk_flag_review_at is None:
            review = timedelta(seconds=self._profile.durations.risk_flag_review)
            state.risk_flag_review_at = self._now() + review
        if state.direct_contact_ended and state.protocol is None:
            period = self._profile.durations.review_period_default
            state.protocol = Restriction(
                protocol_id=str(workflow.uuid4()),
                terms=DIRECT_CONTACT_ENDED,
                authorised_by="system",
                authorised_at=self._now(),
                review_after_seconds=period,
                next_review_at=self._now() + timedelta(seconds=period),
                kind="direct_contact_ended",
            )

    def _continue_as_new_due(self) -> bool:
        if self._batch or self._pending or len(self._inbox) + len(self._arrivals) > MAX_CARRIED:
            return False  # finish acting on what is recorded; keep the next input small
        info = workflow.info()
        return (
            info.get_current_history_length() >= CONTINUE_AFTER_EVENTS
            or info.get_current_history_size() >= CONTINUE_AFTER_BYTES
            or info.is_continue_as_new_suggested()
        )

    async def _before_run_ends(self) -> None:
        """Drain handlers and hand over the deliveries still in flight (a handler may start
        one while the run waits for another)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self._deliveries:
            await self._hand_over_deliveries()
            await workflow.wait_condition(workflow.all_handlers_finished)

    async def _continue_as_new(self) -> None:
        """Drain handlers, then start the next run with the state and unrecorded incidents."""
        await self._before_run_ends()
        self._decode_arrivals(len(self._arrivals))
        if sum(len(i.description) for i in self._inbox) > MAX_CARRIED_DESCRIPTION_CHARS:
            return  # large descriptions signalled directly: record them first
        state = self._state
        state.recent_incident_ids = state.recent_incident_ids[-RECENT_IDS_KEPT:]
        state.runs += 1
        workflow.continue_as_new(
            CaseInput(state.customer_ref, self._profile, carried=state, pending=self._inbox)
        )

    # Incidents --------------------------------------------------------------------

    async def _open_with_first_batch(self) -> None:
        """Open the case's records row and record the incidents that started it, in one
        step. Runs whose history predates the patch replay the two steps."""
        batch = self._take_batch() if self._patched(OPEN_WITH_FIRST_BATCH) else []
        try:
            created = await self._open_case(batch)
        except ApplicationError:
            self._inbox[:0] = batch  # try the same batch again later
            raise
        if batch:
            self._recorded(batch, created)

    def _take_batch(self) -> list[IncidentReport]:
        """The next incidents to record: bounded by count and by description size."""
        if len(self._inbox) < INCIDENT_BATCH:
            self._decode_arrivals(INCIDENT_BATCH - len(self._inbox))
        taken, chars = 0, 0
        for incident in self._inbox[:INCIDENT_BATCH]:
            chars += len(incident.description)
            if taken and chars > BATCH_DESCRIPTION_CHARS:
                break
            taken += 1
        batch, self._inbox = self._inbox[:taken], self._inbox[taken:]
        return batch

    async def _handle_next_batch(self) -> None:
        """Record the next batch (once, keyed on its first incident), then act on each."""
        if not self._batch and (self._inbox or self._arrivals):
            batch = self._take_batch()
            if not batch:
                return  # every arrival was malformed or already known
            try:
                recorded: RecordedIncidents = await self._act(
                    CaseActivityApi.record_incidents,
                    RecordIncidents(self._state.case_key, batch[0].incident_id, batch),
                )
            except ApplicationError:
                self._inbox[:0] = batch  # try the same batch again later
                raise
            self._recorded(batch, recorded.created_ids)
        while self._batch:
            await self._handle_incident(self._batch[0])
            self._batch.pop(0)

    def _recorded(self, batch: list[IncidentReport], created_ids: list[str]) -> None:
        """The batch is on record: act on the incidents it wrote (a resend of one already
        on record is not acted on twice)."""
        created = set(created_ids)
        self._state.recent_incident_ids.extend(i.incident_id for i in batch)
        self._batch = [i for i in batch if i.incident_id in created]

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
        state.incident_notes = [
            *state.incident_notes[-(INCIDENT_NOTES_KEPT - 1) :],
            IncidentNote(
                incident.incident_id,
                incident.occurred_at,
                str(incident.channel),
                str(incident.category),
            ),
        ]
        if state.formal_warning_given:
            state.incidents_since_formal_warning += 1
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
                round_two=self._in_round_two(),
                risk_flag=state.risk_flag,
                incidents_since_formal_warning=state.incidents_since_formal_warning,
                incidents_before_assessment=self._profile.incidents_before_assessment,
                tenancy=incident.tenancy,
                colleague_affected=bool(incident.affected_colleague),
            )
        )
        summary = behaviour_summary(incident.category)
        if plan.risk_flag and not state.risk_flag:
            state.risk_flag = True
            if self._in_round_two():
                review = timedelta(seconds=self._profile.durations.risk_flag_review)
                state.risk_flag_review_at = self._now() + review
            await self._event(
                f"risk_flag:{incident.incident_id}",
                "system",
                "system",
                "risk_flag_set",
                details={"category": str(incident.category)},
            )
        if plan.initial_warning_recorded:
            state.initial_warning_given = True
            by_notice = incident.warned_by_officer is None  # the HS 6.3.3 notice warned them
            await self._event(
                f"initial_warning:{incident.incident_id}",
                "system" if by_notice else incident.submitted_by or incident.reported_by,
                "system" if by_notice else incident.submitted_role or Role.OFFICER,
                "initial_warning_issued",
                details={
                    "method": plan.initial_warning_recorded,
                    "reported_by": incident.reported_by,
                },
            )
            if self._in_round_two():
                # An initial-warning task opened by an earlier incident is moot now.
                await self._supersede(
                    TaskKind.INITIAL_WARNING, why="the initial warning has been given"
                )
        if plan.interim_measures and not state.interim_measures:
            state.interim_measures = True
            await self._event(
                f"interim_measures:{incident.incident_id}",
                "system",
                "system",
                "interim_measures_applied",
                details={"measures": "; ".join(INTERIM_MEASURES)},
            )
        if plan.end_direct_contact:
            state.direct_contact_ended = True
        for kind in plan.letters:
            context = {
                "behaviour_summary": summary,
                "given": incident.warned_by_officer or "",
                **self._warning_appeal_words(),
            }
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
                **(
                    {"affected_colleague": incident.affected_colleague}
                    if incident.affected_colleague
                    else {}
                ),
            },
        )

    def _warning_appeal_words(self) -> dict[str, str]:
        """How a letter that warns the customer sets out the appeal (Magna), or not (HS)."""
        profile = self._profile
        return warning_appeal_words(profile.appealable, self._now(), profile.appeal_within_days)

    # Letters that could not be delivered ------------------------------------------

    async def _handle_letter_problems(self) -> None:
        """Each undeliverable letter becomes a task for staff saying what to fix."""
        state = self._state
        while state.letter_problems:
            problem = state.letter_problems[0]
            attempt = state.letter_attempts.get(problem.letter_id, 1)
            already = any(
                t.kind == TaskKind.LETTER_UNDELIVERABLE
                and t.context.get("letter_id") == problem.letter_id
                for t in state.open_tasks
            )
            if not already:
                await self._event(
                    f"letter_undeliverable:{problem.letter_id}:{attempt}",
                    "system",
                    "system",
                    "letter_undeliverable",
                    reason=problem.explanation,
                    details={"letter_id": problem.letter_id, "problem": problem.problem},
                )
                await self._open_tasks(
                    [TaskKind.LETTER_UNDELIVERABLE],
                    {
                        "letter_id": problem.letter_id,
                        "letter_kind": problem.kind,
                        "problem": problem.problem,
                        "explanation": problem.explanation,
                        "attempt": str(attempt),
                    },
                    one_per_kind=False,
                )
            state.letter_problems.pop(0)

    # Timers -----------------------------------------------------------------------

    def _next_escalation_at(self, task: Task) -> datetime:
        """Due, then once more every task period until someone decides it."""
        durations = self._profile.durations
        urgent = TaskKind(task.kind) in URGENT_KINDS
        period = timedelta(seconds=durations.urgent_task_due if urgent else durations.task_due)
        return task.due_at + period * task.escalations

    def _deadlines(self) -> list[datetime]:
        state, durations = self._state, self._profile.durations
        moments = [self._next_escalation_at(t) for t in state.open_tasks]
        if state.protocol is not None and not self._open_kinds() & {TaskKind.PROTOCOL_REVIEW}:
            moments.append(state.protocol.next_review_at)
        flag_review = self._risk_flag_review_due_at()
        if flag_review is not None:
            moments.append(flag_review)
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

    def _risk_flag_review_due_at(self) -> datetime | None:
        """When the risk flag in force comes up for review (None: no review to open)."""
        state = self._state
        if not state.risk_flag or TaskKind.RISK_FLAG_DECISION in self._open_kinds():
            return None
        return state.risk_flag_review_at

    def _quiet_close_possible(self) -> bool:
        state = self._state
        if self._in_round_two() and state.risk_flag:
            return False  # a flag in force is reviewed (and removed) before the case closes
        return state.protocol is None and not state.open_tasks

    async def _handle_due_deadlines(self) -> None:
        now, state, durations = self._now(), self._state, self._profile.durations
        for task in list(state.open_tasks):
            if self._next_escalation_at(task) <= now:
                task.escalations += 1
                task.escalated_to = escalation_role(Role(task.escalated_to or task.role))
                await self._act(
                    CaseActivityApi.escalate_task,
                    EscalateTask(
                        state.case_key,
                        task.task_id,
                        task.kind,
                        task.escalated_to,
                        now,
                        level=task.escalations,
                    ),
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
            # A change to what the workflow does: patched, so cases whose history predates
            # it replay the old path (no event). See "Changing workflow code safely".
            if workflow.patched("review-due-audit-event"):
                await self._event(
                    f"review_due:{protocol.protocol_id}:{protocol.reviews}",
                    "system",
                    "system",
                    "protocol_review_due",
                    details={"next_review_at": protocol.next_review_at.isoformat()},
                )
        flag_review = self._risk_flag_review_due_at()
        if flag_review is not None and flag_review <= now:
            await self._open_tasks([TaskKind.RISK_FLAG_DECISION], {"review": "yes"})
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
