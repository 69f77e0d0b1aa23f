"""Whether a person's decision on a task may be applied: pure checks, clear reasons."""

from __future__ import annotations

from dataclasses import dataclass

from policy.ladder import review_period_problem
from policy.outcomes import customer_is_told
from policy.profiles import Durations
from policy.protocol import AssessmentFactors, ProtocolTerms, terms_problems
from policy.tasks import OUTCOMES, TaskKind

WARNING_METHODS = frozenset({"letter", "in_person", "phone"})
TERMS_OUTCOMES = {
    TaskKind.PROTOCOL_AUTHORISATION: "authorised",
    TaskKind.IMMEDIATE_ACTION: "approved",
    TaskKind.APPEAL_DECISION: "varied",
    TaskKind.PROTOCOL_REVIEW: "vary",
    TaskKind.END_DIRECT_CONTACT: "ended",
}
# Outcomes that need a field besides ``reason`` (and ``customer_reason`` when the customer
# is told, ``policy.outcomes.customer_is_told``): the checks below and the API's
# documentation of each task kind (``decision_fields``) both read these.
METHOD_OUTCOMES = frozenset({(TaskKind.INITIAL_WARNING, "issued")})
FACTORS_KINDS = frozenset({TaskKind.BEHAVIOUR_ASSESSMENT})
REFERENCE_OUTCOMES = frozenset({(TaskKind.POLICE_REPORT, "reported")})
# Outcomes that may set when the restriction is next reviewed (within the profile's bounds).
REVIEW_PERIOD_OUTCOMES = frozenset(
    {
        (TaskKind.PROTOCOL_AUTHORISATION, "authorised"),
        (TaskKind.IMMEDIATE_ACTION, "approved"),
        (TaskKind.END_DIRECT_CONTACT, "ended"),
        (TaskKind.PROTOCOL_REVIEW, "continue"),
        (TaskKind.PROTOCOL_REVIEW, "vary"),
    }
)
# What each term is called when the profile requires it (HS 6.5.4).
TERM_WORDS = {
    "contact_times": "the frequency and times of contact",
    "single_point_of_contact": "the main point of staff contact",
    "topics": "the issues or topics dealt with",
    "issue_limit": "the number of issues considered",
}


class DecisionRejected(ValueError):
    """The decision cannot be applied; the message says why, ``field`` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DecisionFacts:
    """What the checks need to know of the task and the case."""

    kind: TaskKind
    allowed_roles: frozenset[str]
    durations: Durations
    involved: frozenset[str]
    violent: bool
    # Terms a communication protocol must set out (profile; HS 6.5.4).
    protocol_must_include: tuple[str, ...] = ()
    # The restriction in force, if any ("protocol", "immediate_action", ...).
    restriction: str | None = None
    referral_consent: bool = False
    # What an appeal task is against ("restriction", a warning, "risk_flag").
    appeal_against: str = "restriction"


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
    customer_reason: str | None = None


def check_decision(facts: DecisionFacts, decision: ProposedDecision) -> None:
    """Raise DecisionRejected with the reason when ``decision`` may not be applied."""
    kind = facts.kind
    if decision.role not in facts.allowed_roles:
        raise DecisionRejected(
            f"a {kind} task is decided by {sorted(facts.allowed_roles)}, not {decision.role!r}",
            field="role",
        )
    if decision.outcome not in OUTCOMES[kind]:
        raise DecisionRejected(
            f"outcome {decision.outcome!r} is not one of {sorted(OUTCOMES[kind])} for {kind}",
            field="outcome",
        )
    if not decision.decided_by.strip():
        raise DecisionRejected("decided_by: every decision records who took it", field="decided_by")
    if not decision.reason.strip():
        raise DecisionRejected("reason: every decision records why it was taken", field="reason")
    if (kind, decision.outcome) in METHOD_OUTCOMES:
        if decision.method not in WARNING_METHODS:
            raise DecisionRejected(
                f"method: an issued warning says how, one of {sorted(WARNING_METHODS)}",
                field="method",
            )
    if kind in FACTORS_KINDS and decision.factors is None:
        raise DecisionRejected(
            "factors: the assessment records instances, contact levels, language and the "
            "customer's needs and circumstances (HS 6.5.3)",
            field="factors",
        )
    if TERMS_OUTCOMES.get(kind) == decision.outcome:
        _check_terms(decision)
        _check_protocol_content(facts, decision)
    if (kind, decision.outcome) in REVIEW_PERIOD_OUTCOMES:
        _check_review_period(decision.review_after_seconds, facts.durations, required=False)
    if (
        kind is TaskKind.APPEAL_DECISION
        and facts.appeal_against != "restriction"
        and decision.outcome == "varied"
    ):
        raise DecisionRejected(
            "outcome: a warning or a flag is upheld or overturned; only a restriction's "
            "arrangements can be varied",
            field="outcome",
        )
    involved = {person.casefold() for person in facts.involved}
    if kind is TaskKind.APPEAL_DECISION and decision.decided_by.casefold() in involved:
        raise DecisionRejected(
            "decided_by: an appeal is decided by a Director not involved in the original decision",
            field="decided_by",
        )
    if kind is TaskKind.POLICE_REPORT:
        reference = (decision.reference or "").strip()
        if (kind, decision.outcome) in REFERENCE_OUTCOMES and not reference:
            raise DecisionRejected(
                "reference: a police report records the police reference", field="reference"
            )
        if decision.outcome == "not_reported" and facts.violent:
            raise DecisionRejected(
                "outcome: violence used or threatened is always reported to the police (HS 6.3.1)",
                field="outcome",
            )

    if customer_is_told(kind, decision.outcome) and not (decision.customer_reason or "").strip():
        raise DecisionRejected(
            f"customer_reason: the customer is told of this decision ({kind} {decision.outcome}) "
            "in a letter; write the reason as the customer should read it (the reason field "
            "is an internal note and never reaches a letter)",
            field="customer_reason",
        )
    if (
        kind is TaskKind.SUPPORT_REFERRAL
        and decision.outcome == "referred"
        and not facts.referral_consent
    ):
        raise DecisionRejected(
            "outcome: a referral needs the customer's consent; record it with the support "
            "details first (referral_consent)",
            field="outcome",
        )


@dataclass(frozen=True)
class DecisionFields:
    """The fields of a decision with a given outcome, besides ``outcome`` itself."""

    required: tuple[str, ...]
    optional: tuple[str, ...]


def decision_fields(kind: TaskKind, outcome: str) -> DecisionFields:
    """Which fields ``check_decision`` requires for ``outcome`` on a ``kind`` task, and
    which others it reads (from the same constants the checks use)."""
    required = ["reason"]
    optional: list[str] = []
    if customer_is_told(kind, outcome):
        required.append("customer_reason")
    if (kind, outcome) in METHOD_OUTCOMES:
        required.append("method")
    if kind in FACTORS_KINDS:
        required.append("factors")
    if TERMS_OUTCOMES.get(kind) == outcome:
        required += ["terms", "reasonable_adjustments"]
    if (kind, outcome) in REFERENCE_OUTCOMES:
        required.append("reference")
    if (kind, outcome) in REVIEW_PERIOD_OUTCOMES:
        optional.append("review_after_seconds")
    return DecisionFields(required=tuple(required), optional=tuple(optional))


def _check_protocol_content(facts: DecisionFacts, decision: ProposedDecision) -> None:
    """HS 6.5.4: a communication protocol sets out more than its contact methods."""
    protocol = facts.kind is TaskKind.PROTOCOL_AUTHORISATION or (
        facts.kind in (TaskKind.APPEAL_DECISION, TaskKind.PROTOCOL_REVIEW)
        and facts.restriction == "protocol"
    )
    if not protocol or decision.terms is None:
        return
    missing = [
        TERM_WORDS.get(name, name)
        for name in facts.protocol_must_include
        if not str(getattr(decision.terms, name, "") or "").strip()
    ]
    if missing:
        raise DecisionRejected(
            "terms: a communication protocol sets out " + ", ".join(missing) + " (HS 6.5.4)",
            field="terms",
        )


def _check_terms(decision: ProposedDecision) -> None:
    if decision.terms is None:
        raise DecisionRejected(
            f"terms: outcome {decision.outcome!r} sets out the arrangements", field="terms"
        )
    problems = terms_problems(decision.terms)
    if problems:
        raise DecisionRejected("terms: " + "; ".join(problems), field="terms")
    if not (decision.reasonable_adjustments or "").strip():
        raise DecisionRejected(
            "reasonable_adjustments: record the adjustments made (or why none are needed) "
            "before any restriction",
            field="reasonable_adjustments",
        )


def _check_review_period(seconds: int | None, durations: Durations, *, required: bool) -> None:
    if seconds is None:
        if required:
            raise DecisionRejected(
                "review_after_seconds: set when the protocol is reviewed",
                field="review_after_seconds",
            )
        return
    problem = review_period_problem(
        seconds, durations.review_period_min, durations.review_period_max
    )
    if problem:
        raise DecisionRejected(f"review_after_seconds: {problem}", field="review_after_seconds")
