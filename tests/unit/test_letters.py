"""Letter rendering: autoescaped, with a readable text part."""

from __future__ import annotations

import pytest

from letters.deliver import build_email, message_id
from letters.render import UnknownLetterError, html_to_text, render_letter

CONTEXT = {
    "customer_ref": "CUST-1",
    "customer_name": "<script>alert(1)</script> O'Brien",
    "postal_address": "1 High Street\nTown",
    "landlord_name": "Housing Solutions",
    "ombudsman": "the Housing Ombudsman Service",
    "letter_date": "21 November 2026",
    "behaviour_summary": "repeated contact",
}


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
