"""E-mail addresses are parsed by email-validator: one deliverable address, normalised."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.base import ApiModel, EmailAddress


class Contact(ApiModel):
    email: EmailAddress | None = None


def refusal(address: str) -> str:
    with pytest.raises(ValidationError) as refused:
        Contact(email=address)
    [error] = refused.value.errors()
    assert error["loc"] == ("email",)
    message: str = error["msg"]
    return message


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("pat@example.org", "pat@example.org"),
        ("pat+ucb-case@example.org", "pat+ucb-case@example.org"),
        ("Pat.Lee@Example.ORG", "Pat.Lee@example.org"),  # the domain is lower-cased
        ("o'neill@housing.example.co.uk", "o'neill@housing.example.co.uk"),
        ("josé@example.org", "josé@example.org"),
        ("用户@例子.广告", "用户@例子.广告"),
        ("jose\u0301@example.org", "jos\u00e9@example.org"),  # NFC-normalised
    ],
)
def test_valid_addresses_are_accepted_in_normalised_form(address: str, stored: str) -> None:
    assert Contact(email=address).email == stored


@pytest.mark.parametrize(
    "address",
    [
        "victim@[example.org",
        "pat@example.org,attacker",
        "A <a@b.org>",
        "a@b.org, c@d.org",
        "a@b.org c@d.org",
        "a@b.org;c@d.org",
        "a@example.org.",
        '"pat lee"@example.org',
        "pat@[192.0.2.1]",
        "pat@[IPv6:2001:db8::1]",
        "pat@localhost",
        "pat@example",
        "pat@host.local",
        "pat@host.test",
        "pat@@example.org",
        "pat..lee@example.org",
        ".pat@example.org",
        "@example.org",
        "pat@",
        "not-an-address",
        " pat@example.org",
        "",
    ],
)
def test_anything_but_one_deliverable_address_is_refused_naming_the_field(address: str) -> None:
    assert "email must be a single e-mail address" in refusal(address)


def test_overlong_addresses_are_refused_before_parsing() -> None:
    with pytest.raises(ValidationError) as refused:
        Contact(email="a" * 64 + "@" + "b" * 186 + ".org")  # 255 characters
    assert refused.value.errors()[0]["type"] == "string_too_long"


def test_the_reason_is_given() -> None:
    assert "period" in refusal("a@example.org.")
    assert "display name" in refusal("A <a@b.org>")


def test_the_published_schema_says_email() -> None:
    schema = Contact.model_json_schema()["properties"]["email"]["anyOf"][0]
    assert schema == {"type": "string", "format": "email", "maxLength": 254}
