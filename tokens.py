"""Signed bearer tokens: a user id, roles and an expiry (HS256, key from settings)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import jwt

ISSUER = "ucb-cases"
# The longest a token may live (a shift is 8 hours; a service account's token is rotated
# at least monthly). Longer tokens are neither minted nor accepted.
MAX_TOKEN_LIFETIME_SECONDS = 31 * 24 * 3600
# The audit trail keeps the user id whole (records/models.py AuditEvent.actor).
MAX_USER_CHARS = 200


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
    # The token's own id and issue time (revocation: sign-out, or an operator's).
    token_id: str = ""
    issued_at: int = 0

    @property
    def role_names(self) -> str:
        """The roles as the audit trail records them: sorted, comma-separated."""
        return ",".join(sorted(r.value for r in self.roles))


class InvalidToken(Exception):
    """The token is missing, malformed, forged or expired; the message says which."""


def create_token(secret: str, user: str, roles: list[str], ttl_seconds: int) -> str:
    """Mint a token for ``user`` with ``roles`` that expires after ``ttl_seconds``."""
    if not user.strip() or len(user) > MAX_USER_CHARS:
        raise ValueError(f"a token needs a user id of 1 to {MAX_USER_CHARS} characters")
    if ttl_seconds > MAX_TOKEN_LIFETIME_SECONDS:
        raise ValueError(
            f"a token lives at most {MAX_TOKEN_LIFETIME_SECONDS // 86400} days, "
            f"not {ttl_seconds} seconds"
        )
    unknown = sorted(set(roles) - {r.value for r in ApiRole})
    if unknown or not roles:
        raise ValueError(
            f"unknown or missing role(s) {unknown}; known: {[r.value for r in ApiRole]}"
        )
    now = int(time.time())
    claims = {
        "sub": user,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({**claims, "iss": ISSUER}, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> Principal:
    """Verify the signature and expiry and return who the token speaks for."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "jti"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("the token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidToken("the token is not valid") from error
    subject = str(claims["sub"])
    if not subject.strip() or subject != subject.strip() or len(subject) > MAX_USER_CHARS:
        raise InvalidToken("the token names no user (or one longer than a user id may be)")
    if int(claims["exp"]) - int(claims["iat"]) > MAX_TOKEN_LIFETIME_SECONDS:
        raise InvalidToken("the token lives longer than tokens may")
    try:
        roles = frozenset(ApiRole(r) for r in claims.get("roles", []))
    except ValueError as error:
        raise InvalidToken("the token names an unknown role") from error
    return Principal(
        user=subject, roles=roles, token_id=str(claims["jti"]), issued_at=int(claims["iat"])
    )
