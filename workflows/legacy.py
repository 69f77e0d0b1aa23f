"""First-round decisions: how cases started before the second round of the policy apply
a decision. Kept only so their saved histories replay (see "Changing workflow code
safely" in the README); every run started since takes ``DecisionSteps._apply_plan``.
Deprecate with the ``policy-round-two`` patch, then delete.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.outcomes import letter_date
    from policy.protocol import ProtocolTerms, arrangements
    from policy.tasks import TaskKind
    from workflows.activity_api import CaseActivityApi
    from workflows.errors import ErrorType, case_error
    from workflows.messages import (
        CaseWrite,
        Decision,
        Protocol,
        ReaddressLetter,
        RecordDecision,
        Task,
    )

from workflows.steps import CaseSteps


class FirstRoundDecisions(CaseSteps):
    """The first round's decision application (unchanged), and the steps both rounds share."""

    async def _redeliver(self, task: Task, *, by_post: bool) -> None:
        """Staff corrected the details (or chose the post): the letter goes again, once."""
        state = self._state
        letter = task.context.get("letter_id", "")
        await self._act(
            CaseActivityApi.readdress_letter,
            ReaddressLetter(letter, state.customer_ref, by_post=by_post, at=self._now()),
        )
        attempt = state.letter_attempts.get(letter, 1) + 1
        state.letter_attempts[letter] = attempt
        await self._start_delivery(letter, task.context.get("letter_kind", ""), attempt=attempt)

    async def _record_decision(
        self, task: Task, decision: Decision, protocol: Protocol | None, status: str | None
    ) -> None:
        await self._write(
            CaseWrite(
                decision=RecordDecision(
                    case_key=self._state.case_key,
                    task_id=task.task_id,
                    kind=task.kind,
                    decision=decision,
                    at=self._now(),
                    protocol=protocol,
                    protocol_status=status,
                )
            )
        )

    async def _apply_first_round_decision(self, task: Task, decision: Decision) -> None:
        """The task is already off the open list; apply the decision as round one did."""
        state = self._state
        kind = TaskKind(task.kind)
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
            terms = _terms(decision)
            period = decision.review_after_seconds or self._profile.durations.review_period_default
            state.protocol = Protocol(
                protocol_id=str(workflow.uuid4()),
                terms=terms,
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
                protocol.terms = _terms(decision)
            await self._send_letter(
                "appeal_outcome",
                f"appeal_outcome:{task.task_id}",
                {
                    "outcome": outcome,
                    "customer_reason": decision.customer_reason or "",
                    "terms": "\n".join(arrangements(protocol.terms)) if outcome == "varied" else "",
                    "review_date": letter_date(protocol.next_review_at),
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
                        "customer_reason": decision.customer_reason or "",
                        "terms": "",
                        "next_review_date": "",
                    },
                )
                await self._record_decision(task, decision, decided_on, protocol_status)
                await self._close("protocol_ended", letter=False)
                return
            if outcome == "vary":
                protocol.terms = _terms(decision)
            if decision.review_after_seconds:
                protocol.review_after_seconds = decision.review_after_seconds
            protocol.next_review_at = self._now() + timedelta(seconds=protocol.review_after_seconds)
            protocol_status = "in_force"
            await self._send_letter(
                "review_outcome",
                f"review_outcome:{task.task_id}",
                {
                    "outcome": "continued" if outcome == "continue" else "varied",
                    "customer_reason": decision.customer_reason or "",
                    "terms": "\n".join(arrangements(protocol.terms)),
                    "next_review_date": letter_date(protocol.next_review_at),
                },
            )
        elif kind is TaskKind.LETTER_UNDELIVERABLE:
            await self._redeliver(task, by_post=outcome == "send_by_post")
        await self._record_decision(task, decision, decided_on, protocol_status)

    def _protocol_context(self, summary: str) -> dict[str, str]:
        protocol = self._state.protocol
        if protocol is None:
            raise case_error(ErrorType.CASE_CONFLICT, "no communication protocol is in force")
        complaints = (
            "You can also ask for this decision to be considered under our complaints policy."
            if self._profile.complaints_route_on_appeal
            else ""
        )
        return {
            "behaviour_summary": summary or "the behaviour described in our earlier letters",
            "terms": "\n".join(arrangements(protocol.terms)),
            "review_date": letter_date(protocol.next_review_at),
            "appeal_route": (
                "If you disagree with this decision you can appeal. Write to us, or ask someone "
                "to write for you, saying why; a Director who was not involved in the decision "
                "will consider your appeal."
            ),
            "complaints_route": complaints,
        }


def _terms(decision: Decision) -> ProtocolTerms:
    """The decision's terms (the validator requires them for this outcome)."""
    if decision.terms is None:
        raise case_error(
            ErrorType.INVALID_REQUEST, "terms: this outcome sets out the arrangements", "terms"
        )
    return decision.terms
