"""Human decisions: the kinds of task, who decides each, and the outcomes allowed."""

from __future__ import annotations

from datetime import datetime, timedelta
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
    # HS 6.3.1 with 6.5: after violence or a threat, a Director decides whether to end
    # direct contact (urgent; interim staff-safety measures apply meanwhile).
    END_DIRECT_CONTACT = "end_direct_contact"
    # Magna: "We will offer to refer them to an appropriate agency if they agree."
    SUPPORT_REFERRAL = "support_referral"
    # Magna "a warning flag may be applied"; HS 6.3.5 risk management: a manager applies,
    # keeps or removes the risk flag, and it comes up for review like a restriction.
    RISK_FLAG_DECISION = "risk_flag_decision"
    # Magna: colleagues "talk with their line manager ... to help identify any support
    # needs and / or follow up action"; HS 2.2: officers discuss concerns with their manager.
    COLLEAGUE_SUPPORT = "colleague_support"
    # Not a policy step: a letter could not be delivered and staff must fix its address.
    LETTER_UNDELIVERABLE = "letter_undeliverable"


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
    TaskKind.END_DIRECT_CONTACT: frozenset({"ended", "declined"}),
    TaskKind.SUPPORT_REFERRAL: frozenset({"referred", "not_referred"}),
    TaskKind.RISK_FLAG_DECISION: frozenset({"applied", "removed"}),
    TaskKind.COLLEAGUE_SUPPORT: frozenset({"support_offered", "no_support_needed"}),
    TaskKind.LETTER_UNDELIVERABLE: frozenset({"resend", "send_by_post"}),
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
    TaskKind.END_DIRECT_CONTACT: Role.DIRECTOR,
    TaskKind.SUPPORT_REFERRAL: Role.OFFICER,
    TaskKind.RISK_FLAG_DECISION: Role.MANAGER,
    TaskKind.COLLEAGUE_SUPPORT: Role.MANAGER,
    TaskKind.LETTER_UNDELIVERABLE: Role.OFFICER,
}

_ESCALATES_TO: dict[Role, Role] = {
    Role.OFFICER: Role.MANAGER,
    Role.MANAGER: Role.HEAD_OF_SERVICE,
    Role.HEAD_OF_SERVICE: Role.DIRECTOR,
    Role.DIRECTOR: Role.DIRECTOR,
}


# Tasks that cannot wait the usual days: staff safety after violence or a threat.
URGENT_KINDS = frozenset({TaskKind.END_DIRECT_CONTACT})


def decider_role(kind: TaskKind, review_decider: str, *, restriction: str | None = None) -> Role:
    """The role that decides a task of this kind.

    Reviews are the profile's reviewer's, except that ending direct contact, signed off by
    a Director (HS 6.5), is reviewed by a Director too.
    """
    if kind is TaskKind.PROTOCOL_REVIEW:
        if restriction == "direct_contact_ended":
            return Role.DIRECTOR
        return Role(review_decider)
    return _FIXED_DECIDER[kind]


def escalation_role(role: Role) -> Role:
    """Who is told when a task of ``role`` is overdue (the next role up)."""
    return _ESCALATES_TO[role]


def claim_blocks(
    *,
    claimed_by: str | None,
    claimed_at: datetime | None,
    user: str,
    acting_role: str,
    task_role: str,
    now: datetime,
    claim_lasts: timedelta,
) -> bool:
    """Whether a colleague's claim keeps ``user`` from a task. A claim says "I am dealing
    with it", not "nobody else may": it lapses after ``claim_lasts``, and a role the task
    escalated to (acting above the task's own role) may take it over."""
    if claimed_by is None or claimed_by.casefold() == user.casefold():
        return False
    if claimed_at is not None and claimed_at + claim_lasts <= now:
        return False
    return acting_role == task_role


def release_allowed(*, claimed_by: str | None, user: str, acting_role: str, task_role: str) -> bool:
    """Whether ``user`` (acting in ``acting_role``) may release a task's claim: the
    claimant may, and so may a role the task escalated to (acting above its own role);
    a colleague in the task's own role may not. An unclaimed task has nothing to release."""
    if claimed_by is None:
        return False
    if claimed_by.casefold() == user.casefold():
        return True
    return acting_role != task_role


def escalation_chain(role: Role, escalated_to: Role | None) -> frozenset[Role]:
    """Every role that may decide a task of ``role`` escalated up to ``escalated_to``."""
    chain = {role}
    current = role
    while escalated_to is not None and current != escalated_to:
        current = _ESCALATES_TO[current]
        chain.add(current)
        if current is Role.DIRECTOR:
            break
    return frozenset(chain)
