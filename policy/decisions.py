"""Whether a person's decision on a task may be applied: pure checks, clear reasons."""

from __future__ import annotations

from dataclasses import dataclass

from policy.ladder import review_period_problem
from policy.profiles import Durations
from policy.protocol import AssessmentFactors, ProtocolTerms, terms_problems
from policy.tasks import OUTCOMES, TaskKind

WARNING_METHODS = frozenset({"letter", "in_person", "phone"})
TERMS_OUTCOMES = {
    TaskKind.PROTOCOL_AUTHORISATION: "authorised",
    TaskKind.IMMEDIATE_ACTION: "approved",
    TaskKind.APPEAL_DECISION: "varied",
    TaskKind.PROTOCOL_REVIEW: "vary",
}


class DecisionRejected(ValueError):
    """The decision cannot be applied; the message says why."""


@dataclass(frozen=True)
class DecisionFacts:
    """What the checks need to know of the task and the case."""

    kind: TaskKind
    allowed_roles: frozenset[str]
    durations: Durations
    involved: frozenset[str]
    violent: bool


@dataclass(frozen=True)
class ProposedDecision:
    """The parts of a decision the checks look at."""

    outcome: str
    decided_by: str
    role: str
    reason: str
    method: str | None
    terms: ProtocolTerms | None
    review_after_seconds: int | None
    reference: str | None
    factors: AssessmentFactors | None
    reasonable_adjustments: str | None


def check_decision(facts: DecisionFacts, decision: ProposedDecision) -> None:
    """Raise DecisionRejected with the reason when ``decision`` may not be applied."""
    kind = facts.kind
    if decision.role not in facts.allowed_roles:
        raise DecisionRejected(
            f"a {kind} task is decided by {sorted(facts.allowed_roles)}, not {decision.role!r}"
        )
    if decision.outcome not in OUTCOMES[kind]:
        raise DecisionRejected(
            f"outcome {decision.outcome!r} is not one of {sorted(OUTCOMES[kind])} for {kind}"
        )
    if not decision.decided_by.strip():
        raise DecisionRejected("decided_by: every decision records who took it")
    if not decision.reason.strip():
        raise DecisionRejected("reason: every decision records why it was taken")
    if kind is TaskKind.INITIAL_WARNING and decision.outcome == "issued":
        if decision.method not in WARNING_METHODS:
            raise DecisionRejected(
                f"method: an issued warning says how, one of {sorted(WARNING_METHODS)}"
            )
    if kind is TaskKind.BEHAVIOUR_ASSESSMENT and decision.factors is None:
        raise DecisionRejected(
            "factors: the assessment records instances, contact levels, language and the "
            "customer's needs and circumstances (HS 6.5.3)"
        )
    if TERMS_OUTCOMES.get(kind) == decision.outcome:
        _check_terms(decision)
    if kind in (TaskKind.PROTOCOL_AUTHORISATION, TaskKind.IMMEDIATE_ACTION) and (
        decision.outcome in ("authorised", "approved")
    ):
        _check_review_period(decision.review_after_seconds, facts.durations, required=False)
    if kind is TaskKind.PROTOCOL_REVIEW and decision.outcome in ("continue", "vary"):
        _check_review_period(decision.review_after_seconds, facts.durations, required=False)
    if kind is TaskKind.APPEAL_DECISION and decision.decided_by in facts.involved:
        raise DecisionRejected(
            "decided_by: an appeal is decided by a Director not involved in the original decision"
        )
    if kind is TaskKind.POLICE_REPORT:
        if decision.outcome == "reported" and not (decision.reference or "").strip():
            raise DecisionRejected("reference: a police report records the police reference")
        if decision.outcome == "not_reported" and facts.violent:
            raise DecisionRejected(
                "outcome: violence used or threatened is always reported to the police (HS 6.3.1)"
            )


def _check_terms(decision: ProposedDecision) -> None:
    if decision.terms is None:
        raise DecisionRejected(f"terms: outcome {decision.outcome!r} sets out the arrangements")
    problems = terms_problems(decision.terms)
    if problems:
        raise DecisionRejected("terms: " + "; ".join(problems))
    if not (decision.reasonable_adjustments or "").strip():
        raise DecisionRejected(
            "reasonable_adjustments: record the adjustments made (or why none are needed) "
            "before any restriction"
        )


def _check_review_period(seconds: int | None, durations: Durations, *, required: bool) -> None:
    if seconds is None:
        if required:
            raise DecisionRejected("review_after_seconds: set when the protocol is reviewed")
        return
    problem = review_period_problem(
        seconds, durations.review_period_min, durations.review_period_max
    )
    if problem:
        raise DecisionRejected(f"review_after_seconds: {problem}")
