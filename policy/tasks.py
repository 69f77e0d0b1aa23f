"""Human decisions: the kinds of task, who decides each, and the outcomes allowed."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who may decide (DESIGN: who uses it)."""

    OFFICER = "officer"
    MANAGER = "manager"
    HEAD_OF_SERVICE = "head_of_service"
    DIRECTOR = "director"


class TaskKind(StrEnum):
    """Every decision a person takes on a case."""

    INITIAL_WARNING = "initial_warning"
    FORMAL_WARNING = "formal_warning"
    BEHAVIOUR_ASSESSMENT = "behaviour_assessment"
    PROTOCOL_AUTHORISATION = "protocol_authorisation"
    APPEAL_DECISION = "appeal_decision"
    PROTOCOL_REVIEW = "protocol_review"
    POLICE_REPORT = "police_report"
    TENANCY_ACTION = "tenancy_action"
    IMMEDIATE_ACTION = "immediate_action"


OUTCOMES: dict[TaskKind, frozenset[str]] = {
    TaskKind.INITIAL_WARNING: frozenset({"issued", "not_warranted"}),
    TaskKind.FORMAL_WARNING: frozenset({"issued", "not_warranted"}),
    TaskKind.BEHAVIOUR_ASSESSMENT: frozenset(
        {"unacceptable", "not_unacceptable", "refer_for_support"}
    ),
    TaskKind.PROTOCOL_AUTHORISATION: frozenset({"authorised", "declined"}),
    TaskKind.APPEAL_DECISION: frozenset({"upheld", "overturned", "varied"}),
    TaskKind.PROTOCOL_REVIEW: frozenset({"continue", "vary", "end"}),
    TaskKind.POLICE_REPORT: frozenset({"reported", "not_reported"}),
    TaskKind.TENANCY_ACTION: frozenset({"nosp_served", "injunction_sought", "no_action"}),
    TaskKind.IMMEDIATE_ACTION: frozenset({"approved", "refused"}),
}

_FIXED_DECIDER: dict[TaskKind, Role] = {
    TaskKind.INITIAL_WARNING: Role.OFFICER,
    TaskKind.FORMAL_WARNING: Role.OFFICER,
    TaskKind.BEHAVIOUR_ASSESSMENT: Role.MANAGER,
    TaskKind.PROTOCOL_AUTHORISATION: Role.HEAD_OF_SERVICE,
    TaskKind.APPEAL_DECISION: Role.DIRECTOR,
    TaskKind.POLICE_REPORT: Role.OFFICER,
    TaskKind.TENANCY_ACTION: Role.DIRECTOR,
    TaskKind.IMMEDIATE_ACTION: Role.DIRECTOR,
}

_ESCALATES_TO: dict[Role, Role] = {
    Role.OFFICER: Role.MANAGER,
    Role.MANAGER: Role.HEAD_OF_SERVICE,
    Role.HEAD_OF_SERVICE: Role.DIRECTOR,
    Role.DIRECTOR: Role.DIRECTOR,
}


def decider_role(kind: TaskKind, review_decider: str) -> Role:
    """The role that decides a task of this kind (protocol reviews: per profile)."""
    if kind is TaskKind.PROTOCOL_REVIEW:
        return Role(review_decider)
    return _FIXED_DECIDER[kind]


def escalation_role(role: Role) -> Role:
    """Who is told when a task of ``role`` is overdue (the next role up)."""
    return _ESCALATES_TO[role]
