"""What happens next on a case: pure functions of the case's facts."""

from __future__ import annotations

from policy.categories import Category, Track, track_for


def stage_after_incident(current_stage: str, category: Category) -> str:
    """The stage a case shows once an incident is recorded (a new case starts 'open')."""
    if current_stage == "closed":
        return "open"
    return current_stage


def needs_initial_warning(category: Category, initial_warning_given: bool) -> bool:
    """HS 6.5.1 / Appendix 1: the first incident on either track earns an initial warning."""
    return not initial_warning_given and track_for(category) in (
        Track.UNREASONABLE,
        Track.AGGRESSIVE,
    )


_BEHAVIOUR_WORDS: dict[Category, str] = {
    Category.PHYSICAL_VIOLENCE: "physical violence towards our staff",
    Category.THREAT_OF_VIOLENCE: "threatening violence towards our staff",
    Category.VERBAL_ABUSE: "abusive, rude or derogatory language towards our staff",
    Category.DISCRIMINATORY_ABUSE: "discriminatory, sexualised or misogynistic remarks",
    Category.INTIMIDATION_HARASSMENT: "intimidating or harassing behaviour",
    Category.UNSUBSTANTIATED_ALLEGATIONS: "unsubstantiated allegations, including on social media",
    Category.UNREASONABLE_DEMANDS: "unreasonable demands on our time and resources",
    Category.UNREASONABLE_PERSISTENCE: "raising the same matter again and again after our answer",
    Category.VEXATIOUS_COMPLAINTS: "complaints made to cause aggravation, not to resolve an issue",
}


def behaviour_summary(category: Category) -> str:
    """The plain words a letter uses for the behaviour (never the internal description)."""
    return _BEHAVIOUR_WORDS[category]
