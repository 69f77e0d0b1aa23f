"""What a person's decision does to a case: pure functions of the decision and the case.

The counterpart of ``policy.ladder.plan_after_incident``: one plan says which letters go
out (with the words the customer reads), which restriction is imposed, varied or lifted,
which tasks open or are superseded and whether the case closes. The workflow applies the
plan; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from policy.categories import Category, Channel
from policy.ladder import behaviour_summary
from policy.protocol import ProtocolTerms, arrangements
from policy.tasks import TaskKind

PROTOCOL = "protocol"
IMMEDIATE_ACTION = "immediate_action"
DIRECT_CONTACT_ENDED = "direct_contact_ended"
RESTRICTION_KINDS = frozenset({PROTOCOL, IMMEDIATE_ACTION, DIRECT_CONTACT_ENDED})

# Decisions imposing a restriction, by task kind and outcome.
_IMPOSES: dict[tuple[TaskKind, str], str] = {
    (TaskKind.PROTOCOL_AUTHORISATION, "authorised"): PROTOCOL,
    (TaskKind.IMMEDIATE_ACTION, "approved"): IMMEDIATE_ACTION,
    (TaskKind.END_DIRECT_CONTACT, "ended"): DIRECT_CONTACT_ENDED,
}
# Decisions the customer hears about in a letter (and so need a reason for the customer).
_TOLD: frozenset[tuple[TaskKind, str]] = frozenset(
    {
        (TaskKind.INITIAL_WARNING, "issued"),
        (TaskKind.FORMAL_WARNING, "issued"),
        (TaskKind.BEHAVIOUR_ASSESSMENT, "not_unacceptable"),
        (TaskKind.PROTOCOL_AUTHORISATION, "declined"),
        (TaskKind.IMMEDIATE_ACTION, "refused"),
        *_IMPOSES,
        *((TaskKind.APPEAL_DECISION, o) for o in ("upheld", "overturned", "varied")),
        *((TaskKind.PROTOCOL_REVIEW, o) for o in ("continue", "vary", "end")),
    }
)
# The tasks a new restriction makes moot.
_MOOT_UNDER_RESTRICTION = (
    TaskKind.INITIAL_WARNING,
    TaskKind.FORMAL_WARNING,
    TaskKind.BEHAVIOUR_ASSESSMENT,
    TaskKind.PROTOCOL_AUTHORISATION,
    TaskKind.IMMEDIATE_ACTION,
)
_CHANNEL_WORDS = {
    Channel.IN_PERSON: "in person",
    Channel.PHONE: "by telephone",
    Channel.LETTER: "by letter",
    Channel.EMAIL: "by email",
    Channel.SOCIAL_MEDIA: "on social media",
}
APPEAL_TO = "a Director who was not involved in the decision"
_NOW_IN_FORCE = {
    PROTOCOL: "a communication protocol is now in force",
    IMMEDIATE_ACTION: "immediate action is now in force",
    DIRECT_CONTACT_ENDED: "direct contact has been ended",
}
INCIDENTS_IN_A_LETTER = 10


def customer_is_told(kind: TaskKind, outcome: str) -> bool:
    """Whether this decision reaches the customer in a letter (it then needs
    a reason written for the customer)."""
    return (kind, outcome) in _TOLD


def imposed_restriction(kind: TaskKind, outcome: str) -> str | None:
    """The kind of restriction this decision imposes, if it imposes one."""
    return _IMPOSES.get((kind, outcome))


def further_appeal_allowed(appeals_decided: int, limit: int) -> bool:
    """HS 6.5.5 "one further assessment" (``limit`` 1); Magna has no limit (0)."""
    return not limit or appeals_decided < limit


def letter_date(moment: datetime) -> str:
    """A date as letters print it."""
    return moment.strftime("%d %B %Y")


@dataclass(frozen=True)
class IncidentFact:
    """An incident as a letter may mention it: when, how, what kind of behaviour."""

    occurred_at: datetime
    channel: Channel
    category: Category


def incident_lines(incidents: list[IncidentFact]) -> list[str]:
    """The incidents relied on, in the customer's words: date, channel, behaviour."""
    latest = sorted(incidents, key=lambda i: i.occurred_at)[-INCIDENTS_IN_A_LETTER:]
    return [
        f"{letter_date(i.occurred_at)}, {_CHANNEL_WORDS[i.channel]}: "
        f"{behaviour_summary(i.category)}"
        for i in latest
    ]


@dataclass(frozen=True)
class RestrictionFacts:
    """The restriction in force, as the plan needs to know it."""

    kind: str
    terms: ProtocolTerms
    review_after_seconds: int
    next_review_at: datetime


@dataclass(frozen=True)
class OutcomeFacts:
    """A validated decision and what the plan needs to know of the case."""

    kind: TaskKind
    outcome: str
    now: datetime
    customer_reason: str
    behaviour_summary: str
    incidents: list[IncidentFact]
    restriction: RestrictionFacts | None
    default_review_seconds: int
    appeal_within_days: int
    complaints_route: bool
    method: str | None = None
    terms: ProtocolTerms | None = None
    review_after_seconds: int | None = None
    reasonable_adjustments: str | None = None
    risk_flag_review_seconds: int = 15_778_800
    # False once the restriction in force has had the appeals its profile allows.
    appeal_open: bool = True
    # What an appeal is against: "restriction", "initial_warning", "formal_warning",
    # "risk_flag" (Magna: any decision except legal action).
    appeal_against: str = "restriction"
    # Magna: a warning can be appealed too, and its letter says how.
    warnings_appealable: bool = False


@dataclass(frozen=True)
class PlannedLetter:
    """A letter to send: its template, a key unique within the decision, its words."""

    kind: str
    key: str
    context: dict[str, str]


@dataclass(frozen=True)
class NewRestriction:
    """A restriction a decision imposes (it replaces any in force)."""

    kind: str
    terms: ProtocolTerms
    review_after_seconds: int
    customer_reason: str
    reasonable_adjustments: str


@dataclass(frozen=True)
class DecisionPlan:
    """What follows from one decision."""

    letters: tuple[PlannedLetter, ...] = ()
    impose: NewRestriction | None = None
    # The restriction in force continues: new terms, and its review clock restarts.
    vary_terms: ProtocolTerms | None = None
    restart_review_seconds: int | None = None
    # The restriction in force is lifted: "ended" (review) or "overturned" (appeal).
    lift: str | None = None
    reviewed: bool = False
    appealed: bool = False
    open_tasks: tuple[TaskKind, ...] = ()
    supersede: tuple[TaskKind, ...] = ()
    supersede_why: str = ""
    initial_warning_given: bool = False
    formal_warning_given: bool = False
    close: str | None = None
    # The records' status of the restriction afterwards (None: no restriction involved).
    restriction_status: str | None = None
    # The Director has decided on ending contact (either way): interim measures end.
    end_interim_measures: bool = False
    # An appeal against a warning succeeded: the warning is withdrawn.
    withdraw_warning: str | None = None
    # The risk flag: applied (True, reviewed after ``risk_flag_review_seconds``) or removed.
    risk_flag: bool | None = None
    risk_flag_review_seconds: int | None = None


def _appeal_context(facts: OutcomeFacts) -> dict[str, str]:
    if not facts.appeal_open:  # HS 6.5.5: the one further assessment has been had
        return dict(NO_APPEAL)
    by = facts.now + timedelta(days=facts.appeal_within_days)
    return {
        "appeal_to": APPEAL_TO,
        "appeal_by": letter_date(by),
        "complaints_route": "yes" if facts.complaints_route else "",
    }


def _restriction_letter(facts: OutcomeFacts, restriction: NewRestriction) -> PlannedLetter:
    review = facts.now + timedelta(seconds=restriction.review_after_seconds)
    template = "direct_contact_ended" if restriction.kind == DIRECT_CONTACT_ENDED else "protocol"
    return PlannedLetter(
        kind=template,
        key=restriction.kind,
        context={
            "behaviour_summary": facts.behaviour_summary,
            "incidents": "\n".join(incident_lines(facts.incidents)),
            "customer_reason": facts.customer_reason,
            "terms": "\n".join(arrangements(restriction.terms)),
            "review_date": letter_date(review),
            "immediate": "yes" if restriction.kind == IMMEDIATE_ACTION else "",
            **_appeal_context(facts),
        },
    )


def _outcome_letter(
    template: str, facts: OutcomeFacts, outcome: str, terms: ProtocolTerms | None, review: str
) -> PlannedLetter:
    restriction = facts.restriction.kind if facts.restriction else ""
    return PlannedLetter(
        kind=template,
        key=template,
        context={
            "outcome": outcome,
            "restriction": restriction,
            "customer_reason": facts.customer_reason,
            "terms": "\n".join(arrangements(terms)) if terms else "",
            "review_date": review,
            **_appeal_context(facts),
        },
    )


NO_APPEAL = {"appeal_to": "", "appeal_by": "", "complaints_route": ""}


def warning_appeal_words(appealable: tuple[str, ...], now: datetime, days: int) -> dict[str, str]:
    """How a letter that warns the customer sets out the appeal: under Magna ("appeal any
    decisions we make") to whom and by when; under HS there is none to set out."""
    if "initial_warning" not in appealable:
        return dict(NO_APPEAL)
    return {"appeal_to": APPEAL_TO, "appeal_by": letter_date(now + timedelta(days=days))}


def _warning_letter(template: str, facts: OutcomeFacts) -> PlannedLetter:
    return PlannedLetter(
        kind=template,
        key=template,
        context={
            "behaviour_summary": facts.behaviour_summary,
            "incidents": "\n".join(incident_lines(facts.incidents)),
            "customer_reason": facts.customer_reason,
            # HS 6.5.1: a warning given in person or by phone is confirmed in writing.
            "given": facts.method or "letter",
            **(_appeal_context(facts) if facts.warnings_appealable else NO_APPEAL),
        },
    )


def plan_after_decision(facts: OutcomeFacts) -> DecisionPlan:
    """HS 6.5 and Magna's decisions: what a validated decision does to the case."""
    kind, outcome = facts.kind, facts.outcome
    imposed = imposed_restriction(kind, outcome)
    if imposed is not None:
        restriction = NewRestriction(
            kind=imposed,
            terms=_required_terms(facts),
            review_after_seconds=facts.review_after_seconds or facts.default_review_seconds,
            customer_reason=facts.customer_reason,
            reasonable_adjustments=facts.reasonable_adjustments or "",
        )
        moot: tuple[TaskKind, ...] = _MOOT_UNDER_RESTRICTION
        if imposed == DIRECT_CONTACT_ENDED:
            moot += (TaskKind.END_DIRECT_CONTACT,)
        return DecisionPlan(
            letters=(_restriction_letter(facts, restriction),),
            impose=restriction,
            end_interim_measures=True,  # a restriction in force replaces them
            supersede=moot,
            supersede_why=_NOW_IN_FORCE[imposed],
            restriction_status="in_force",
        )
    if kind is TaskKind.END_DIRECT_CONTACT:  # declined: no restriction, no letter
        return DecisionPlan(end_interim_measures=True)
    if kind is TaskKind.INITIAL_WARNING and outcome == "issued":
        return DecisionPlan(
            letters=(_warning_letter("initial_warning", facts),), initial_warning_given=True
        )
    if kind is TaskKind.FORMAL_WARNING and outcome == "issued":
        return DecisionPlan(
            letters=(_warning_letter("formal_warning", facts),), formal_warning_given=True
        )
    if kind is TaskKind.BEHAVIOUR_ASSESSMENT:
        if outcome == "unacceptable":
            return DecisionPlan(open_tasks=(TaskKind.PROTOCOL_AUTHORISATION,))
        if outcome == "refer_for_support":
            return DecisionPlan(open_tasks=(TaskKind.SUPPORT_REFERRAL,))
        return DecisionPlan(letters=(_outcome_letter("no_restriction", facts, outcome, None, ""),))
    if (kind, outcome) in {
        (TaskKind.PROTOCOL_AUTHORISATION, "declined"),
        (TaskKind.IMMEDIATE_ACTION, "refused"),
    }:
        return DecisionPlan(letters=(_outcome_letter("no_restriction", facts, outcome, None, ""),))
    if kind is TaskKind.RISK_FLAG_DECISION:
        # An internal marker, never in a letter; it is reviewed like a restriction.
        if outcome == "applied":
            period = facts.review_after_seconds or facts.risk_flag_review_seconds
            return DecisionPlan(risk_flag=True, risk_flag_review_seconds=period)
        return DecisionPlan(risk_flag=False)
    if kind is TaskKind.APPEAL_DECISION and facts.appeal_against != "restriction":
        return _plan_decision_appeal(facts)
    if kind is TaskKind.APPEAL_DECISION and facts.restriction is not None:
        return _plan_appeal(facts, facts.restriction)
    if kind is TaskKind.PROTOCOL_REVIEW and facts.restriction is not None:
        return _plan_review(facts, facts.restriction)
    return DecisionPlan()  # recorded only: police report, tenancy action, referral


def _plan_appeal(facts: OutcomeFacts, restriction: RestrictionFacts) -> DecisionPlan:
    outcome = facts.outcome
    review = letter_date(restriction.next_review_at)
    if outcome == "overturned":
        return DecisionPlan(
            letters=(_outcome_letter("appeal_outcome", facts, outcome, None, ""),),
            lift="overturned",
            appealed=True,
            supersede=(TaskKind.PROTOCOL_REVIEW,),
            supersede_why="the restriction was overturned on appeal",
            restriction_status="overturned",
        )
    terms = _required_terms(facts) if outcome == "varied" else restriction.terms
    return DecisionPlan(
        letters=(_outcome_letter("appeal_outcome", facts, outcome, terms, review),),
        vary_terms=terms if outcome == "varied" else None,
        appealed=True,
        restriction_status="in_force",
    )


APPEALED_WORDS = {
    "initial_warning": "our initial warning about your behaviour",
    "formal_warning": "our formal warning about your behaviour",
    "risk_flag": "our decision to put a warning flag on your account for our staff's safety",
}


def _plan_decision_appeal(facts: OutcomeFacts) -> DecisionPlan:
    """Magna: an appeal against a warning or the risk flag; overturned, it is withdrawn."""
    against, overturned = facts.appeal_against, facts.outcome == "overturned"
    letter = PlannedLetter(
        kind="decision_appeal_outcome",
        key="decision_appeal_outcome",
        context={
            "outcome": facts.outcome,
            "appealed": APPEALED_WORDS[against],
            "customer_reason": facts.customer_reason,
            "appeal_to": APPEAL_TO,
        },
    )
    return DecisionPlan(
        letters=(letter,),
        withdraw_warning=against if overturned and against != "risk_flag" else None,
        risk_flag=False if overturned and against == "risk_flag" else None,
    )


def _plan_review(facts: OutcomeFacts, restriction: RestrictionFacts) -> DecisionPlan:
    outcome = facts.outcome
    if outcome == "end":
        return DecisionPlan(
            letters=(_outcome_letter("review_outcome", facts, "ended", None, ""),),
            lift="ended",
            reviewed=True,
            supersede=(TaskKind.APPEAL_DECISION,),
            supersede_why="the restriction has ended",
            close="restriction_ended",
            restriction_status="ended",
        )
    period = facts.review_after_seconds or restriction.review_after_seconds
    terms = _required_terms(facts) if outcome == "vary" else restriction.terms
    next_review = letter_date(facts.now + timedelta(seconds=period))
    said = "continued" if outcome == "continue" else "varied"
    return DecisionPlan(
        letters=(_outcome_letter("review_outcome", facts, said, terms, next_review),),
        vary_terms=terms if outcome == "vary" else None,
        restart_review_seconds=period,
        reviewed=True,
        restriction_status="in_force",
    )


def _required_terms(facts: OutcomeFacts) -> ProtocolTerms:
    if facts.terms is None:  # the checks require terms for these outcomes
        raise ValueError(f"terms: outcome {facts.outcome!r} sets out the arrangements")
    return facts.terms
