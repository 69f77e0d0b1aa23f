"""Communication protocol terms and assessment factors, and the rules on them."""

from __future__ import annotations

from dataclasses import dataclass, field

# HS 6.4.2: the methods contact may be restricted to; "third_party" is HS 6.3.2 / 6.4.4.
CONTACT_METHODS = frozenset({"letter", "email", "phone", "in_person", "third_party", "online"})


@dataclass
class ProtocolTerms:
    """HS 6.5.4: what a communication protocol sets out. Arrangements only, never reasons."""

    contact_methods: list[str] = field(default_factory=list)
    single_point_of_contact: str | None = None
    contact_times: str | None = None
    topics: str | None = None
    appointment_only: bool = False
    visits_in_pairs: bool = False
    issue_limit: str | None = None
    health_and_safety_only: bool = False
    other: str | None = None


@dataclass
class AssessmentFactors:
    """HS 6.5.3: what the manager weighed in the Unacceptable Behaviour Assessment."""

    instances: int
    contact_levels: str
    language: str
    needs_and_circumstances: str


def terms_problems(terms: ProtocolTerms) -> list[str]:
    """Why these terms may not be used (empty when they may)."""
    problems = []
    unknown = sorted(set(terms.contact_methods) - CONTACT_METHODS)
    if unknown:
        problems.append(f"unknown contact method(s) {unknown}; use {sorted(CONTACT_METHODS)}")
    if not terms.contact_methods:
        problems.append("at least one form of contact must stay open (HS 6.4.4)")
    return problems


def arrangements(terms: ProtocolTerms) -> list[str]:
    """The arrangements in plain words: what staff and contractors need to know."""
    named = {
        "letter": "by letter",
        "email": "by email",
        "phone": "by telephone",
        "in_person": "in person",
        "third_party": "through a third party or advocate",
        "online": "through the online portal",
    }
    lines = ["Contact only " + ", ".join(named[m] for m in terms.contact_methods if m in named)]
    if terms.single_point_of_contact:
        lines.append(f"All contact through the named contact: {terms.single_point_of_contact}")
    if terms.contact_times:
        lines.append(f"Contact times: {terms.contact_times}")
    if terms.topics:
        lines.append(f"Topics dealt with: {terms.topics}")
    if terms.issue_limit:
        lines.append(f"Issues considered: {terms.issue_limit}")
    if terms.appointment_only:
        lines.append("Office visits by appointment only")
    if terms.visits_in_pairs:
        lines.append("Staff and contractors visit in pairs")
    if terms.health_and_safety_only:
        lines.append("Only health and safety issues will be dealt with until the review")
    if terms.other:
        lines.append(terms.other)
    return lines


# Staff safety while a Director decides whether to end direct contact (HS 6.3.1).
INTERIM_MEASURES = (
    "Staff and contractors visit in pairs",
    "No lone visits or meetings until a Director has decided",
)

DIRECT_CONTACT_ENDED = ProtocolTerms(
    contact_methods=["letter", "third_party"], visits_in_pairs=True, appointment_only=True
)
