"""E-mail addresses: one parser for intake and for delivery."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalised_address(value: str) -> str:
    """One deliverable e-mail address, normalised; EmailNotValidError says why not.

    Parsed by ``email-validator`` (the parser behind pydantic's ``EmailStr``), without DNS
    look-ups: display names ("Pat <pat@example.org>"), lists, quoted local parts, IP-literal
    domains and special-use domains (``.local``, ``.test``...) are refused; internationalised
    addresses are accepted. The domain is lower-cased and the whole address NFC-normalised.
    """
    return validate_email(
        value,
        check_deliverability=False,
        allow_display_name=False,
        allow_quoted_local=False,
        allow_domain_literal=False,
        allow_empty_local=False,
        allow_smtputf8=True,
        globally_deliverable=True,
        test_environment=False,
    ).normalized


def usable_address(value: str) -> bool:
    """Whether a letter can be addressed to ``value`` (the check intake applies)."""
    try:
        normalised_address(value)
    except EmailNotValidError:
        return False
    return True
