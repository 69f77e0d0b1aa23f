"""The API's reads cost a fixed number of statements (issue 12), on SQLite and PostgreSQL:
the task list whatever the number of tasks, a staff search page whatever the number of
candidate cases, and the revocation check once per token per UCB_REVOCATION_CACHE_SECONDS
(a revocation made through the process applies at once). The app runs in process; these
routes need no Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from api.access import case_access
from api.app import create_app
from records.models import Case, Incident, Task
from records.repository import Records
from settings import Settings
from tests.conftest import UNTHROTTLED
from tokens import create_token, read_token

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.app.state.engine
        return engine

    @property
    def records(self) -> Records:
        records: Records = self.app.state.records
        return records

    def bearer(self, *roles: str, user: str = "kim") -> dict[str, str]:
        token = create_token(self.settings.secret_key, user, list(roles), 3600)
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running(url: str, var_dir: Path, **settings: Any) -> AsyncIterator[Api]:
    """The API in process on the database at ``url``."""
    config = Settings(
        environment="test",
        var_dir=var_dir,
        database_url=url,
        rate_limit_sign_in=UNTHROTTLED,
        rate_limit_sign_in_per_address=UNTHROTTLED,
        **settings,
    )
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield Api(http, app, config)


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the engine runs inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _case(ref: str, stage: str) -> dict[str, Any]:
    return {
        "case_key": f"case-{ref}/1",
        "workflow_id": f"case-{ref}",
        "run_key": f"run-{ref}",
        "episode": 1,
        "customer_ref": ref,
        "profile": "housing_solutions",
        "stage": stage,
        "opened_at": T0,
        "updated_at": T0,
    }


async def _tasks(engine: AsyncEngine, ref: str, count: int, start: int = 0) -> None:
    rows: list[dict[str, Any]] = [
        {
            "task_id": f"task-{ref}-{start + i:05d}",
            "case_key": f"case-{ref}/1",
            "customer_ref": ref,
            "kind": ("initial_warning", "protocol_review")[i % 2],
            "role": ("officer", "manager")[i % 2],
            "status": "open",
            "created_at": T0,
            "due_at": T0 + timedelta(minutes=(start + i) % 97),
            "escalated_to": "officer" if i % 5 == 0 and i % 2 else None,
            "escalations": 0,
            "context": {},
        }
        for i in range(count)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(Task), rows)


async def test_the_task_list_costs_the_same_statements_with_many_tasks(
    migrated_url: str, tmp_path: Path
) -> None:
    async with running(migrated_url, tmp_path, revocation_cache_seconds=0) as api:
        async with api.engine.begin() as connection:
            await connection.execute(insert(Case), [_case("L-1", "open")])
        await _tasks(api.engine, "L-1", 6)
        officer = api.bearer("officer", "manager")

        async def list_pages() -> tuple[int, int]:
            """Statements for the first page, and for the page after its cursor."""
            with statements(api.engine) as first:
                page = await api.http.get("/v1/tasks", params={"limit": 5}, headers=officer)
            assert page.status_code == 200, page.text
            cursor = page.json()["next"]
            with statements(api.engine) as after:
                more = await api.http.get(
                    "/v1/tasks",
                    params={"limit": 5, "cursor": cursor, "kind": "protocol_review"},
                    headers=officer,
                )
            assert more.status_code == 200, more.text
            return len(first), len(after)

        few = await list_pages()
        await _tasks(api.engine, "L-1", 1_500, start=6)
        many = await list_pages()
        assert few == many
        listed = await api.http.get("/v1/tasks", params={"limit": 200}, headers=officer)
        assert listed.json()["total"] == 1_506 and len(listed.json()["items"]) == 200


async def test_a_staff_search_page_costs_the_same_statements_for_1_or_50_cases(
    migrated_url: str, tmp_path: Path
) -> None:
    async with running(migrated_url, tmp_path, revocation_cache_seconds=0) as api:
        # 1 case at stage "assessment", 50 at "protocol_authorisation": olu reported an
        # incident on every third, the others olu may not read.
        cases = [_case("S-0", "assessment")] + [
            _case(f"S-{i}", "protocol_authorisation") for i in range(1, 51)
        ]
        incidents = [
            {
                "incident_id": f"inc-{i}",
                "case_key": f"case-S-{i}/1",
                "customer_ref": f"S-{i}",
                "category": "verbal_abuse",
                "channel": "phone",
                "occurred_at": T0,
                "reported_at": T0,
                "reported_by": "someone",
                "submitted_by": "olu" if i % 3 == 0 else "sam",
                "description": "x",
            }
            for i in range(51)
        ]
        async with api.engine.begin() as connection:
            await connection.execute(insert(Case), cases)
            await connection.execute(insert(Incident), incidents)
        olu = api.bearer("officer", user="olu")
        counts = []
        for stage in ("assessment", "protocol_authorisation"):
            with statements(api.engine) as seen:
                found = await api.http.get(
                    "/v1/cases", params={"stage": stage, "limit": 50}, headers=olu
                )
            assert found.status_code == 200, found.text
            counts.append(len(seen))
            # The same answer as deciding each case on its own.
            principal = read_token(api.settings.secret_key, olu["Authorization"][7:])
            readable = [
                c["customer_ref"]
                for c in sorted(cases, key=lambda c: str(c["case_key"]))  # the search's order
                if c["stage"] == stage
                and (await case_access(api.records, principal, c["case_key"])).full
            ]
            assert [i["customer_ref"] for i in found.json()["items"]] == readable
        assert counts[0] == counts[1]
        assert len(readable) == 16  # S-3, S-6 ... S-48


async def test_a_burst_of_requests_reads_the_revocation_list_once_per_token(
    migrated_url: str, tmp_path: Path
) -> None:
    async with running(migrated_url, tmp_path) as api:
        assert api.settings.revocation_cache_seconds == 5
        officer = api.bearer("officer")
        with statements(api.engine) as seen:
            for _ in range(20):
                assert (await api.http.get("/v1/tasks", headers=officer)).status_code == 200
        assert sum("token_revocations" in s for s in seen) == 1
        # Another token is read on its own.
        with statements(api.engine) as seen:
            assert (await api.http.get("/v1/tasks", headers=api.bearer("manager"))).is_success
        assert sum("token_revocations" in s for s in seen) == 1


async def test_without_a_cache_every_request_reads_the_revocation_list(
    migrated_url: str, tmp_path: Path
) -> None:
    async with running(migrated_url, tmp_path, revocation_cache_seconds=0) as api:
        officer = api.bearer("officer")
        with statements(api.engine) as seen:
            for _ in range(20):
                assert (await api.http.get("/v1/tasks", headers=officer)).status_code == 200
        assert sum("token_revocations" in s for s in seen) == 20


async def test_a_revocation_made_here_refuses_a_cached_token_at_once(
    migrated_url: str, tmp_path: Path
) -> None:
    async with running(migrated_url, tmp_path, revocation_cache_seconds=300) as api:
        kim, olu = api.bearer("officer", user="kim"), api.bearer("officer", user="olu")
        for headers in (kim, olu):  # both answers are now kept for five minutes
            assert (await api.http.get("/v1/tasks", headers=headers)).status_code == 200
        revoked = await api.http.post(
            "/v1/revocations", json={"subject": "kim"}, headers=api.bearer("operator", user="op")
        )
        assert revoked.status_code == 201, revoked.text
        refused = await api.http.get("/v1/tasks", headers=kim)
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        assert (await api.http.get("/v1/tasks", headers=olu)).status_code == 200
        # Signing out of the inbox revokes the cookie's token: refused at once too.
        token = olu["Authorization"].removeprefix("Bearer ")
        api.http.cookies.set("ucb_token", token)
        signed_out = await api.http.post("/inbox/sign-out")
        assert signed_out.status_code == 303
        assert (await api.http.get("/v1/tasks", headers=olu)).status_code == 401
