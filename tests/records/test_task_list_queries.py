"""The task list on SQLite and PostgreSQL (issue 12): every filter the routes offer reads
an index in due order (no sort), pages never read past the page, the statements do not
grow with the tasks, and the pages are exactly those of the plain query."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from records.db import make_engine, make_sessionmaker
from records.models import Case, Task
from records.repository import Records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROLES = ("officer", "manager", "head_of_service", "director")
KINDS = ("initial_warning", "formal_warning", "protocol_review", "police_report")
ROLE_SETS = (["officer"], ["director"], ["officer", "manager"], ["manager", "auditor"])


@dataclass
class Store:
    engine: AsyncEngine
    records: Records


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[Store]:
    engine = make_engine(migrated_url)
    try:
        yield Store(engine, Records(make_sessionmaker(engine)))
    finally:
        await engine.dispose()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def seed(
    engine: AsyncEngine, tasks: int, *, cases: int = 40, prefix: str = "T"
) -> list[dict[str, Any]]:
    """``tasks`` tasks (two in three open) over ``cases`` new case episodes of customers
    ``<prefix>-<n>``, with shared due moments (ties broken by task id), escalations and
    every kind; returns the rows."""
    rng = random.Random(f"{prefix}{tasks}")
    case_rows = [
        {
            "case_key": f"case-{prefix}-{i}/1",
            "workflow_id": f"case-{prefix}-{i}",
            "run_key": f"run-{prefix}-{i}",
            "episode": 1,
            "customer_ref": f"{prefix}-{i}",
            "profile": "housing_solutions",
            "stage": "open",
            "opened_at": T0,
            "updated_at": T0,
        }
        for i in range(cases)
    ]
    rows = []
    for i in range(tasks):
        case = rng.randrange(cases)
        role = rng.choice(ROLES)
        escalated = rng.choice([None, None, None, *ROLES])
        rows.append(
            {
                "task_id": f"task-{rng.randrange(10**9):09d}-{prefix}{i}",
                "case_key": f"case-{prefix}-{case}/1",
                "customer_ref": f"{prefix}-{case}",
                "kind": rng.choice(KINDS),
                "role": role,
                "status": rng.choice(["open", "open", "decided"]),
                "created_at": T0,
                "due_at": T0 + timedelta(hours=rng.randrange(max(2, tasks // 8))),
                "escalated_to": escalated if escalated != role else None,
                "escalations": 0,
                "context": {},
            }
        )
    async with engine.begin() as connection:
        await connection.execute(insert(Case), case_rows)
        for start in range(0, len(rows), 2_000):
            await connection.execute(insert(Task), rows[start : start + 2_000])
    return rows


def expected(
    rows: list[dict[str, Any]],
    roles: list[str],
    *,
    kind: str | None = None,
    customer_ref: str | None = None,
    due_before: datetime | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[str]:
    """The plain query's answer, in Python: task ids in (due_at, task_id) order."""
    found = [
        r
        for r in rows
        if r["status"] == "open"
        and (r["role"] in roles or r["escalated_to"] in roles)
        and (kind is None or r["kind"] == kind)
        and (customer_ref is None or r["customer_ref"] == customer_ref)
        and (due_before is None or r["due_at"] < due_before)
        and (after is None or (r["due_at"], r["task_id"]) > after)
    ]
    return [r["task_id"] for r in sorted(found, key=lambda r: (r["due_at"], r["task_id"]))]


async def test_task_list_pages_are_exactly_the_plain_querys(store: Store) -> None:
    rows = await seed(store.engine, 400)
    records = store.records
    for roles in ROLE_SETS:
        for kind in (None, "protocol_review"):
            for customer_ref in (None, "T-3"):
                want = expected(rows, roles, kind=kind, customer_ref=customer_ref)
                filters: dict[str, Any] = {"kind": kind, "customer_ref": customer_ref}
                for offset in (0, 7, len(want) - 3):
                    page, total = await records.open_tasks_for(
                        roles, limit=9, offset=max(0, offset), **filters
                    )
                    assert total == len(want)
                    assert [t.task_id for t in page] == want[max(0, offset) :][:9]
                # Follow the cursor to the end: every task once, in order.
                seen: list[str] = []
                after: tuple[datetime, str] | None = None
                while True:
                    page, total = await records.open_tasks_after(
                        roles, after=after, limit=11, **filters
                    )
                    assert total == len(want)
                    seen += [t.task_id for t in page]
                    if len(page) < 11:
                        break
                    after = (page[-1].due_at, page[-1].task_id)
                assert seen == want
            due = T0 + timedelta(hours=20)
            want = expected(rows, roles, kind=kind, due_before=due)
            page, total = await records.inbox_tasks(
                roles, kind=kind, due_before=due, limit=25, offset=5
            )
            assert (total, [t.task_id for t in page]) == (len(want), want[5:30])
    assert await records.open_tasks_for([]) == ([], 0)
    assert await records.inbox_tasks(["auditor"]) == ([], 0)


def _task_list_calls(records: Records) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    """Every filter combination GET /v1/tasks and the inbox page offer, for one role and
    for several."""
    cursor = (T0 + timedelta(hours=40), "task-5")
    due = T0 + timedelta(hours=80)
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for roles in (["officer"], ["officer", "manager"]):
        for kind in (None, "protocol_review"):
            listed = partial(records.open_tasks_for, roles, kind=kind, limit=21)
            after = partial(records.open_tasks_after, roles, after=cursor, kind=kind, limit=21)
            inbox = partial(records.inbox_tasks, roles, kind=kind, limit=25)
            calls += [
                (f"list {roles} {kind}", listed),
                (f"list offset {roles} {kind}", partial(listed, offset=40)),
                (f"list customer {roles} {kind}", partial(listed, customer_ref="T-3")),
                (f"cursor {roles} {kind}", after),
                (f"cursor customer {roles} {kind}", partial(after, customer_ref="T-3")),
                (f"inbox {roles} {kind}", inbox),
                (f"inbox due {roles} {kind}", partial(inbox, due_before=due, offset=25)),
            ]
    return calls


# A sort in a PostgreSQL plan (a node, not a Merge Append's "Sort Key").
SORT_NODE = re.compile(r"(^|->)\s*(Incremental )?Sort\s+\(", re.MULTILINE)
TASK_LIST_INDEXES = (
    "ix_tasks_open_role_due",
    "ix_tasks_open_role_kind_due",
    "ix_tasks_open_escalated_due",
    "ix_tasks_customer_open_due",
)


async def _plan(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    """The database's plan for one statement, as text. PostgreSQL plans without sorting
    wherever an index can give the order (a sort costs it more than any other plan): for
    one customer's handful of tasks it would rightly sort instead, and the question here
    is whether an index serves each filter in due order."""
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in result)
        await connection.exec_driver_sql("SET LOCAL enable_sort = off")
        result = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in result)


async def test_every_task_list_filter_reads_an_index_in_due_order(store: Store) -> None:
    # Enough rows that PostgreSQL's planner weighs the indexes as it would in service
    # (SQLite plans without statistics, as a deployment's database has none).
    await seed(store.engine, 6_000, cases=400)
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as connection:
            await connection.execute(text("ANALYZE tasks"))
    for label, call in _task_list_calls(store.records):
        with statements(store.engine) as seen:
            await call()
        count, page = seen
        assert "count(" in count[0].lower() and "ORDER BY" in page[0], label
        plan = await _plan(store.engine, *page)
        # The page: each arm searches one of the task list's indexes in due order.
        assert "TEMP B-TREE" not in plan, f"{label}: the page is sorted\n{plan}"
        assert not SORT_NODE.search(plan), f"{label}: the page is sorted\n{plan}"
        assert "Seq Scan" not in plan and " SCAN tasks" not in plan, f"{label}\n{plan}"
        assert any(index in plan for index in TASK_LIST_INDEXES), f"{label}\n{plan}"
        if store.engine.dialect.name == "sqlite":
            # The count reads indexes only (no scan of the table).
            counted = await _plan(store.engine, *count)
            assert "SCAN tasks" not in counted, f"{label}: the count scans tasks\n{counted}"


async def test_a_task_list_page_costs_the_same_statements_at_any_size(store: Store) -> None:
    rows = await seed(store.engine, 30)
    counts = []
    for more in (0, 3_000):
        if more:
            await seed(store.engine, more, prefix="U")
        with statements(store.engine) as seen:
            for _label, call in _task_list_calls(store.records):
                await call()
        counts.append(len(seen))
    assert rows and counts[0] == counts[1] == 2 * len(_task_list_calls(store.records))
