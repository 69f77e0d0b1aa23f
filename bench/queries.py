"""`python -m bench.queries`: the API's read queries at scale (issue 12), SQLite.

Seeds a fresh, migrated records database in a temporary directory with ``--open-tasks``
open tasks (twice as many decided ones) over ``--cases`` case episodes, then prints:

- the task list's repository queries (``open_tasks_for``, ``open_tasks_after``,
  ``inbox_tasks``), median and p99 of ``--rounds`` runs, for each filter the routes offer;
- ``GET /v1/tasks`` against ``GET /healthz`` (Temporal stubbed: its database ``SELECT 1``
  and the HTTP stack only) with ``--clients`` concurrent clients, p50 and p99, in process;
- SQL statements per staff search page (``GET /v1/cases``) of 1 and of 50 candidate cases
  the caller is not involved in;
- statements reading ``token_revocations`` for 20 requests with one token.

Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from records.db import make_engine, make_sessionmaker
from records.migrate import upgrade
from records.models import AuditEvent, Case, Incident, Task
from records.repository import Records
from settings import Settings
from tokens import create_token

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROLES = ("officer", "manager", "head_of_service", "director")
KINDS = ("initial_warning", "formal_warning", "behaviour_assessment", "protocol_review")
CHUNK = 5_000


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def seed(engine: AsyncEngine, cases: int, open_tasks: int) -> None:
    """Cases (1 at stage ``assessment``, 50 at ``protocol_authorisation``), their tasks,
    incidents and audit rows."""
    case_rows = [
        {
            "case_key": f"case-{i}/1",
            "workflow_id": f"case-{i}",
            "run_key": f"run-{i}",
            "episode": 1,
            "customer_ref": f"C-{i}",
            "profile": "housing_solutions",
            "stage": "assessment" if i == 0 else "protocol_authorisation" if i <= 50 else "open",
            "opened_at": T0 + timedelta(minutes=i),
            "updated_at": T0,
        }
        for i in range(cases)
    ]
    task_rows = []
    for i in range(open_tasks * 3):
        status = "open" if i < open_tasks else "decided"
        task_rows.append(
            {
                "task_id": f"task-{i:07d}",
                "case_key": f"case-{i % cases}/1",
                "customer_ref": f"C-{i % cases}",
                "kind": KINDS[i % len(KINDS)],
                "role": ROLES[0] if i % 2 else ROLES[(i // 2) % len(ROLES)],
                "status": status,
                "created_at": T0,
                "due_at": T0 + timedelta(minutes=(i * 7919) % 100_003),
                "escalated_to": ROLES[(i + 1) % len(ROLES)] if i % 10 == 0 else None,
                "escalations": 1 if i % 10 == 0 else 0,
                "claimed_by": f"staff-{i % 7}" if i % 3 == 0 else None,
                "decided_by": None if status == "open" else f"staff-{i % 11}",
                "context": {},
            }
        )
    incident_rows = [
        {
            "incident_id": f"inc-{i}",
            "case_key": f"case-{i % cases}/1" if i % 20 else None,
            "customer_ref": f"C-{i % cases}",
            "category": "verbal_abuse",
            "channel": "phone",
            "occurred_at": T0,
            "reported_at": T0,
            "reported_by": f"reporter-{i % 13}",
            "submitted_by": f"staff-{i % 17}",
            "description": "x",
        }
        for i in range(cases * 3)
    ]
    audit_rows: list[dict[str, Any]] = [
        {
            "event_key": f"ev-{i}",
            "case_key": f"case-{i % cases}/1",
            "actor": f"staff-{i % 19}",
            "role": "officer",
            "action": "support_recorded" if i % 2 else "GET /v1/cases/{customer_ref}",
            "details": {},
            "at": T0,
        }
        for i in range(cases * 5)
    ]
    async with engine.begin() as connection:
        for table, rows in (
            (Case, case_rows),
            (Task, task_rows),
            (Incident, incident_rows),
            (AuditEvent, audit_rows),
        ):
            for chunk in _chunks(rows):
                await connection.execute(insert(table), chunk)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement (and its parameters) the engine sends while the block runs."""
    seen: list[tuple[str, Any]] = []

    def note(*args: Any) -> None:
        seen.append((str(args[2]), args[3]))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def timed(call: Callable[[], Awaitable[object]], rounds: int) -> tuple[float, float]:
    """Fastest and median milliseconds of ``rounds`` calls (after one warm-up): the
    fastest is the figure to compare on a shared, loaded machine."""
    await call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples), statistics.median(samples)


def sql_only(database: Path, statements: list[tuple[str, Any]], rounds: int) -> float:
    """Fastest milliseconds of running ``statements`` with sqlite3 itself (no driver)."""
    with closing(sqlite3.connect(database)) as connection:
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for statement, parameters in statements:
                connection.execute(statement, parameters).fetchall()
            best = min(best, (time.perf_counter() - start) * 1000)
    return best


async def repository_figures(
    records: Records, engine: AsyncEngine, database: Path, rounds: int
) -> None:
    """The task list's queries, for each filter combination: the repository call, and its
    SQL statements run by sqlite3 alone."""
    cursor = (T0 + timedelta(days=30), "task-")
    due = T0 + timedelta(days=20)
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for roles in (["officer"], ["manager"], ["officer", "manager"]):
        calls += [
            (f"for {roles}", partial(records.open_tasks_for, roles, limit=21)),
            (
                f"for kind {roles}",
                partial(records.open_tasks_for, roles, kind="protocol_review", limit=21),
            ),
            (
                f"for customer {roles}",
                partial(records.open_tasks_for, roles, customer_ref="C-7", limit=21),
            ),
            (f"after {roles}", partial(records.open_tasks_after, roles, after=cursor, limit=21)),
            (f"inbox due {roles}", partial(records.inbox_tasks, roles, due_before=due, limit=25)),
            (
                f"for offset 2000 {roles}",
                partial(records.open_tasks_for, roles, limit=21, offset=2000),
            ),
        ]
    print(f"  {'':38} {'call min':>9} {'median':>9} {'SQL min':>9}  (ms)")
    for label, call in calls:
        with counting(engine) as seen:
            await call()
        fastest, median = await timed(call, rounds)
        sql = sql_only(database, seen, rounds)
        print(f"  {label:38} {fastest:9.2f} {median:9.2f} {sql:9.2f}")
    print("  (call: the repository method through aiosqlite; SQL: its statements in sqlite3)")


class _Healthy:
    """A Temporal client stand-in whose health check answers at once."""

    class service_client:  # mirrors the client's attribute
        @staticmethod
        async def check_health(**_: object) -> bool:
            return True


class _Gateway:
    async def client(self) -> Any:
        return _Healthy()


async def http_figures(settings: Settings, clients: int, per_client: int) -> None:
    """The routes in process: latency, statements per search page and per 20 requests."""
    app = create_app(settings)
    officer = create_token(settings.secret_key, "nobody", ["officer"], 3600)
    bearer = {"Authorization": f"Bearer {officer}"}
    async with app.router.lifespan_context(app):
        for name in ("api.access", "api.audit", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
        app.state.temporal = _Gateway()
        engine: AsyncEngine = app.state.engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def load(path: str, headers: dict[str, str]) -> tuple[float, float]:
                async def one_client() -> list[float]:
                    took = []
                    for _ in range(per_client):
                        start = time.perf_counter()
                        answer = await http.get(path, headers=headers)
                        assert answer.status_code == 200, answer.text
                        took.append((time.perf_counter() - start) * 1000)
                    return took

                await one_client()
                samples = sorted(
                    s
                    for got in await asyncio.gather(*[one_client() for _ in range(clients)])
                    for s in got
                )
                p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
                return statistics.median(samples), p99

            health = await load("/healthz", {})
            tasks = await load("/v1/tasks", bearer)
            print(f"  GET /healthz    p50 {health[0]:7.2f} ms  p99 {health[1]:7.2f} ms")
            print(f"  GET /v1/tasks   p50 {tasks[0]:7.2f} ms  p99 {tasks[1]:7.2f} ms")
            print(f"  p99 ratio /v1/tasks : /healthz = {tasks[1] / health[1]:.2f}")

            for stage in ("assessment", "protocol_authorisation"):
                with counting(engine) as seen:
                    answer = await http.get(
                        "/v1/cases", params={"stage": stage, "limit": 50}, headers=bearer
                    )
                assert answer.status_code == 200, answer.text
                print(f"  GET /v1/cases?stage={stage}: {len(seen)} statements")
            fresh = create_token(settings.secret_key, "fresh", ["officer"], 3600)
            with counting(engine) as seen:
                for _ in range(20):
                    answer = await http.get(
                        "/v1/tasks", headers={"Authorization": f"Bearer {fresh}"}
                    )
                    assert answer.status_code == 200
            revocations = sum("token_revocations" in s for s, _ in seen)
            print(
                f"  20 x GET /v1/tasks: {revocations} token_revocations reads, {len(seen)} in all"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-tasks", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--per-client", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(environment="test", var_dir=Path(tmp))
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        try:
            await seed(engine, args.cases, args.open_tasks)
            records = Records(make_sessionmaker(engine))
            print(f"task list queries, {args.open_tasks} open tasks (SQLite):")
            database = Path(tmp) / "records.sqlite3"
            await repository_figures(records, engine, database, args.rounds)
        finally:
            await engine.dispose()
        print(f"HTTP in process, {args.clients} clients:")
        await http_figures(settings, args.clients, args.per_client)


if __name__ == "__main__":
    asyncio.run(main())
