"""Who may call what: every endpoint declares the roles it admits."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from tokens import ApiRole, InvalidToken, Principal, read_token

log = logging.getLogger(__name__)
R = ApiRole
DECIDERS = frozenset({R.OFFICER, R.MANAGER, R.HEAD_OF_SERVICE, R.DIRECTOR})
STAFF = DECIDERS
INTAKE = frozenset({R.CASE_SYSTEM, R.OFFICER})
CASE_READERS = STAFF | {R.CASE_SYSTEM}
ARRANGEMENT_READERS = STAFF | {R.CONTRACTOR, R.CASE_SYSTEM}
AUDITORS = frozenset({R.AUDITOR})
CODEC_USERS = frozenset({R.OPERATOR, R.AUDITOR})
# Management reporting (HS 9.2): oversight roles, never officers or systems.
REPORT_READERS = frozenset({R.MANAGER, R.HEAD_OF_SERVICE, R.DIRECTOR, R.AUDITOR})

COOKIE = "ucb_token"
# The sign-in cookie is a session for the inbox pages (and the codec calls the Temporal
# Web UI makes from a signed-in operator's browser); the case API takes bearer tokens only.
COOKIE_PATHS = ("/inbox", "/codec")
_bearer = HTTPBearer(auto_error=False)


def csrf_token(secret: str, session: str) -> str:
    """The token an inbox form must carry: bound to the session cookie, unguessable without
    the signing key, so a page on another site cannot post a decision for the user."""
    return hmac.new(secret.encode(), b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret: str, session: str | None, sent: str | None) -> bool:
    """Whether a form's CSRF token belongs to this session."""
    if not session or not sent:
        return False
    return hmac.compare_digest(csrf_token(secret, session), sent)


def principal_from_request(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, from the Authorization header (or, on the inbox and codec paths only,
    the sign-in cookie)."""
    cookie_allowed = request.url.path.startswith(COOKIE_PATHS)
    token = credentials.credentials if credentials else None
    if token is None and cookie_allowed:
        token = request.cookies.get(COOKIE)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return read_token(request.app.state.settings.secret_key, token)
    except InvalidToken as error:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(error), headers={"WWW-Authenticate": "Bearer"}
        ) from error


async def refuse_revoked(request: Request, principal: Principal) -> None:
    """401 for a token revoked at sign-out, or with every token of its user.

    The answer is kept for ``UCB_REVOCATION_CACHE_SECONDS`` in this process (one read per
    token per period); a revocation made through this process applies at once.

    While the records database is unreachable the revocation list cannot be read: the
    token is then taken on its signature and bounded lifetime (a warning is logged), so
    routes that do not need the records keep answering."""
    records = request.app.state.records
    try:
        revoked = await records.token_revoked(
            principal.token_id,
            principal.user,
            principal.issued_at,
            cache_seconds=request.app.state.settings.revocation_cache_seconds,
        )
    except (SQLAlchemyError, OSError) as error:
        log.warning(
            "revocation list unavailable (%s): token accepted on its signature",
            type(error).__name__,
        )
        return
    if revoked:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token has been revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require(
    admitted: frozenset[ApiRole],
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only callers holding one of ``admitted``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = principal_from_request(request, credentials)
        await refuse_revoked(request, principal)
        if not principal.roles & admitted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs one of the roles {sorted(r.value for r in admitted)}",
            )
        request.state.principal = principal
        return principal

    dependency.admitted = admitted  # type: ignore[attr-defined]  # read by the role matrix test
    return dependency


Intake = Annotated[Principal, Depends(require(INTAKE))]
CaseReader = Annotated[Principal, Depends(require(CASE_READERS))]
Decider = Annotated[Principal, Depends(require(DECIDERS))]
ArrangementReader = Annotated[Principal, Depends(require(ARRANGEMENT_READERS))]
Auditor = Annotated[Principal, Depends(require(AUDITORS))]
CodecUser = Annotated[Principal, Depends(require(CODEC_USERS))]
ReportReader = Annotated[Principal, Depends(require(REPORT_READERS))]
Staff = Annotated[Principal, Depends(require(STAFF | {R.CASE_SYSTEM}))]
StaffOnly = Annotated[Principal, Depends(require(STAFF))]
