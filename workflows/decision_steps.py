"""What each decision does to a case: the pure plan (policy.outcomes), applied."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.categories import Category, Channel
    from policy.outcomes import (
        DIRECT_CONTACT_ENDED,
        DecisionPlan,
        IncidentFact,
        OutcomeFacts,
        RestrictionFacts,
        further_appeal_allowed,
        plan_after_decision,
    )
    from policy.tasks import TaskKind
    from workflows.messages import Decision, Restriction, Task

from workflows.legacy import FirstRoundDecisions


class DecisionSteps(FirstRoundDecisions):
    """Applying a validated decision (the validator already checked role, outcome, terms)."""

    async def _apply_decision(self, task: Task, decision: Decision) -> None:
        state = self._state
        state.open_tasks.remove(task)
        state.decided_task_ids.append(task.task_id)
        state.last_activity_at = self._now()
        if decision.decided_by.casefold() not in {p.casefold() for p in state.involved}:
            state.involved.append(decision.decided_by)
        if not self._in_round_two():
            await self._apply_first_round_decision(task, decision)
            return
        if TaskKind(task.kind) is TaskKind.LETTER_UNDELIVERABLE:
            await self._redeliver(task, by_post=decision.outcome == "send_by_post")
            await self._record_decision(task, decision, None, None)
            return
        plan = plan_after_decision(self._outcome_facts(task, decision))
        await self._apply_plan(task, decision, plan)

    def _outcome_facts(self, task: Task, decision: Decision) -> OutcomeFacts:
        state, profile = self._state, self._profile
        restriction = state.protocol
        return OutcomeFacts(
            kind=TaskKind(task.kind),
            outcome=decision.outcome,
            now=self._now(),
            customer_reason=(decision.customer_reason or "").strip(),
            behaviour_summary=task.context.get("behaviour_summary", "")
            or "the behaviour described in our earlier letters",
            incidents=[
                IncidentFact(n.occurred_at, Channel(n.channel), Category(n.category))
                for n in state.incident_notes
            ],
            restriction=RestrictionFacts(
                restriction.kind,
                restriction.terms,
                restriction.review_after_seconds,
                restriction.next_review_at,
            )
            if restriction
            else None,
            default_review_seconds=profile.durations.review_period_default,
            appeal_within_days=profile.appeal_within_days,
            complaints_route=profile.complaints_route_on_appeal,
            method=decision.method,
            terms=decision.terms,
            review_after_seconds=decision.review_after_seconds,
            reasonable_adjustments=decision.reasonable_adjustments,
            risk_flag_review_seconds=profile.durations.risk_flag_review,
            appeal_against=task.context.get("against", "restriction"),
            warnings_appealable="initial_warning" in profile.appealable,
            appeal_open=restriction is None
            or TaskKind(task.kind) is TaskKind.APPEAL_DECISION
            or further_appeal_allowed(restriction.appeals, profile.appeals_per_restriction),
        )

    async def _apply_plan(self, task: Task, decision: Decision, plan: DecisionPlan) -> None:
        """Carry out a decision's plan: restriction, tasks, letters, records, closure."""
        state, now = self._state, self._now()
        decided_on = state.protocol
        if plan.initial_warning_given:
            state.initial_warning_given = True
        if plan.formal_warning_given:
            state.formal_warning_given = True
            state.incidents_since_formal_warning = 0
        if plan.withdraw_warning == "initial_warning":
            state.initial_warning_given = state.formal_warning_given = False
        if plan.withdraw_warning == "formal_warning":
            state.formal_warning_given = False
        if plan.risk_flag is not None:
            state.risk_flag = plan.risk_flag
            seconds = plan.risk_flag_review_seconds
            state.risk_flag_review_at = now + timedelta(seconds=seconds) if seconds else None
        if plan.impose is not None:
            new = plan.impose
            state.protocol = Restriction(
                protocol_id=str(workflow.uuid4()),
                terms=new.terms,
                authorised_by=decision.decided_by,
                authorised_at=now,
                review_after_seconds=new.review_after_seconds,
                next_review_at=now + timedelta(seconds=new.review_after_seconds),
                immediate=new.kind == "immediate_action",
                kind=new.kind,
                customer_reason=new.customer_reason,
                reasonable_adjustments=new.reasonable_adjustments,
            )
            state.direct_contact_ended = new.kind == DIRECT_CONTACT_ENDED
            state.support.reasonable_adjustments_recorded = True
            decided_on = state.protocol
        restriction = state.protocol
        if restriction is not None and plan.impose is None:
            if plan.reviewed:
                restriction.reviews += 1
                restriction.incidents_since_review = 0
            if plan.appealed:
                restriction.appeals += 1
            if plan.vary_terms is not None:
                restriction.terms = plan.vary_terms
            if plan.restart_review_seconds:
                restriction.review_after_seconds = plan.restart_review_seconds
                restriction.next_review_at = now + timedelta(seconds=plan.restart_review_seconds)
        if plan.lift is not None:
            state.protocol = None
            state.direct_contact_ended = False
        if plan.supersede:
            await self._supersede(*plan.supersede, why=plan.supersede_why)
        if plan.end_interim_measures:
            state.interim_measures = False  # the Director's decision replaces them
        await self._open_tasks(list(plan.open_tasks), task.context)
        step = decided_on.protocol_id if plan.impose and decided_on else task.task_id
        for letter in plan.letters:
            await self._send_letter(letter.kind, f"{letter.key}:{step}", letter.context)
        await self._record_decision(task, decision, decided_on, plan.restriction_status)
        if plan.close is not None and not state.risk_flag:
            # A flag in force keeps the case open until its review removes it.
            await self._close(plan.close, letter=False)
