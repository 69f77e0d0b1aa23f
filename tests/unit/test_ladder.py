"""Appendix 1 as pure functions: what follows an incident, which stage a case is at."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policy.categories import Category, Channel
from policy.ladder import LadderFacts, derive_stage, plan_after_incident, review_period_problem
from policy.tasks import Role, TaskKind, decider_role, escalation_role

NEW = LadderFacts(Category.UNREASONABLE_PERSISTENCE, Channel.EMAIL)  # the first round


def test_ladder_initial_then_formal_then_assessment() -> None:
    assert plan_after_incident(NEW).tasks == (TaskKind.INITIAL_WARNING,)
    warned = replace(NEW, initial_warning_given=True)
    assert plan_after_incident(warned).tasks == (TaskKind.FORMAL_WARNING,)
    formal = replace(warned, formal_warning_given=True)
    assert plan_after_incident(formal).tasks == (TaskKind.BEHAVIOUR_ASSESSMENT,)


def test_one_instance_does_not_warrant_an_assessment() -> None:
    assert TaskKind.BEHAVIOUR_ASSESSMENT not in plan_after_incident(NEW).tasks


def test_an_open_task_is_not_opened_twice() -> None:
    facts = replace(NEW, open_kinds=frozenset({TaskKind.INITIAL_WARNING}))
    assert plan_after_incident(facts).tasks == ()


def test_warning_given_by_the_officer_is_recorded_not_tasked() -> None:
    plan = plan_after_incident(replace(NEW, warned_by_officer="in_person"))
    assert plan.tasks == () and plan.initial_warning_recorded == "in_person"


def test_protocol_in_force_records_without_climbing() -> None:
    plan = plan_after_incident(replace(NEW, protocol_in_force=True, initial_warning_given=True))
    assert plan.tasks == ()


@pytest.mark.parametrize("category", [Category.PHYSICAL_VIOLENCE, Category.THREAT_OF_VIOLENCE])
def test_first_round_violence_ended_direct_contact_at_once(
    category: Category,
) -> None:
    plan = plan_after_incident(replace(NEW, category=category, channel=Channel.IN_PERSON))
    assert plan.risk_flag and plan.end_direct_contact
    assert plan.tasks == (TaskKind.POLICE_REPORT, TaskKind.TENANCY_ACTION)
    assert plan.letters == ("direct_contact_ended",)


def test_one_off_verbal_abuse_is_initial_warning_and_red_flag() -> None:
    plan = plan_after_incident(replace(NEW, category=Category.VERBAL_ABUSE, channel=Channel.PHONE))
    assert plan.risk_flag and plan.tasks == (TaskKind.INITIAL_WARNING,) and plan.letters == ()


def test_abusive_correspondence_notice_once() -> None:
    abusive = replace(NEW, category=Category.VERBAL_ABUSE)
    assert plan_after_incident(abusive).letters == ("abusive_correspondence",)
    assert plan_after_incident(replace(abusive, abusive_notice_sent=True)).letters == ()


def test_immediate_action_request_goes_to_a_director() -> None:
    plan = plan_after_incident(replace(NEW, immediate_action_requested=True))
    assert TaskKind.IMMEDIATE_ACTION in plan.tasks
    assert decider_role(TaskKind.IMMEDIATE_ACTION, "head_of_service") is Role.DIRECTOR


def test_review_decider_comes_from_the_profile() -> None:
    assert decider_role(TaskKind.PROTOCOL_REVIEW, "manager") is Role.MANAGER
    assert decider_role(TaskKind.PROTOCOL_REVIEW, "head_of_service") is Role.HEAD_OF_SERVICE


def test_escalation_climbs_one_role() -> None:
    assert [escalation_role(r) for r in Role] == [
        Role.MANAGER,
        Role.HEAD_OF_SERVICE,
        Role.DIRECTOR,
        Role.DIRECTOR,
    ]


@pytest.mark.parametrize(
    ("facts", "stage"),
    [
        ({}, "open"),
        ({"initial_warning_given": True}, "initial_warning"),
        ({"initial_warning_given": True, "formal_warning_given": True}, "formal_warning"),
        ({"open_kinds": frozenset({TaskKind.BEHAVIOUR_ASSESSMENT})}, "assessment"),
        ({"open_kinds": frozenset({TaskKind.IMMEDIATE_ACTION})}, "protocol_authorisation"),
        ({"direct_contact_ended": True}, "direct_contact_ended"),
        ({"protocol_in_force": True, "formal_warning_given": True}, "protocol_in_force"),
        ({"closed": True, "protocol_in_force": True}, "closed"),
    ],
)
def test_stage_is_derived_from_the_facts(facts: dict[str, object], stage: str) -> None:
    base: dict[str, object] = {
        "closed": False,
        "protocol_in_force": False,
        "open_kinds": frozenset(),
        "direct_contact_ended": False,
        "formal_warning_given": False,
        "initial_warning_given": False,
    }
    assert derive_stage(**{**base, **facts}) == stage  # type: ignore[arg-type]


def test_review_period_must_sit_within_the_profile() -> None:
    assert review_period_problem(5, 3, 12) is None
    assert review_period_problem(2, 3, 12) is not None
    assert review_period_problem(13, 3, 12) is not None


def test_harassment_goes_to_the_officer_to_consider_reporting_to_police() -> None:
    plan = plan_after_incident(replace(NEW, category=Category.INTIMIDATION_HARASSMENT))
    assert TaskKind.POLICE_REPORT in plan.tasks and plan.risk_flag
    assert TaskKind.TENANCY_ACTION not in plan.tasks and not plan.end_direct_contact
