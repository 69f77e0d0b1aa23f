"""Decision checks: every rejection names its reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policy.decisions import DecisionFacts, DecisionRejected, ProposedDecision, check_decision
from policy.profiles import load_profile
from policy.protocol import AssessmentFactors, ProtocolTerms, arrangements, terms_problems
from policy.tasks import TaskKind

DURATIONS = load_profile("magna").durations
TERMS = ProtocolTerms(contact_methods=["letter"], single_point_of_contact="Jo Bloggs")


def facts(kind: TaskKind, role: str, **extra: object) -> DecisionFacts:
    values: dict[str, object] = {
        "kind": kind,
        "allowed_roles": frozenset({role}),
        "durations": DURATIONS,
        "involved": frozenset(),
        "violent": False,
        **extra,
    }
    return DecisionFacts(**values)  # type: ignore[arg-type]


BASE = ProposedDecision(
    outcome="authorised",
    decided_by="hos-1",
    role="head_of_service",
    reason="persistent contact after formal warning",
    method=None,
    terms=TERMS,
    review_after_seconds=DURATIONS.review_period_min,
    reference=None,
    factors=None,
    reasonable_adjustments="none needed",
    customer_reason="You contacted us many times after our formal warning.",
)
AUTH = facts(TaskKind.PROTOCOL_AUTHORISATION, "head_of_service")


def test_a_sound_authorisation_passes() -> None:
    check_decision(AUTH, BASE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"role": "manager"}, "decided by"),
        ({"outcome": "maybe"}, "not one of"),
        ({"reason": ""}, "why"),
        ({"decided_by": " "}, "who"),
        ({"terms": None}, "terms"),
        ({"terms": ProtocolTerms(contact_methods=[])}, "at least one form of contact"),
        ({"terms": ProtocolTerms(contact_methods=["pigeon"])}, "unknown contact method"),
        ({"reasonable_adjustments": ""}, "reasonable_adjustments"),
        ({"review_after_seconds": DURATIONS.review_period_min - 1}, "review"),
        ({"review_after_seconds": DURATIONS.review_period_max + 1}, "review"),
    ],
)
def test_authorisation_rejections(change: dict[str, object], message: str) -> None:
    with pytest.raises(DecisionRejected, match=message):
        check_decision(AUTH, replace(BASE, **change))  # type: ignore[arg-type]


def test_assessment_records_the_factors() -> None:
    assessment = replace(BASE, outcome="unacceptable", role="manager", terms=None)
    with pytest.raises(DecisionRejected, match="factors"):
        check_decision(facts(TaskKind.BEHAVIOUR_ASSESSMENT, "manager"), assessment)
    factors = AssessmentFactors(3, "daily emails", "polite", "none known")
    check_decision(
        facts(TaskKind.BEHAVIOUR_ASSESSMENT, "manager"), replace(assessment, factors=factors)
    )


def test_appeal_is_decided_by_someone_not_involved() -> None:
    appeal = replace(BASE, outcome="upheld", role="director", decided_by="dir-1", terms=None)
    with pytest.raises(DecisionRejected, match="not involved"):
        check_decision(
            facts(TaskKind.APPEAL_DECISION, "director", involved=frozenset({"dir-1"})), appeal
        )
    check_decision(facts(TaskKind.APPEAL_DECISION, "director"), appeal)


def test_violence_is_always_reported_and_reports_carry_a_reference() -> None:
    police = facts(TaskKind.POLICE_REPORT, "officer", violent=True)
    report = replace(BASE, role="officer", terms=None, outcome="reported")
    with pytest.raises(DecisionRejected, match="reference"):
        check_decision(police, report)
    check_decision(police, replace(report, reference="CAD-1"))
    with pytest.raises(DecisionRejected, match="always reported"):
        check_decision(police, replace(report, outcome="not_reported"))
    check_decision(replace(police, violent=False), replace(report, outcome="not_reported"))


def test_arrangements_say_what_not_why() -> None:
    lines = arrangements(TERMS)
    assert lines == ["Contact only by letter", "All contact through the named contact: Jo Bloggs"]
    assert terms_problems(TERMS) == []


def test_housing_solutions_reviews_at_six_months_only() -> None:
    hs = load_profile("housing_solutions").durations
    auth = facts(TaskKind.PROTOCOL_AUTHORISATION, "head_of_service", durations=hs)
    check_decision(auth, replace(BASE, review_after_seconds=hs.review_period_default))
    for months in (3, 12):
        with pytest.raises(DecisionRejected, match="review_after_seconds"):
            check_decision(
                auth, replace(BASE, review_after_seconds=hs.review_period_default // 6 * months)
            )
