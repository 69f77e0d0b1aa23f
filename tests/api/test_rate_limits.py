"""Rate limits on intake and sign-in (per verified token subject and per client address),
forwarded headers believed from trusted proxies only, and the Secure sign-in cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from api.app import create_app
from api.auth import COOKIE
from records.repository import Records
from settings import Settings

CLIENT = "192.0.2.10"
OTHER_CLIENT = "192.0.2.77"
PROXY = "10.9.0.4"
SIGN_IN = "/inbox/sign-in"


@asynccontextmanager
async def running(settings: Settings, **update: Any) -> AsyncIterator[FastAPI]:
    """The API for ``settings`` changed by ``update``, its lifespan started (ASGI in-process)."""
    app = create_app(settings.model_copy(update=update))
    async with app.router.lifespan_context(app):
        yield app


def http_from(app: FastAPI, address: str = CLIENT, scheme: str = "http") -> httpx.AsyncClient:
    """A client whose requests reach the app from ``address`` (the TCP peer)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50_123))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://api.example")


def assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, (response.status_code, response.text)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


async def test_intake_is_limited_per_token_subject(
    settings: Settings, stack_records: Records, auth_for: Callable[..., dict[str, str]]
) -> None:
    amy = auth_for("case_system", user="amy-intake")
    bob = auth_for("case_system", user="bob-intake")
    async with running(settings, rate_limit_intake="2/minute") as app:
        async with http_from(app) as http, http_from(app, OTHER_CLIENT) as elsewhere:
            # An empty body is refused (422) after the limit and token are checked: every
            # attempt counts, whatever its outcome.
            for _ in range(2):
                assert (await http.post("/v1/incidents", json={}, headers=amy)).status_code == 422
            refused = await http.post("/v1/incidents", json={}, headers=amy)
            assert_throttled(refused)
            assert "this token" in refused.json()["detail"]
            # The same subject from another address (a new token for it, too) is still over.
            again = auth_for("case_system", user="amy-intake")
            assert_throttled(await elsewhere.post("/v1/incidents", json={}, headers=again))
            # Another subject from the same address is not affected.
            assert (await http.post("/v1/incidents", json={}, headers=bob)).status_code == 422


async def test_intake_is_limited_per_address_before_any_token_is_read(
    settings: Settings, stack_records: Records, auth_for: Callable[..., dict[str, str]]
) -> None:
    async with running(settings, rate_limit_intake_per_address="3/minute") as app:
        async with http_from(app) as http, http_from(app, OTHER_CLIENT) as elsewhere:
            for _ in range(3):
                assert (await http.post("/v1/incidents", json={})).status_code == 401
            # Over the address's limit: refused even with a valid token of a fresh subject.
            fresh = auth_for("case_system", user="carol-intake")
            refused = await http.post("/v1/incidents", json={}, headers=fresh)
            assert_throttled(refused)
            assert "this address" in refused.json()["detail"]
            assert_throttled(await http.post("/v1/incidents", json={}))
            # Another address is not affected.
            assert (await elsewhere.post("/v1/incidents", json={})).status_code == 401
            answered = await elsewhere.post("/v1/incidents", json={}, headers=fresh)
            assert answered.status_code == 422


async def test_sign_in_is_limited_per_address_and_per_token_subject(
    settings: Settings, stack_records: Records, token_for: Callable[..., str]
) -> None:
    dana = token_for("officer", user="dana-sign-in")
    limits = {"rate_limit_sign_in": "2/minute", "rate_limit_sign_in_per_address": "4/minute"}
    async with running(settings, **limits) as app:
        async with (
            http_from(app) as http,
            http_from(app, OTHER_CLIENT) as elsewhere,
            http_from(app, "192.0.2.200") as third,
        ):
            for _ in range(2):
                signed_in = await http.post(SIGN_IN, data={"token": dana})
                assert signed_in.status_code == 303
            refused = await elsewhere.post(SIGN_IN, data={"token": dana})
            assert_throttled(refused)  # the subject is over its limit, wherever it comes from
            assert "Too many sign-in attempts" in refused.text
            assert COOKIE not in refused.cookies
            eve = token_for("officer", user="eve-sign-in")
            assert (await elsewhere.post(SIGN_IN, data={"token": eve})).status_code == 303

            # Guessing tokens from one address: the address is refused, whatever is sent.
            for _ in range(2):
                assert (await third.post(SIGN_IN, data={"token": "guess"})).status_code == 400
            assert (await third.post(SIGN_IN, data={"token": eve})).status_code == 303
            assert (await third.post(SIGN_IN, data={"token": "guess"})).status_code == 400
            assert_throttled(await third.post(SIGN_IN, data={"token": "guess"}))
            fresh = token_for("officer", user="fay-sign-in")
            assert_throttled(await third.post(SIGN_IN, data={"token": fresh}))
            assert (await elsewhere.post(SIGN_IN, data={"token": fresh})).status_code == 303


async def test_forwarded_for_is_believed_from_trusted_proxies_only(
    settings: Settings, stack_records: Records
) -> None:
    limits = {"rate_limit_intake_per_address": "2/minute", "trusted_proxies": ["10.9.0.0/16"]}
    async with running(settings, **limits) as app:
        async with http_from(app, PROXY) as proxy, http_from(app, OTHER_CLIENT) as direct:

            def forwarded(client: str) -> dict[str, str]:
                return {"X-Forwarded-For": f"{client}, {PROXY}"}

            for _ in range(2):
                answer = await proxy.post("/v1/incidents", json={}, headers=forwarded(CLIENT))
                assert answer.status_code == 401
            assert_throttled(await proxy.post("/v1/incidents", json={}, headers=forwarded(CLIENT)))
            # Another client behind the same proxy has its own count.
            other = await proxy.post("/v1/incidents", json={}, headers=forwarded("192.0.2.99"))
            assert other.status_code == 401

            # A peer that is not a trusted proxy cannot dodge the limit by forging the header.
            for n in range(2):
                forged = {"X-Forwarded-For": f"198.51.100.{n}"}
                answer = await direct.post("/v1/incidents", json={}, headers=forged)
                assert answer.status_code == 401
            forged = {"X-Forwarded-For": "198.51.100.50"}
            assert_throttled(await direct.post("/v1/incidents", json={}, headers=forged))


class TestOverRealHttp:
    """Served by uvicorn as the suite (and the dev stack) serve it, with no proxy handling of
    its own, and no trusted proxies: a local caller's X-Forwarded-For changes nothing."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.rate_limit_intake_per_address = "2/minute"
        return settings

    async def test_forwarded_for_from_localhost_is_not_believed(self, api_url: str) -> None:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            for n in range(2):
                forged = {"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "https"}
                answer = await http.post("/v1/incidents", json={}, headers=forged)
                assert answer.status_code == 401
            forged = {"X-Forwarded-For": "203.0.113.99"}
            assert_throttled(await http.post("/v1/incidents", json={}, headers=forged))


@pytest.mark.parametrize(
    ("peer", "scheme", "headers", "environment", "secure"),
    [
        pytest.param(CLIENT, "http", {}, "test", False, id="plain-http"),
        pytest.param(CLIENT, "https", {}, "test", True, id="direct-https"),
        pytest.param(PROXY, "http", {"X-Forwarded-Proto": "https"}, "test", True, id="proxy-tls"),
        pytest.param(
            CLIENT, "http", {"X-Forwarded-Proto": "https"}, "test", False, id="untrusted-proto"
        ),
        pytest.param(PROXY, "http", {"X-Forwarded-Proto": "http"}, "test", False, id="proxy-http"),
        pytest.param(CLIENT, "http", {}, "production", True, id="production-always"),
    ],
)
async def test_the_sign_in_cookie_is_secure_behind_tls(
    settings: Settings,
    stack_records: Records,
    token_for: Callable[..., str],
    peer: str,
    scheme: str,
    headers: dict[str, str],
    environment: str,
    secure: bool,
) -> None:
    token = token_for("officer", user="gus-cookie")
    update = {"trusted_proxies": [PROXY], "environment": environment}
    async with running(settings, **update) as app, http_from(app, peer, scheme) as http:
        response = await http.post(SIGN_IN, data={"token": token}, headers=headers)
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert ("secure" in [part.strip().lower() for part in cookie.split(";")]) is secure


async def test_normal_traffic_is_not_throttled_by_the_test_settings(
    settings: Settings, stack_records: Records, auth_for: Callable[..., dict[str, str]]
) -> None:
    """The suite's settings (tests/conftest.py) allow far more than any test sends."""
    officer = auth_for("officer")
    async with running(settings) as app, http_from(app) as http:
        for _ in range(150):  # over every default limit, from one address and one token
            assert (await http.post("/v1/incidents", json={}, headers=officer)).status_code == 422


def test_the_limits_and_proxies_are_checked_when_settings_are_read() -> None:
    defaults = Settings(environment="test")
    assert defaults.rate_limit_intake == "60/minute"
    assert defaults.rate_limit_sign_in == "10/minute"
    assert defaults.trusted_proxies == []
    assert Settings(rate_limit_intake="5/second;100/hour").rate_limit_intake == "5/second;100/hour"
    with pytest.raises(ValidationError, match="rate_limit_sign_in"):
        Settings(rate_limit_sign_in="lots")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=["*"])
    assert Settings(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]
