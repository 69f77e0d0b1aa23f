"""Who may call what: every endpoint declares the roles it admits."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.tokens import ApiRole, InvalidToken, Principal, read_token

R = ApiRole
DECIDERS = frozenset({R.OFFICER, R.MANAGER, R.HEAD_OF_SERVICE, R.DIRECTOR})
STAFF = DECIDERS
INTAKE = frozenset({R.CASE_SYSTEM, R.OFFICER})
CASE_READERS = STAFF | {R.CASE_SYSTEM}
ARRANGEMENT_READERS = STAFF | {R.CONTRACTOR, R.CASE_SYSTEM}
AUDITORS = frozenset({R.AUDITOR})
CODEC_USERS = frozenset({R.OPERATOR, R.AUDITOR})

COOKIE = "ucb_token"
_bearer = HTTPBearer(auto_error=False)


def principal_from_request(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, from the Authorization header or the inbox page's cookie."""
    token = credentials.credentials if credentials else request.cookies.get(COOKIE)
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


def require(
    admitted: frozenset[ApiRole],
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only callers holding one of ``admitted``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = principal_from_request(request, credentials)
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
Staff = Annotated[Principal, Depends(require(STAFF | {R.CASE_SYSTEM}))]
StaffOnly = Annotated[Principal, Depends(require(STAFF))]
