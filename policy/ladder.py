"""What happens next on a case: pure functions of the case's facts."""

from __future__ import annotations

from dataclasses import dataclass

from policy.categories import Category, Channel, Track, is_violent, track_for
from policy.tasks import TaskKind

WRITTEN_CHANNELS = frozenset({Channel.LETTER, Channel.EMAIL, Channel.SOCIAL_MEDIA})
# HS 6.3.6: for "a starter/assured or fixed term tenancy" a breach may lead to enforcement.
TENANCIES = ("starter", "assured", "fixed_term", "other", "not_a_tenant")
ENFORCEABLE_TENANCIES = frozenset({"starter", "assured", "fixed_term"})


@dataclass(frozen=True)
class LadderFacts:
    """What the ladder needs to know about the case when an incident arrives."""

    category: Category
    channel: Channel
    warned_by_officer: str | None = None
    immediate_action_requested: bool = False
    initial_warning_given: bool = False
    formal_warning_given: bool = False
    protocol_in_force: bool = False
    direct_contact_ended: bool = False
    abusive_notice_sent: bool = False
    open_kinds: frozenset[TaskKind] = frozenset()
    # Cases started before the second round of the policy keep its first-round rules
    # (their saved histories replay with them); see "Changing workflow code safely".
    round_two: bool = False
    risk_flag: bool = False
    # Incidents since the formal warning, this one included, and how many warrant an
    # assessment (HS 6.5.3: one instance does not automatically).
    incidents_since_formal_warning: int = 0
    incidents_before_assessment: int = 2
    # The customer's tenancy, when known (one of TENANCIES).
    tenancy: str | None = None
    # A colleague was on the receiving end (Magna staff support).
    colleague_affected: bool = False


@dataclass(frozen=True)
class IncidentPlan:
    """What follows from one incident: tasks to open, flags to set, letters to send."""

    tasks: tuple[TaskKind, ...] = ()
    risk_flag: bool = False
    end_direct_contact: bool = False
    letters: tuple[str, ...] = ()
    initial_warning_recorded: str | None = None
    # Staff-safety measures at once, until a Director decides on ending contact.
    interim_measures: bool = False


def plan_after_incident(facts: LadderFacts) -> IncidentPlan:
    """Appendix 1 of the HS policy, for one incident (both profiles share the map)."""
    if not facts.round_two:
        return _plan_first_round(facts)
    tasks: list[TaskKind] = []
    letters: list[str] = []
    if facts.immediate_action_requested and not facts.protocol_in_force:
        tasks.append(TaskKind.IMMEDIATE_ACTION)  # HS 6.5: a Director may sign off
    aggressive = track_for(facts.category) is Track.AGGRESSIVE
    if aggressive and facts.colleague_affected:
        tasks.append(TaskKind.COLLEAGUE_SUPPORT)  # the colleague's line manager follows up
    if aggressive and (
        facts.tenancy in ENFORCEABLE_TENANCIES
        or (facts.tenancy is None and is_violent(facts.category))
    ):
        # HS 6.3.6 / Appendix 1 (aggressive: breach of tenancy, NOSP, injunction), for the
        # tenancies it names; after violence also when the tenancy is not known yet.
        tasks.append(TaskKind.TENANCY_ACTION)
    if is_violent(facts.category):
        # HS 6.3.1 "likely to result in the ending of all direct contact", signed off by a
        # Director (HS 6.5): an urgent decision, with interim staff-safety measures and the
        # risk flag at once; always reported to the police.
        tasks += [TaskKind.END_DIRECT_CONTACT, TaskKind.POLICE_REPORT]
        return IncidentPlan(
            tasks=_not_open(tasks, facts.open_kinds), risk_flag=True, interim_measures=True
        )
    if facts.category in (Category.VERBAL_ABUSE, Category.INTIMIDATION_HARASSMENT):
        # HS 6.3.1: verbal abuse or harassment "will normally be reported to the police";
        # Magna: harassment may be reported. The officer decides, with a reason.
        tasks.append(TaskKind.POLICE_REPORT)
    notice = aggressive and facts.channel in WRITTEN_CHANNELS and not facts.abusive_notice_sent
    if notice:
        letters.append("abusive_correspondence")  # HS 6.3.3
    warned_now: str | None = None
    if not facts.protocol_in_force:
        if not facts.initial_warning_given:
            if facts.warned_by_officer:
                # HS 6.5.1: a warning by phone or in person counts; it is confirmed in
                # writing (in the notice when one goes out: one letter per incident).
                warned_now = facts.warned_by_officer
                if not notice:
                    letters.append("initial_warning")
            elif notice:
                warned_now = "letter"  # HS 6.5.1: told in writing that it is unacceptable
            else:
                tasks.append(TaskKind.INITIAL_WARNING)
        elif not facts.formal_warning_given:
            tasks.append(TaskKind.FORMAL_WARNING)  # HS 6.5.2
        elif facts.incidents_since_formal_warning >= facts.incidents_before_assessment:
            # HS 6.5.3: "one instance ... does not automatically warrant an assessment".
            tasks.append(TaskKind.BEHAVIOUR_ASSESSMENT)
    if aggressive and not facts.risk_flag:
        # Magna: "a warning flag may be applied": a manager decides, with a reason.
        tasks.append(TaskKind.RISK_FLAG_DECISION)
    return IncidentPlan(
        tasks=_not_open(tasks, facts.open_kinds),
        letters=tuple(letters),
        initial_warning_recorded=warned_now,
    )


def _plan_first_round(facts: LadderFacts) -> IncidentPlan:
    """The first round's rules, unchanged: cases started before the second replay them."""
    tasks: list[TaskKind] = []
    letters: list[str] = []
    if facts.immediate_action_requested and not facts.protocol_in_force:
        tasks.append(TaskKind.IMMEDIATE_ACTION)  # HS 6.5: a Director may sign off
    if is_violent(facts.category):
        # HS 6.3.1: end direct contact; always report to police; HS 6.3.6 tenancy action.
        tasks += [TaskKind.POLICE_REPORT, TaskKind.TENANCY_ACTION]
        if not facts.direct_contact_ended:
            letters.append("direct_contact_ended")
        return IncidentPlan(
            tasks=_not_open(tasks, facts.open_kinds),
            risk_flag=True,
            end_direct_contact=not facts.direct_contact_ended,
            letters=tuple(letters),
        )
    if facts.category is Category.INTIMIDATION_HARASSMENT:
        # HS 6.3.1 "normally reported"; Magna: harassment may be reported. The officer decides.
        tasks.append(TaskKind.POLICE_REPORT)
    aggressive = track_for(facts.category) is Track.AGGRESSIVE
    if aggressive and facts.channel in WRITTEN_CHANNELS and not facts.abusive_notice_sent:
        letters.append("abusive_correspondence")  # HS 6.3.3
    warned_now: str | None = None
    if not facts.protocol_in_force:
        if not facts.initial_warning_given:
            if facts.warned_by_officer:
                warned_now = facts.warned_by_officer  # HS 6.5.1: counts as the initial warning
            else:
                tasks.append(TaskKind.INITIAL_WARNING)
        elif not facts.formal_warning_given:
            tasks.append(TaskKind.FORMAL_WARNING)  # HS 6.5.2
        else:
            tasks.append(TaskKind.BEHAVIOUR_ASSESSMENT)  # HS 6.5.3
    return IncidentPlan(
        tasks=_not_open(tasks, facts.open_kinds),
        risk_flag=aggressive,  # Appendix 1: one-off abusive incident -> red flag
        letters=tuple(letters),
        initial_warning_recorded=warned_now,
    )


def _not_open(kinds: list[TaskKind], open_kinds: frozenset[TaskKind]) -> tuple[TaskKind, ...]:
    return tuple(k for k in kinds if k not in open_kinds)


def derive_stage(
    *,
    closed: bool,
    protocol_in_force: bool,
    open_kinds: frozenset[TaskKind],
    direct_contact_ended: bool,
    formal_warning_given: bool,
    initial_warning_given: bool,
    restriction: str | None = None,
) -> str:
    """The case's stage (the CaseStage search attribute), derived from its facts.

    ``restriction`` is the kind of restriction in force (second round only)."""
    if closed:
        return "closed"
    if restriction == "direct_contact_ended":
        return "direct_contact_ended"
    if protocol_in_force:
        return "protocol_in_force"
    if open_kinds & {TaskKind.PROTOCOL_AUTHORISATION, TaskKind.IMMEDIATE_ACTION}:
        return "protocol_authorisation"
    if TaskKind.END_DIRECT_CONTACT in open_kinds:
        return "direct_contact_decision"
    if TaskKind.BEHAVIOUR_ASSESSMENT in open_kinds:
        return "assessment"
    if direct_contact_ended:
        return "direct_contact_ended"
    if formal_warning_given:
        return "formal_warning"
    if initial_warning_given:
        return "initial_warning"
    return "open"


def review_period_problem(seconds: int, minimum: int, maximum: int) -> str | None:
    """HS 6.5.6 (six months) / Magna (3 to 12 months): is this review period allowed?"""
    if not minimum <= seconds <= maximum:
        return f"review period must be between {minimum} and {maximum} seconds, not {seconds}"
    return None


_BEHAVIOUR_WORDS: dict[Category, str] = {
    Category.PHYSICAL_VIOLENCE: "physical violence towards our staff",
    Category.THREAT_OF_VIOLENCE: "threatening violence towards our staff",
    Category.VERBAL_ABUSE: "abusive, rude or derogatory language towards our staff",
    Category.DISCRIMINATORY_ABUSE: "discriminatory, sexualised or misogynistic remarks",
    Category.INTIMIDATION_HARASSMENT: "intimidating or harassing behaviour",
    Category.UNSUBSTANTIATED_ALLEGATIONS: (
        "allegations about our staff or other customers, including on social media"
    ),
    Category.UNREASONABLE_DEMANDS: "unreasonable demands on our time and resources",
    Category.UNREASONABLE_PERSISTENCE: "raising the same matter again and again after our answer",
    Category.VEXATIOUS_COMPLAINTS: "complaints made to cause aggravation, not to resolve an issue",
}


def behaviour_summary(category: Category) -> str:
    """The plain words a letter uses for the behaviour (never the internal description)."""
    return _BEHAVIOUR_WORDS[category]
