"""Incident categories, channels and the two tracks of Appendix 1."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What the customer did (DESIGN: incident categories; HS 3.2-3.6, Magna lists)."""

    PHYSICAL_VIOLENCE = "physical_violence"
    THREAT_OF_VIOLENCE = "threat_of_violence"
    VERBAL_ABUSE = "verbal_abuse"
    DISCRIMINATORY_ABUSE = "discriminatory_abuse"
    INTIMIDATION_HARASSMENT = "intimidation_harassment"
    UNSUBSTANTIATED_ALLEGATIONS = "unsubstantiated_allegations"
    UNREASONABLE_DEMANDS = "unreasonable_demands"
    UNREASONABLE_PERSISTENCE = "unreasonable_persistence"
    VEXATIOUS_COMPLAINTS = "vexatious_complaints"


class Channel(StrEnum):
    """How the behaviour reached us; separate from what it was (HS 3.6)."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    LETTER = "letter"
    EMAIL = "email"
    SOCIAL_MEDIA = "social_media"


class Track(StrEnum):
    """The two branches of the HS Appendix 1 process map."""

    AGGRESSIVE = "aggressive_abusive"
    UNREASONABLE = "unreasonable_demands"


VIOLENT_CATEGORIES = frozenset({Category.PHYSICAL_VIOLENCE, Category.THREAT_OF_VIOLENCE})

AGGRESSIVE_CATEGORIES = VIOLENT_CATEGORIES | frozenset(
    {
        Category.VERBAL_ABUSE,
        Category.DISCRIMINATORY_ABUSE,
        Category.INTIMIDATION_HARASSMENT,
        Category.UNSUBSTANTIATED_ALLEGATIONS,
    }
)


def track_for(category: Category) -> Track:
    """The Appendix 1 track an incident of this category follows."""
    return Track.AGGRESSIVE if category in AGGRESSIVE_CATEGORIES else Track.UNREASONABLE


def is_violent(category: Category) -> bool:
    """Physical violence used or threatened: always reported to the police (HS 6.3.1)."""
    return category in VIOLENT_CATEGORIES
