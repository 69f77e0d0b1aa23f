"""The decision half of the policy as pure functions: what each decision does to a case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from policy.categories import Category, Channel
from policy.decisions import DecisionFacts, DecisionRejected, ProposedDecision, check_decision
from policy.ladder import LadderFacts, derive_stage, plan_after_incident
from policy.outcomes import (
    DIRECT_CONTACT_ENDED,
    IncidentFact,
    OutcomeFacts,
    RestrictionFacts,
    customer_is_told,
    incident_lines,
    plan_after_decision,
)
from policy.profiles import load_profile
from policy.protocol import ProtocolTerms
from policy.tasks import OUTCOMES, Role, TaskKind, claim_blocks, decider_role

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
SIX_MONTHS = 15_778_800
TERMS = ProtocolTerms(contact_methods=["letter"], topics="the repair only")
PROTOCOL_IN_FORCE = RestrictionFacts("protocol", TERMS, SIX_MONTHS, NOW + timedelta(days=90))
BASE = OutcomeFacts(
    kind=TaskKind.PROTOCOL_AUTHORISATION,
    outcome="authorised",
    now=NOW,
    customer_reason="You called 40 times in a week about a closed repair.",
    behaviour_summary="raising the same matter again and again after our answer",
    incidents=[
        IncidentFact(datetime(2026, 11, 2, tzinfo=UTC), Channel.PHONE, Category.VERBAL_ABUSE),
        IncidentFact(datetime(2026, 11, 9, tzinfo=UTC), Channel.EMAIL, Category.VERBAL_ABUSE),
    ],
    restriction=None,
    default_review_seconds=SIX_MONTHS,
    appeal_within_days=28,
    complaints_route=True,
    terms=TERMS,
    reasonable_adjustments="Large print letters",
)


def test_authorising_a_protocol_imposes_it_with_reasons_review_date_and_appeal() -> None:
    plan = plan_after_decision(BASE)
    assert plan.impose is not None and plan.impose.kind == "protocol"
    assert plan.impose.review_after_seconds == SIX_MONTHS
    assert plan.restriction_status == "in_force"
    assert TaskKind.BEHAVIOUR_ASSESSMENT in plan.supersede
    (letter,) = plan.letters
    assert letter.kind == "protocol"
    context = letter.context
    assert context["customer_reason"] == BASE.customer_reason
    assert context["review_date"] == "23 May 2027"
    assert context["appeal_by"] == "19 December 2026"
    assert "not involved" in context["appeal_to"]
    assert context["incidents"].splitlines() == [
        "02 November 2026, by telephone: abusive, rude or derogatory language towards our staff",
        "09 November 2026, by email: abusive, rude or derogatory language towards our staff",
    ]
    assert context["terms"].startswith("Contact only by letter")


def test_a_director_ending_direct_contact_imposes_a_reviewed_appealable_restriction() -> None:
    facts = replace(BASE, kind=TaskKind.END_DIRECT_CONTACT, outcome="ended")
    plan = plan_after_decision(facts)
    assert plan.impose is not None and plan.impose.kind == DIRECT_CONTACT_ENDED
    assert plan.impose.review_after_seconds == SIX_MONTHS
    assert TaskKind.END_DIRECT_CONTACT in plan.supersede
    assert [x.kind for x in plan.letters] == ["direct_contact_ended"]
    assert plan.letters[0].context["appeal_by"]


def test_declining_to_end_direct_contact_sends_nothing_and_imposes_nothing() -> None:
    plan = plan_after_decision(replace(BASE, kind=TaskKind.END_DIRECT_CONTACT, outcome="declined"))
    assert plan.impose is None and plan.letters == ()


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (TaskKind.BEHAVIOUR_ASSESSMENT, "not_unacceptable"),
        (TaskKind.PROTOCOL_AUTHORISATION, "declined"),
        (TaskKind.IMMEDIATE_ACTION, "refused"),
    ],
)
def test_the_customer_hears_when_no_restriction_follows(kind: TaskKind, outcome: str) -> None:
    plan = plan_after_decision(replace(BASE, kind=kind, outcome=outcome))
    assert plan.impose is None
    assert [(x.kind, x.context["outcome"]) for x in plan.letters] == [("no_restriction", outcome)]


def test_an_unacceptable_assessment_asks_a_head_of_service_and_support_opens_a_referral() -> None:
    unacceptable = replace(BASE, kind=TaskKind.BEHAVIOUR_ASSESSMENT, outcome="unacceptable")
    assert plan_after_decision(unacceptable).open_tasks == (TaskKind.PROTOCOL_AUTHORISATION,)
    support = replace(unacceptable, outcome="refer_for_support")
    assert plan_after_decision(support).open_tasks == (TaskKind.SUPPORT_REFERRAL,)
    assert plan_after_decision(support).letters == ()


def test_a_warning_given_by_phone_is_confirmed_in_writing() -> None:
    plan = plan_after_decision(
        replace(BASE, kind=TaskKind.INITIAL_WARNING, outcome="issued", method="phone")
    )
    assert plan.initial_warning_given
    assert [(x.kind, x.context["given"]) for x in plan.letters] == [("initial_warning", "phone")]


def test_an_overturned_appeal_lifts_the_restriction_and_its_review() -> None:
    facts = replace(
        BASE, kind=TaskKind.APPEAL_DECISION, outcome="overturned", restriction=PROTOCOL_IN_FORCE
    )
    plan = plan_after_decision(facts)
    assert plan.lift == "overturned" and plan.appealed
    assert plan.supersede == (TaskKind.PROTOCOL_REVIEW,)
    assert plan.restriction_status == "overturned"
    assert plan.letters[0].context["customer_reason"] == BASE.customer_reason


def test_an_upheld_appeal_keeps_terms_and_review_date() -> None:
    facts = replace(
        BASE, kind=TaskKind.APPEAL_DECISION, outcome="upheld", restriction=PROTOCOL_IN_FORCE
    )
    plan = plan_after_decision(facts)
    assert plan.lift is None and plan.vary_terms is None and plan.appealed
    assert plan.letters[0].context["review_date"] == "19 February 2027"


def test_a_review_continues_with_a_new_date_or_ends_and_closes() -> None:
    facts = replace(
        BASE,
        kind=TaskKind.PROTOCOL_REVIEW,
        outcome="continue",
        restriction=PROTOCOL_IN_FORCE,
        review_after_seconds=None,
    )
    plan = plan_after_decision(facts)
    assert plan.reviewed and plan.restart_review_seconds == SIX_MONTHS
    assert plan.letters[0].context["outcome"] == "continued"
    ended = plan_after_decision(replace(facts, outcome="end"))
    assert ended.lift == "ended" and ended.close == "restriction_ended"
    assert ended.letters[0].context["outcome"] == "ended"


def test_recorded_only_decisions_change_nothing_else() -> None:
    for kind, outcome in [
        (TaskKind.POLICE_REPORT, "reported"),
        (TaskKind.TENANCY_ACTION, "nosp_served"),
        (TaskKind.SUPPORT_REFERRAL, "referred"),
    ]:
        assert plan_after_decision(replace(BASE, kind=kind, outcome=outcome)).letters == ()


def test_every_decision_that_sends_a_letter_needs_a_reason_for_the_customer() -> None:
    for kind, outcomes in OUTCOMES.items():
        for outcome in outcomes:
            facts = replace(BASE, kind=kind, outcome=outcome, restriction=PROTOCOL_IN_FORCE)
            if kind is TaskKind.LETTER_UNDELIVERABLE:
                continue
            assert bool(plan_after_decision(facts).letters) == customer_is_told(kind, outcome), (
                kind,
                outcome,
            )


def test_a_letter_names_at_most_the_ten_latest_incidents_in_date_order() -> None:
    incidents = [
        IncidentFact(NOW - timedelta(days=d), Channel.LETTER, Category.UNREASONABLE_DEMANDS)
        for d in range(15)
    ]
    lines = incident_lines(incidents)
    assert len(lines) == 10
    assert lines[-1].startswith("21 November 2026, by letter")


# The checks on a proposed decision -----------------------------------------------------

HS = load_profile("housing_solutions")
FACTS = DecisionFacts(
    kind=TaskKind.PROTOCOL_AUTHORISATION,
    allowed_roles=frozenset({"head_of_service"}),
    durations=HS.durations,
    involved=frozenset({"HOS-1"}),
    violent=False,
    protocol_must_include=HS.protocol_must_include,
)
FULL_TERMS = ProtocolTerms(
    contact_methods=["letter"],
    contact_times="Tuesdays 10:00-12:00",
    single_point_of_contact="Sam Patel",
    topics="the repair only",
)
AUTHORISED = ProposedDecision(
    outcome="authorised",
    decided_by="hos-2",
    role="head_of_service",
    reason="internal: see the assessment",
    method=None,
    terms=FULL_TERMS,
    review_after_seconds=None,
    reference=None,
    factors=None,
    reasonable_adjustments="Letters in large print",
    customer_reason="You contacted us 40 times in a week about a closed repair.",
)


def _rejected_field(facts: DecisionFacts, decision: ProposedDecision) -> str | None:
    with pytest.raises(DecisionRejected) as rejected:
        check_decision(facts, decision)
    return rejected.value.field


def test_a_letter_decision_without_a_reason_for_the_customer_is_refused() -> None:
    check_decision(FACTS, AUTHORISED)
    assert _rejected_field(FACTS, replace(AUTHORISED, customer_reason=" ")) == "customer_reason"
    police = replace(FACTS, kind=TaskKind.POLICE_REPORT, allowed_roles=frozenset({"officer"}))
    check_decision(  # recorded only: no letter, no customer reason needed
        police,
        replace(
            AUTHORISED, outcome="reported", role="officer", reference="CAD-1", customer_reason=None
        ),
    )


def test_a_housing_solutions_protocol_sets_out_what_hs_6_5_4_lists() -> None:
    thin = replace(AUTHORISED, terms=ProtocolTerms(contact_methods=["letter"]))
    with pytest.raises(DecisionRejected, match="main point of staff contact"):
        check_decision(FACTS, thin)
    magna = replace(FACTS, protocol_must_include=())
    check_decision(magna, thin)


def test_appeal_independence_ignores_the_case_of_an_identity() -> None:
    appeal = replace(
        FACTS,
        kind=TaskKind.APPEAL_DECISION,
        allowed_roles=frozenset({"director"}),
        involved=frozenset({"HOS-DIR"}),
        restriction="protocol",
    )
    upheld = replace(AUTHORISED, outcome="upheld", role="director", decided_by="hos-dir")
    assert _rejected_field(appeal, upheld) == "decided_by"
    check_decision(appeal, replace(upheld, decided_by="director-2"))


def test_ending_direct_contact_needs_terms_adjustments_and_an_allowed_review_period() -> None:
    end = replace(FACTS, kind=TaskKind.END_DIRECT_CONTACT, allowed_roles=frozenset({"director"}))
    ended = replace(AUTHORISED, outcome="ended", role="director", terms=TERMS)
    check_decision(end, ended)
    assert _rejected_field(end, replace(ended, terms=None)) == "terms"
    assert _rejected_field(end, replace(ended, reasonable_adjustments=None)) == (
        "reasonable_adjustments"
    )
    assert _rejected_field(end, replace(ended, review_after_seconds=86_400)) == (
        "review_after_seconds"
    )


def test_a_referral_needs_the_customers_consent() -> None:
    referral = replace(FACTS, kind=TaskKind.SUPPORT_REFERRAL, allowed_roles=frozenset({"officer"}))
    referred = replace(AUTHORISED, outcome="referred", role="officer", customer_reason=None)
    assert _rejected_field(referral, referred) == "outcome"
    check_decision(replace(referral, referral_consent=True), referred)


# The incident half, second round ---------------------------------------------------------

NEW = LadderFacts(Category.PHYSICAL_VIOLENCE, Channel.IN_PERSON, round_two=True)


def test_violence_asks_a_director_urgently_and_applies_interim_measures_not_a_letter() -> None:
    plan = plan_after_incident(NEW)
    assert TaskKind.END_DIRECT_CONTACT in plan.tasks
    assert TaskKind.POLICE_REPORT in plan.tasks
    assert plan.risk_flag and plan.interim_measures
    assert not plan.end_direct_contact and plan.letters == ()
    assert decider_role(TaskKind.END_DIRECT_CONTACT, "head_of_service") is Role.DIRECTOR


def test_verbal_abuse_offers_a_police_report_in_the_second_round_only() -> None:
    abuse = replace(NEW, category=Category.VERBAL_ABUSE, channel=Channel.PHONE)
    assert TaskKind.POLICE_REPORT in plan_after_incident(abuse).tasks
    assert TaskKind.POLICE_REPORT not in plan_after_incident(replace(abuse, round_two=False)).tasks


def test_the_stage_names_the_director_decision_and_the_ended_contact() -> None:
    pending = derive_stage(
        closed=False,
        protocol_in_force=False,
        open_kinds=frozenset({TaskKind.END_DIRECT_CONTACT}),
        direct_contact_ended=False,
        formal_warning_given=False,
        initial_warning_given=False,
    )
    assert pending == "direct_contact_decision"
    in_force = derive_stage(
        closed=False,
        protocol_in_force=True,
        open_kinds=frozenset(),
        direct_contact_ended=True,
        formal_warning_given=True,
        initial_warning_given=True,
        restriction="direct_contact_ended",
    )
    assert in_force == "direct_contact_ended"


def test_abusive_correspondence_is_the_written_initial_warning_one_letter_per_incident() -> None:
    email = replace(NEW, category=Category.VERBAL_ABUSE, channel=Channel.EMAIL)
    plan = plan_after_incident(email)
    assert plan.letters == ("abusive_correspondence",)
    assert plan.initial_warning_recorded == "letter"  # HS 6.5.1: told in writing
    assert TaskKind.INITIAL_WARNING not in plan.tasks


def test_a_warning_given_by_phone_at_intake_is_confirmed_in_writing_once() -> None:
    call = replace(NEW, category=Category.VERBAL_ABUSE, channel=Channel.PHONE)
    plan = plan_after_incident(replace(call, warned_by_officer="phone"))
    assert plan.initial_warning_recorded == "phone" and plan.letters == ("initial_warning",)
    email = replace(call, channel=Channel.EMAIL, warned_by_officer="phone")
    assert plan_after_incident(email).letters == ("abusive_correspondence",)


def test_one_instance_after_the_formal_warning_does_not_open_an_assessment() -> None:
    persistent = replace(
        NEW,
        category=Category.UNREASONABLE_PERSISTENCE,
        channel=Channel.PHONE,
        initial_warning_given=True,
        formal_warning_given=True,
    )
    once = plan_after_incident(replace(persistent, incidents_since_formal_warning=1))
    assert TaskKind.BEHAVIOUR_ASSESSMENT not in once.tasks
    twice = plan_after_incident(replace(persistent, incidents_since_formal_warning=2))
    assert TaskKind.BEHAVIOUR_ASSESSMENT in twice.tasks


def test_only_violence_flags_automatically_otherwise_a_manager_decides() -> None:
    abuse = plan_after_incident(replace(NEW, category=Category.UNSUBSTANTIATED_ALLEGATIONS))
    assert not abuse.risk_flag and TaskKind.RISK_FLAG_DECISION in abuse.tasks
    flagged = replace(NEW, category=Category.VERBAL_ABUSE, risk_flag=True)
    assert TaskKind.RISK_FLAG_DECISION not in plan_after_incident(flagged).tasks
    demands = replace(NEW, category=Category.UNREASONABLE_DEMANDS)
    assert TaskKind.RISK_FLAG_DECISION not in plan_after_incident(demands).tasks
    assert decider_role(TaskKind.RISK_FLAG_DECISION, "head_of_service") is Role.MANAGER


def test_a_flag_applied_is_reviewed_later_and_a_flag_removed_has_no_review() -> None:
    applied = plan_after_decision(
        replace(
            BASE, kind=TaskKind.RISK_FLAG_DECISION, outcome="applied", review_after_seconds=None
        )
    )
    assert applied.risk_flag is True and applied.risk_flag_review_seconds == SIX_MONTHS
    assert applied.letters == ()  # an internal marker: the customer is not written to
    removed = plan_after_decision(
        replace(BASE, kind=TaskKind.RISK_FLAG_DECISION, outcome="removed")
    )
    assert removed.risk_flag is False and removed.risk_flag_review_seconds is None


def test_a_review_letter_offers_no_appeal_once_hs_allowed_one_was_had() -> None:
    facts = replace(
        BASE, kind=TaskKind.PROTOCOL_REVIEW, outcome="continue", restriction=PROTOCOL_IN_FORCE
    )
    assert plan_after_decision(facts).letters[0].context["appeal_to"]
    closed = plan_after_decision(replace(facts, appeal_open=False)).letters[0].context
    assert (closed["appeal_to"], closed["appeal_by"]) == ("", "")


def test_under_magna_an_overturned_appeal_withdraws_a_warning_or_the_flag() -> None:
    appeal = replace(BASE, kind=TaskKind.APPEAL_DECISION, outcome="overturned")
    warning = plan_after_decision(replace(appeal, appeal_against="formal_warning"))
    assert warning.withdraw_warning == "formal_warning" and warning.risk_flag is None
    assert warning.letters[0].kind == "decision_appeal_outcome"
    assert "formal warning" in warning.letters[0].context["appealed"]
    flag = plan_after_decision(replace(appeal, appeal_against="risk_flag"))
    assert flag.risk_flag is False and flag.withdraw_warning is None
    upheld = plan_after_decision(replace(appeal, outcome="upheld", appeal_against="risk_flag"))
    assert upheld.risk_flag is None and upheld.letters[0].context["outcome"] == "upheld"


def test_a_warning_or_flag_appeal_cannot_be_varied() -> None:
    appeal = replace(
        FACTS,
        kind=TaskKind.APPEAL_DECISION,
        allowed_roles=frozenset({"director"}),
        appeal_against="initial_warning",
    )
    varied = replace(AUTHORISED, outcome="varied", role="director", decided_by="dir-9")
    assert _rejected_field(appeal, varied) == "outcome"


@pytest.mark.parametrize(
    ("category", "tenancy", "offered"),
    [
        (Category.VERBAL_ABUSE, "assured", True),  # Appendix 1: aggressive -> NOSP
        (Category.VERBAL_ABUSE, "starter", True),
        (Category.VERBAL_ABUSE, None, False),
        (Category.VERBAL_ABUSE, "not_a_tenant", False),
        (Category.PHYSICAL_VIOLENCE, None, True),  # after violence the Director checks
        (Category.PHYSICAL_VIOLENCE, "not_a_tenant", False),
        (Category.PHYSICAL_VIOLENCE, "other", False),
        (Category.UNREASONABLE_DEMANDS, "assured", False),  # not the aggressive track
    ],
)
def test_tenancy_action_is_offered_for_the_tenancies_hs_6_3_6_names(
    category: Category, tenancy: str | None, offered: bool
) -> None:
    plan = plan_after_incident(replace(NEW, category=category, tenancy=tenancy))
    assert (TaskKind.TENANCY_ACTION in plan.tasks) is offered


def test_a_colleague_on_the_receiving_end_gets_their_managers_follow_up() -> None:
    abuse = replace(NEW, category=Category.VERBAL_ABUSE, channel=Channel.PHONE)
    assert TaskKind.COLLEAGUE_SUPPORT not in plan_after_incident(abuse).tasks
    plan = plan_after_incident(replace(abuse, colleague_affected=True))
    assert TaskKind.COLLEAGUE_SUPPORT in plan.tasks
    assert decider_role(TaskKind.COLLEAGUE_SUPPORT, "head_of_service") is Role.MANAGER


def test_a_claim_lapses_and_gives_way_to_a_role_the_task_escalated_to() -> None:
    claimed = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def blocks(user: str, role: str, hours: int) -> bool:
        return claim_blocks(
            claimed_by="Olu",
            claimed_at=claimed,
            user=user,
            acting_role=role,
            task_role="officer",
            now=claimed + timedelta(hours=hours),
            claim_lasts=timedelta(hours=8),
        )

    assert blocks("kim", "officer", 1)  # a colleague in the same role waits
    assert not blocks("olu", "officer", 1)  # the claimant, whatever the case of the id
    assert not blocks("mo", "manager", 1)  # the role it escalated to takes over
    assert not blocks("kim", "officer", 9)  # the claim has lapsed
