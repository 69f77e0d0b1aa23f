"""Signed bearer tokens: a user id, roles and an expiry (HS256, key from settings)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

ISSUER = "ucb-cases"


class ApiRole(StrEnum):
    """Every role a token may carry."""

    OFFICER = "officer"
    MANAGER = "manager"
    HEAD_OF_SERVICE = "head_of_service"
    DIRECTOR = "director"
    CONTRACTOR = "contractor"
    CASE_SYSTEM = "case_system"
    AUDITOR = "auditor"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user (or service account) and their roles."""

    user: str
    roles: frozenset[ApiRole]


class InvalidToken(Exception):
    """The token is missing, malformed, forged or expired; the message says which."""


def create_token(secret: str, user: str, roles: list[str], ttl_seconds: int) -> str:
    """Mint a token for ``user`` with ``roles`` that expires after ``ttl_seconds``."""
    if not user.strip():
        raise ValueError("a token needs a user id")
    unknown = sorted(set(roles) - {r.value for r in ApiRole})
    if unknown or not roles:
        raise ValueError(
            f"unknown or missing role(s) {unknown}; known: {[r.value for r in ApiRole]}"
        )
    now = int(time.time())
    claims = {"sub": user, "roles": sorted(set(roles)), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode({**claims, "iss": ISSUER}, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> Principal:
    """Verify the signature and expiry and return who the token speaks for."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("the token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidToken("the token is not valid") from error
    try:
        roles = frozenset(ApiRole(r) for r in claims.get("roles", []))
    except ValueError as error:
        raise InvalidToken("the token names an unknown role") from error
    return Principal(user=str(claims["sub"]), roles=roles)
