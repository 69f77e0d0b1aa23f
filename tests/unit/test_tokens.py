"""Tokens: a user, known roles, a bounded lifetime; anything else is refused."""

from __future__ import annotations

import time

import jwt
import pytest

from tokens import (
    ISSUER,
    MAX_TOKEN_LIFETIME_SECONDS,
    InvalidToken,
    create_token,
    read_token,
)

SECRET = "9f2c4e7a1b8d3f6051e2a9c7d4b0f8e3"


def signed(**claims: object) -> str:
    now = int(time.time())
    body = {
        "sub": "officer-1",
        "roles": ["officer"],
        "iat": now,
        "exp": now + 60,
        "iss": ISSUER,
        "jti": "token-1",
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_sound_token_names_its_user_and_roles() -> None:
    principal = read_token(SECRET, create_token(SECRET, "officer-1", ["officer"], 3600))
    assert (principal.user, principal.role_names) == ("officer-1", "officer")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": ""}, "names no user"),
        ({"sub": "   "}, "names no user"),
        ({"iat": None}, "not valid"),  # no issue time: its lifetime cannot be checked
        ({"jti": None}, "not valid"),  # no id: it could not be revoked
        ({"exp": int(time.time()) + 100 * 365 * 86400}, "longer than tokens may"),
        ({"roles": ["emperor"]}, "unknown role"),
    ],
)
def test_a_token_without_a_user_or_with_a_century_of_life_is_refused(
    claims: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidToken, match=message):
        read_token(SECRET, signed(**claims))


def test_no_token_is_minted_for_longer_than_the_maximum() -> None:
    with pytest.raises(ValueError, match="at most 31 days"):
        create_token(SECRET, "crm", ["case_system"], MAX_TOKEN_LIFETIME_SECONDS + 1)
    create_token(SECRET, "crm", ["case_system"], MAX_TOKEN_LIFETIME_SECONDS)
