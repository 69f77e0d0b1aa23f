"""Clean answers under faults: a dependency that is down is a 503 with Retry-After, never a 500.

The records database is reached through a real TCP proxy (tests/proxy.py) that the tests
cut and restore, so "down" is a refused connection and reset sockets, as in production.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.faults import DATABASE, RETRY_AFTER_SECONDS, SOME_SERVICE, TEMPORAL, unavailable_part
from records.repository import Records
from settings import Settings
from tests.proxy import TcpProxy
from tests.support import eventually, free_port

# The proxied tests run on PostgreSQL only (the conftest fixture's other kind is SQLite).
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

FAULT_LOGGERS = ("api.faults", "api.audit")


def new_ref() -> str:
    return f"FLT-{uuid.uuid4().hex[:10]}"


def incident(ref: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "email",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Tenth call this week about the same closed repair",
        "reported_by": "officer-3",
    }
    body.update(changes)
    return body


DECISION = {"outcome": "issue", "reason": "Calls continued after the first letter"}


@pytest.fixture
async def db_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    """A cuttable proxy in front of the test's database server."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
def settings(settings: Settings, database_url: str, db_proxy: TcpProxy) -> Settings:
    """The conftest settings, with the records database reached through the proxy."""
    proxied = make_url(database_url).set(host=db_proxy.host, port=db_proxy.port)
    return settings.model_copy(
        update={"database_url": proxied.render_as_string(hide_password=False)}
    )


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``app`` under a real uvicorn on a free port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def assert_unavailable(response: httpx.Response, part: str) -> None:
    assert response.status_code == 503, (response.request.url.path, response.text)
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    detail = response.json()["detail"]
    assert part in detail and "retry" in detail, detail


def fault_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name in FAULT_LOGGERS)


# --- which errors mean "a dependency is down" -------------------------------------------


def _wrapped(error: sa_exc.DBAPIError, cause: BaseException) -> sa_exc.DBAPIError:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "part"),
    [
        (sa_exc.OperationalError("SELECT 1", None, Exception("gone")), DATABASE),
        (sa_exc.InterfaceError("SELECT 1", None, Exception("closed")), DATABASE),
        (sa_exc.DBAPIError("SELECT 1", None, Exception(), connection_invalidated=True), DATABASE),
        (
            _wrapped(
                sa_exc.DBAPIError("SELECT 1", None, Exception("x")),
                asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
            ),
            DATABASE,
        ),
        (sa_exc.TimeoutError("QueuePool limit reached"), DATABASE),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), DATABASE),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), DATABASE),
        (asyncpg.InterfaceError("the underlying connection is closed"), DATABASE),
        (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), TEMPORAL),
        (RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""), TEMPORAL),
        (ConnectionRefusedError(111, "Connect call failed"), SOME_SERVICE),
        (TimeoutError(), SOME_SERVICE),
        (OSError(113, "No route to host"), SOME_SERVICE),
        # Not outages: bugs, conflicts and answers keep their usual course.
        (sa_exc.IntegrityError("INSERT", None, Exception("duplicate key")), None),
        (sa_exc.ProgrammingError("SELECT", None, Exception("syntax error")), None),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), None),
        (RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""), None),
        (RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""), None),
        (FileNotFoundError(2, "No such file"), None),
        (ValueError("nope"), None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_outages_are_told_apart_from_other_errors(error: BaseException, part: str | None) -> None:
    assert unavailable_part(error) == part


def test_a_bare_socket_error_is_blamed_on_the_library_it_came_from() -> None:
    async def connect_to_a_dead_port() -> None:
        await asyncpg.connect(host="127.0.0.1", port=free_port(), user="x", timeout=5)

    with pytest.raises(OSError) as refused:
        asyncio.run(connect_to_a_dead_port())
    assert unavailable_part(refused.value) == DATABASE


# --- the records database goes down and comes back ----------------------------------------


@pytest.mark.postgres
@ON_POSTGRES
async def test_while_the_database_is_down_calls_answer_503_then_recover(
    api_url: str, db_proxy: TcpProxy, auth_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ref = new_ref()
    task_id = str(uuid.uuid4())
    manager = auth_for("manager", user="mo")
    intake = auth_for("case_system")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        assert (await http.get("/v1/tasks", headers=manager)).status_code == 200

        caplog.set_level(logging.WARNING)
        await db_proxy.cut()
        assert_unavailable(await http.get("/v1/tasks", headers=manager), DATABASE)
        assert_unavailable(await http.get(f"/v1/cases/{ref}", headers=intake), DATABASE)
        assert_unavailable(
            await http.post(f"/v1/tasks/{task_id}/complete", json=DECISION, headers=manager),
            DATABASE,
        )
        assert_unavailable(
            await http.put(f"/v1/customers/{ref}", json={"name": "Lee"}, headers=intake),
            DATABASE,
        )
        assert_unavailable(
            await http.post(
                "/v1/incidents",
                json=incident(ref, customer={"email": f"{ref.lower()}@example.org"}),
                headers=intake,
            ),
            DATABASE,
        )
        logged = fault_log(caplog)
        assert "answered 503" in logged and "GET /v1/cases/{customer_ref}" in logged
        assert "audit row not written for PUT /v1/customers/{customer_ref} -> 503" in logged
        assert ref not in logged and ref.lower() not in logged and task_id not in logged

        await db_proxy.restore()

        async def tasks_listed() -> bool:
            return (await http.get("/v1/tasks", headers=manager)).status_code == 200

        assert await eventually(tasks_listed, within=15)
        assert (await http.get(f"/v1/cases/{ref}", headers=intake)).status_code == 404
        missing = await http.post(f"/v1/tasks/{task_id}/complete", json=DECISION, headers=manager)
        assert missing.status_code == 404, missing.text
        put = await http.put(f"/v1/customers/{ref}", json={"name": "Lee"}, headers=intake)
        assert put.status_code == 200 and put.json()["has_name"] is True


@pytest.mark.postgres
@ON_POSTGRES
async def test_a_failed_audit_write_never_changes_the_routes_answer(
    api_url: str, db_proxy: TcpProxy, auth_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Support is sent to the case workflow only; the audit row afterwards needs the records."""
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        caplog.set_level(logging.WARNING)
        await db_proxy.cut()
        response = await http.post(
            f"/v1/cases/{ref}/support",
            json={"vulnerabilities": ["hearing loss"]},
            headers=auth_for("officer"),
        )
    assert response.status_code == 404, response.text  # the route's own answer: no case
    logged = fault_log(caplog)
    assert "audit row not written for POST /v1/cases/{customer_ref}/support -> 404" in logged
    assert ref not in logged and "hearing" not in logged


@pytest.mark.postgres
@ON_POSTGRES
async def test_an_endpoint_that_audits_itself_is_not_audited_again(
    settings: Settings, stack_records: Records
) -> None:
    app = create_app(settings)

    @app.post("/v1/probe/self-audited")
    async def self_audited(request: Request) -> dict[str, str]:
        request.state.audited = True  # its row was written in its own unit of work
        return {}

    @app.post("/v1/probe/plain")
    async def plain() -> dict[str, str]:
        return {}

    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/v1/probe/self-audited")).status_code == 200
        assert (await http.post("/v1/probe/plain")).status_code == 200
    rows, _total = await stack_records.audit_events(actor="anonymous")
    actions = [row.action for row in rows]
    assert "POST /v1/probe/plain" in actions
    assert "POST /v1/probe/self-audited" not in actions


# --- Temporal cannot be reached -------------------------------------------------------------


@pytest.mark.postgres
@ON_POSTGRES
async def test_temporal_never_reachable_is_503_with_retry_after(
    settings: Settings, stack_records: Records, auth_for: Any
) -> None:
    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with (
        serve(create_app(nowhere)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        response = await http.get(f"/v1/cases/{new_ref()}", headers=auth_for("case_system"))
    assert_unavailable(response, "Temporal")


@pytest.mark.postgres
@ON_POSTGRES
async def test_temporal_going_down_mid_flight_is_503_with_retry_after(
    settings: Settings, stack_records: Records, temporal_address: str, auth_for: Any
) -> None:
    host, port = temporal_address.rsplit(":", 1)
    temporal_proxy = TcpProxy(host, int(port))
    await temporal_proxy.start()
    proxied = settings.model_copy(
        update={"temporal_address": temporal_proxy.address, "update_timeout_seconds": 2.0}
    )
    ref = new_ref()
    support = {"vulnerabilities": ["hearing loss"]}
    officer = auth_for("officer")
    try:
        async with (
            serve(create_app(proxied)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            first = await http.post(f"/v1/cases/{ref}/support", json=support, headers=officer)
            assert first.status_code == 404, first.text  # connected: there is no such case

            await temporal_proxy.cut()
            down = await http.post(f"/v1/cases/{ref}/support", json=support, headers=officer)
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == str(RETRY_AFTER_SECONDS)

            await temporal_proxy.restore()

            async def answered_again() -> bool:
                again = await http.post(f"/v1/cases/{ref}/support", json=support, headers=officer)
                return again.status_code == 404

            assert await eventually(answered_again, within=20, interval=0.5)
    finally:
        await temporal_proxy.stop()


# --- e-mail addresses ------------------------------------------------------------------------


@pytest.mark.postgres
@ON_POSTGRES
@pytest.mark.parametrize(
    "address", ["victim@[example.org", "pat@example.org,attacker", "Pat <pat@example.org>"]
)
async def test_intake_refuses_a_malformed_email_naming_customer_email(
    api_url: str, auth_for: Any, client: Client, address: str
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        response = await http.post("/v1/incidents", json=incident(ref, customer={"email": address}))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "customer", "email"]
    assert "email must be a single e-mail address" in error["msg"]
    assert [wf async for wf in client.list_workflows(f"WorkflowId = 'ucb-case-{ref}'")] == []
