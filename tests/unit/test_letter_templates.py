"""Every letter kind: says what the policies require, escapes input, needs all its variables."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import UndefinedError

from letters.render import SUBJECTS, render_letter

BASE: dict[str, Any] = {
    "customer_ref": "CUST-1",
    "customer_name": "Ms A O'Brien",
    "postal_address": "1 High Street\nTown",
    "landlord_name": "Housing Solutions",
    "ombudsman": "the Housing Ombudsman Service",
    "letter_date": "21 November 2026",
}

TERMS = "Contact us in writing only\n\n  Telephone calls on Tuesdays, 10am to 12pm  \n"
TERM_LINES = ["Contact us in writing only", "Telephone calls on Tuesdays, 10am to 12pm"]
APPEAL_ROUTE = "Write to us saying why; a Director not involved will consider your appeal."
COMPLAINTS_ROUTE = "You can also ask for this to be considered under our complaints policy."

# Each kind's extra variables, chosen so that every variable is shown in the letter.
EXTRAS: dict[str, dict[str, str]] = {
    "initial_warning": {"behaviour_summary": "forty calls in one day"},
    "formal_warning": {"behaviour_summary": "forty calls in one day"},
    "abusive_correspondence": {"behaviour_summary": "swearing at staff in emails"},
    "protocol": {
        "behaviour_summary": "forty calls in one day",
        "terms": TERMS,
        "review_date": "21 May 2027",
        "appeal_route": APPEAL_ROUTE,
        "complaints_route": COMPLAINTS_ROUTE,
    },
    "appeal_outcome": {
        "outcome": "varied",
        "reason": "the Director found one call a week is enough",
        "terms": TERMS,
        "review_date": "21 May 2027",
    },
    "review_outcome": {
        "outcome": "varied",
        "reason": "contact has improved",
        "terms": TERMS,
        "next_review_date": "21 November 2027",
    },
    "case_closed": {},
    "direct_contact_ended": {"behaviour_summary": "threatened an officer", "terms": TERMS},
}

# Other valid outcomes: a missing variable must fail whatever the outcome.
VARIANTS: list[tuple[str, dict[str, str]]] = [
    *EXTRAS.items(),
    ("appeal_outcome", {**EXTRAS["appeal_outcome"], "outcome": "upheld", "terms": ""}),
    ("appeal_outcome", {**EXTRAS["appeal_outcome"], "outcome": "overturned", "terms": ""}),
    ("review_outcome", {**EXTRAS["review_outcome"], "outcome": "continued"}),
    (
        "review_outcome",
        {**EXTRAS["review_outcome"], "outcome": "ended", "terms": "", "next_review_date": ""},
    ),
]


def render_text(kind: str, **extras: str) -> str:
    return render_letter(kind, {**BASE, **extras}).text


def test_every_kind_has_a_subject_and_a_full_context() -> None:
    assert set(EXTRAS) == set(SUBJECTS)
    for subject in SUBJECTS.values():
        assert "O'Brien" not in subject and "CUST-1" not in subject


@pytest.mark.parametrize("kind", sorted(EXTRAS))
def test_every_letter_greets_dates_and_names_the_ombudsman(kind: str) -> None:
    text = render_text(kind, **EXTRAS[kind])
    assert "Dear Ms A O'Brien," in text
    assert "Our reference: CUST-1" in text
    assert "21 November 2026" in text
    assert "the Housing Ombudsman Service" in text
    assert "reasonable adjustments" in text
    assert SUBJECTS[kind] in text


def test_postal_address_may_be_left_out() -> None:
    letter = render_letter("case_closed", {**BASE, "postal_address": None})
    assert "<address>" not in letter.html
    assert "High Street" not in letter.text


def test_formal_warning_says_what_was_wrong_and_that_we_will_reassess() -> None:
    text = render_text("formal_warning", behaviour_summary="forty calls in one day")
    assert "formal written warning" in text
    assert "What was unacceptable: forty calls in one day" in text
    assert "What we expect:" in text
    assert "reassess how we manage our communication" in text
    assert "Unacceptable Behaviour Assessment" in text
    assert "communication protocol" in text


def test_abusive_correspondence_asks_to_stop_and_warns_of_no_reply() -> None:
    text = render_text("abusive_correspondence", behaviour_summary="swearing at staff")
    assert "What was unacceptable: swearing at staff" in text
    assert "offensive, unnecessary and unhelpful" in text
    assert "please stop using this kind of language" in text
    assert "we will not respond to it" in text
    assert "through a third party" in text


def test_protocol_sets_out_terms_duration_appeal_and_consequences() -> None:
    text = render_text("protocol", **EXTRAS["protocol"])
    assert "forty calls in one day" in text
    for line in TERM_LINES:
        assert f"- {line}\n" in text
    assert "-" not in text.splitlines()  # blank lines in terms are not listed
    assert "review them on 21 May 2027" in text
    assert APPEAL_ROUTE in text
    assert COMPLAINTS_ROUTE in text
    assert "At least one way to contact us will always stay open" in text
    assert "If the behaviour continues" in text
    assert "the Housing Ombudsman Service" in text


def test_protocol_leaves_out_the_complaints_paragraph_when_empty() -> None:
    with_route = render_letter("protocol", {**BASE, **EXTRAS["protocol"]})
    without = render_letter("protocol", {**BASE, **EXTRAS["protocol"], "complaints_route": ""})
    assert COMPLAINTS_ROUTE not in without.text
    assert with_route.html.count("<p>") == without.html.count("<p>") + 1


@pytest.mark.parametrize(
    ("outcome", "shows_terms", "phrase"),
    [
        ("upheld", False, "will stay in place as it was"),
        ("overturned", False, "We have removed the communication protocol"),
        ("varied", True, "we have changed the communication protocol"),
    ],
)
def test_appeal_outcome_wording_and_terms_follow_the_outcome(
    outcome: str, shows_terms: bool, phrase: str
) -> None:
    text = render_text(
        "appeal_outcome", outcome=outcome, reason="because", terms=TERMS, review_date="1 May 2027"
    )
    assert phrase in text
    assert "Why: because" in text
    assert "1 May 2027" in text
    assert "complaints procedure" in text
    assert "the Housing Ombudsman Service" in text
    for line in TERM_LINES:
        assert (f"- {line}" in text) is shows_terms
    others = {"upheld", "overturned", "varied"} - {outcome}
    for other in others:
        other_phrase = {
            "upheld": "will stay in place as it was",
            "overturned": "We have removed the communication protocol",
            "varied": "we have changed the communication protocol",
        }[other]
        assert other_phrase not in text


def test_review_ended_and_continued_say_different_things() -> None:
    ended = render_text(
        "review_outcome", outcome="ended", reason="no problems", terms="", next_review_date=""
    )
    continued = render_text(
        "review_outcome",
        outcome="continued",
        reason="calls continued",
        terms=TERMS,
        next_review_date="21 November 2027",
    )
    assert "decided to end the communication protocol" in ended
    assert "you can contact us in the usual ways again" in ended
    assert "review the protocol again" not in ended
    assert "will continue" not in ended
    assert "will continue, with the same arrangements as before" in continued
    assert "decided to end" not in continued
    assert "review the protocol again on 21 November 2027" in continued
    for line in TERM_LINES:
        assert f"- {line}" in continued
        assert f"- {line}" not in ended
    assert "Why: no problems" in ended and "Why: calls continued" in continued


def test_review_varied_lists_the_new_terms() -> None:
    text = render_text("review_outcome", **EXTRAS["review_outcome"])
    assert "with changed arrangements" in text
    for line in TERM_LINES:
        assert f"- {line}" in text


@pytest.mark.parametrize("kind", ["appeal_outcome", "review_outcome"])
def test_an_unknown_outcome_does_not_produce_a_letter(kind: str) -> None:
    with pytest.raises(UndefinedError):
        render_text(kind, **{**EXTRAS[kind], "outcome": "maybe"})


def test_case_closed_explains_normal_contact_and_the_12_month_rule() -> None:
    text = render_text("case_closed")
    assert "we have closed our case" in text
    assert "Thank you" in text
    assert "contact us in the usual ways" in text
    assert "we keep a record of this case" in text
    assert "closed for 12 months" in text


def test_direct_contact_ended_gives_routes_police_and_separate_legal_process() -> None:
    text = render_text("direct_contact_ended", **EXTRAS["direct_contact_ended"])
    assert "What was unacceptable: threatened an officer" in text
    assert "ending all direct contact" in text
    for line in TERM_LINES:
        assert f"- {line}" in text
    assert "police" in text
    assert "its own legal process" in text
    assert "cannot be appealed under this policy" in text
    assert "the Housing Ombudsman Service" in text


@pytest.mark.parametrize(
    ("kind", "variable"),
    [
        (kind, variable)
        for kind, extras in EXTRAS.items()
        for variable in [*BASE, *extras]
        if variable != "outcome"
    ],
)
def test_script_in_any_variable_is_escaped(kind: str, variable: str) -> None:
    evil = '<script>alert("x")</script>'
    context = {**BASE, **EXTRAS[kind], variable: evil}
    letter = render_letter(kind, context)
    assert "<script>" not in letter.html
    assert "&lt;script&gt;" in letter.html  # the value was shown, escaped
    assert evil in letter.text  # and reads as plain text


@pytest.mark.parametrize(
    ("kind", "extras", "missing"),
    [
        pytest.param(kind, extras, missing, id=f"{kind}-{extras.get('outcome', '')}-{missing}")
        for kind, extras in VARIANTS
        for missing in [*BASE, *extras]
    ],
)
def test_leaving_out_any_variable_fails_loudly(
    kind: str, extras: dict[str, str], missing: str
) -> None:
    context = {k: v for k, v in {**BASE, **extras}.items() if k != missing}
    with pytest.raises(UndefinedError, match=f"'{missing}' is undefined"):
        render_letter(kind, context)
