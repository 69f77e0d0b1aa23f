"""Letter rendering: autoescaped, with a readable text part."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from letters.deliver import build_email, message_id
from letters.render import (
    DEFAULT_CONTACTS,
    LandlordContacts,
    UnknownLetterError,
    html_to_text,
    letter_context,
    render_letter,
)
from settings import Settings
from workflows.steps import LETTER_DEFAULTS

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
CONTACTS = LandlordContacts(
    appeals_contact="Appeals Team, 1 Civic Way, Town",
    complaints_contact="Complaints Team, complaints@landlord.example",
    ombudsman_contact="Housing Ombudsman Service, PO Box 1484, Preston",
)
# What the workflow sends for a first-round initial warning, completed as the activity does.
CONTEXT = letter_context(
    {
        **LETTER_DEFAULTS,
        "ombudsman": "the Housing Ombudsman Service",
        "behaviour_summary": "repeated contact",
    },
    customer_ref="CUST-1",
    customer_name="<script>alert(1)</script> O'Brien",
    postal_address="1 High Street\nTown",
    landlord_name="Housing Solutions",
    contacts=CONTACTS,
    now=NOW,
)


def test_the_activity_adds_the_addressee_the_landlord_its_contacts_and_the_date() -> None:
    words = {**LETTER_DEFAULTS, "ombudsman": "the Housing Ombudsman Service"}
    context = letter_context(
        words,
        customer_ref="CUST-1",
        customer_name="Pat",
        postal_address=None,
        landlord_name="Magna",
        contacts=CONTACTS,
        now=NOW,
    )
    assert context == {
        "customer_ref": "CUST-1",
        "customer_name": "Pat",
        "postal_address": None,
        "landlord_name": "Magna",
        "appeals_contact": CONTACTS.appeals_contact,
        "complaints_contact": CONTACTS.complaints_contact,
        "ombudsman_contact": CONTACTS.ombudsman_contact,
        "letter_date": "21 November 2026",
        "copy_sent_to": "",
        "retention_period": "5 years",
        **words,
    }


def test_every_letter_shows_the_landlords_complaints_and_ombudsman_contacts() -> None:
    text = render_letter("initial_warning", CONTEXT).text
    assert CONTACTS.complaints_contact in text
    assert CONTACTS.ombudsman_contact in text


def test_the_settings_defaults_are_the_letters_defaults() -> None:
    fields = Settings.model_fields
    for name, value in asdict(DEFAULT_CONTACTS).items():
        assert fields[name].default == value, name
    assert "0300 111 3000" in DEFAULT_CONTACTS.ombudsman_contact


@pytest.mark.parametrize("name", ["appeals_contact", "complaints_contact", "ombudsman_contact"])
def test_a_letter_contact_may_not_be_left_empty(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings.model_validate({name: ""})


def test_customer_supplied_text_is_escaped_in_the_letter() -> None:
    letter = render_letter("initial_warning", CONTEXT)
    assert "<script>" not in letter.html
    assert "&lt;script&gt;" in letter.html


def test_initial_warning_says_what_why_what_next_and_the_ombudsman() -> None:
    text = render_letter("initial_warning", CONTEXT).text
    assert "What was unacceptable: repeated contact" in text
    assert "What we expect:" in text
    assert "What happens next:" in text
    assert "Housing Ombudsman Service" in text
    assert "<script>alert(1)</script> O'Brien" in text  # text part is plain text, unescaped


def test_a_missing_context_value_fails_loudly() -> None:
    with pytest.raises(Exception, match="behaviour_summary"):
        render_letter(
            "initial_warning", {k: v for k, v in CONTEXT.items() if k != "behaviour_summary"}
        )


def test_unknown_letter_kind_is_refused() -> None:
    with pytest.raises(UnknownLetterError):
        render_letter("eviction_notice", CONTEXT)


def test_html_to_text_keeps_words_apart() -> None:
    assert html_to_text("<p><strong>A:</strong> b</p><p>c</p>") == "A: b\n\nc\n"


def test_email_has_stable_message_id_and_both_parts() -> None:
    letter = render_letter("initial_warning", CONTEXT)
    message = build_email("case/1:initial_warning", "from@x.example", "to@y.example", letter)
    assert message["Message-ID"] == message_id("case/1:initial_warning")
    assert message_id("a") != message_id("b")
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
