"""Rate limits on incident intake and inbox sign-in, per token subject and per client address.

Counting is done by the ``limits`` library (moving windows). Each limited action counts
every attempt twice, independently: once against the caller's address (before any token is
read, so a flood of forged tokens is throttled too) and once against the subject of the
*verified* token (never a name taken from the body). Over either limit the answer is
``429`` with ``Retry-After`` (whole seconds until the oldest counted attempt leaves the
window).

The client address is the TCP peer's, or, only when that peer is one of
``UCB_TRUSTED_PROXIES``, the one its ``X-Forwarded-For`` names (``api.app`` installs
uvicorn's ``ProxyHeadersMiddleware`` for exactly those addresses).

The counters live in ``UCB_RATE_LIMIT_STORAGE`` (``async+memory://`` by default: per process).
Several API processes behind one load balancer each count on their own, so the limits
multiply by the number of processes; point them at one shared store (a ``limits`` storage
URI such as ``async+redis://…``, with that storage's client library installed) instead.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from api.auth import INTAKE, require
from settings import Settings
from tokens import ApiRole, Principal

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False)


class Action(StrEnum):
    INTAKE = "intake"
    SIGN_IN = "sign_in"


class Key(StrEnum):
    SUBJECT = "subject"
    ADDRESS = "address"


@dataclass(frozen=True)
class Throttled:
    """One refusal: what was over its limit, and when to come back."""

    action: Action
    key: Key
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    @property
    def message(self) -> str:
        who = "this token" if self.key is Key.SUBJECT else "this address"
        return f"too many requests from {who}; retry after {self.retry_after} seconds"


class RateLimits:
    """The limits of one API process (see the module docstring for shared storage)."""

    def __init__(self, settings: Settings) -> None:
        storage = storage_from_string(settings.rate_limit_storage, wrap_exceptions=True)
        if not isinstance(storage, Storage):
            raise ValueError(
                f"UCB_RATE_LIMIT_STORAGE must be an async storage (async+...), "
                f"not {settings.rate_limit_storage.split(':', 1)[0]}"
            )
        self.limiter = MovingWindowRateLimiter(storage)
        self.rules: dict[tuple[Action, Key], list[RateLimitItem]] = {
            (Action.INTAKE, Key.SUBJECT): parse_many(settings.rate_limit_intake),
            (Action.INTAKE, Key.ADDRESS): parse_many(settings.rate_limit_intake_per_address),
            (Action.SIGN_IN, Key.SUBJECT): parse_many(settings.rate_limit_sign_in),
            (Action.SIGN_IN, Key.ADDRESS): parse_many(settings.rate_limit_sign_in_per_address),
        }

    async def hit(self, action: Action, key: Key, value: str) -> Throttled | None:
        """Count one attempt by ``value``; the refusal when it is over a limit, else None.

        If a shared store cannot be reached the attempt is let through (a warning is
        logged): a limiter outage must not stop intake."""
        for item in self.rules[(action, key)]:
            try:
                if await self.limiter.hit(item, action.value, key.value, value):
                    continue
                stats = await self.limiter.get_window_stats(item, action.value, key.value, value)
            except StorageError as error:
                log.warning(
                    "rate limit storage unavailable (%s): %s allowed uncounted",
                    type(error.storage_error).__name__,
                    action.value,
                )
                return None
            return Throttled(action, key, max(1, math.ceil(stats.reset_time - time.time())))
        return None


def client_address(request: Request) -> str:
    """The caller's address (already resolved through trusted proxies only)."""
    return request.client.host if request.client else "unknown"


def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


async def throttle_address(request: Request, action: Action) -> Throttled | None:
    return await _limits(request).hit(action, Key.ADDRESS, client_address(request))


async def throttle_subject(request: Request, action: Action, subject: str) -> Throttled | None:
    return await _limits(request).hit(action, Key.SUBJECT, subject)


def _refuse(throttled: Throttled | None) -> None:
    if throttled is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, throttled.message, headers=throttled.headers()
        )


def require_limited(
    admitted: frozenset[ApiRole], action: Action
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Like ``api.auth.require``, counting the call against ``action``'s limits: the
    address first (before the token is read), then the verified token's subject."""
    admit = require(admitted)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        _refuse(await throttle_address(request, action))
        principal = await admit(request, credentials)
        _refuse(await throttle_subject(request, action, principal.user))
        return principal

    dependency.admitted = admitted  # type: ignore[attr-defined]  # read by the role matrix test
    return dependency


LimitedIntake = Annotated[Principal, Depends(require_limited(INTAKE, Action.INTAKE))]
