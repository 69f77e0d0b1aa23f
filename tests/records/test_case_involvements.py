"""Need to know for many case episodes at once (issue 12), on SQLite and PostgreSQL: the
same involvement as one case's read, in four statements whatever the number of cases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from policy.access import BreakGlass, Involvement, OpenTaskSeat
from records.db import make_engine, make_sessionmaker
from records.models import AuditEvent, Case, Incident, Task
from records.repository import Records

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[tuple[AsyncEngine, Records]]:
    engine = make_engine(migrated_url)
    try:
        yield engine, Records(make_sessionmaker(engine))
    finally:
        await engine.dispose()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _case(ref: str, episode: int) -> dict[str, Any]:
    return {
        "case_key": f"case-{ref}/{episode}",
        "workflow_id": f"case-{ref}",
        "run_key": f"run-{ref}-{episode}",
        "episode": episode,
        "customer_ref": ref,
        "profile": "housing_solutions",
        "stage": "open",
        "opened_at": T0,
        "updated_at": T0,
    }


def _incident(n: int, ref: str, case_key: str | None, by: str, reporter: str) -> dict[str, Any]:
    return {
        "incident_id": f"inc-{n}",
        "case_key": case_key,
        "customer_ref": ref,
        "category": "verbal_abuse",
        "channel": "phone",
        "occurred_at": T0,
        "reported_at": T0,
        "reported_by": reporter,
        "submitted_by": by,
        "description": "x",
    }


def _task(n: int, case_key: str, ref: str, **values: Any) -> dict[str, Any]:
    row = {
        "task_id": f"task-{n}",
        "case_key": case_key,
        "customer_ref": ref,
        "kind": "initial_warning",
        "role": "officer",
        "status": "open",
        "created_at": T0,
        "due_at": T0,
        "escalations": 0,
        "escalated_to": None,
        "claimed_by": None,
        "decided_by": None,
        "context": {},
    }
    return row | values


def _event(n: int, case_key: str, actor: str, action: str, **details: Any) -> dict[str, Any]:
    return {
        "event_key": f"ev-{n}",
        "case_key": case_key,
        "actor": actor,
        "role": "officer",
        "action": action,
        "details": details,
        "at": T0,
    }


async def _seed(engine: AsyncEngine, extra_cases: int = 0) -> None:
    """Two episodes of customer A (an incident waits for its case), one of B, and
    ``extra_cases`` more customers with a little of everything."""
    until = (T0 + timedelta(hours=8)).isoformat()
    cases = [_case("A", 1), _case("A", 2), _case("B", 1)]
    incidents = [
        _incident(1, "A", "case-A/1", "sam", "Sam Reporter"),
        _incident(2, "A", None, "wyn", "Wyn Waiting"),  # intake stored, case not yet
        _incident(3, "B", "case-B/1", "system", "kim"),
        _incident(4, "C", None, "cy", "Cy"),  # customer C has no case on record
    ]
    tasks = [
        _task(1, "case-A/1", "A", status="decided", decided_by="Mo", claimed_by="jo"),
        _task(2, "case-A/2", "A", role="manager", escalated_to="director"),
        _task(3, "case-A/2", "A", claimed_by="al"),
        _task(4, "case-B/1", "B", role="head_of_service", status="superseded"),
    ]
    events = [
        _event(1, "case-A/1", "pat", "support_recorded"),
        _event(2, "case-A/1", "reader", "GET /v1/cases/{customer_ref}"),
        _event(3, "case-A/1", "glass", "break_glass", expires_at=until),
        _event(4, "case-A/2", "system", "stage_changed"),
        _event(5, "case-B/1", "bea", "appeal_logged"),
        _event(6, "case-B/1", "odd", "break_glass"),  # no expiry: no grant
        _event(7, "case-B/1", "gx", "break_glass_refused"),
    ]
    for i in range(extra_cases):
        ref = f"X{i}"
        cases.append(_case(ref, 1))
        incidents.append(_incident(100 + i, ref, f"case-{ref}/1", f"s{i}", f"r{i}"))
        incidents.append(_incident(1000 + i, ref, None, f"w{i}", f"w{i}"))
        tasks.append(_task(100 + i, f"case-{ref}/1", ref, claimed_by=f"c{i}"))
        events.append(_event(100 + i, f"case-{ref}/1", f"a{i}", "support_recorded"))
        events.append(_event(1000 + i, f"case-{ref}/1", f"g{i}", "break_glass", expires_at=until))
    async with engine.begin() as connection:
        for table, rows in (
            (Case, cases),
            (Incident, incidents),
            (Task, tasks),
            (AuditEvent, events),
        ):
            await connection.execute(insert(table), rows)


async def test_many_cases_read_as_each_one_would(store: tuple[AsyncEngine, Records]) -> None:
    engine, records = store
    await _seed(engine)
    until = T0 + timedelta(hours=8)
    keys = ["case-A/1", "case-A/2", "case-B/1", "case-none/1"]
    many = await records.case_involvements(keys)
    assert many == {key: await records.case_involvement(key) for key in keys}
    # The incident waiting for its case involves its submitter and reporter in every
    # episode of the customer; reads, system actors and refusals involve no one.
    assert many["case-A/1"] == Involvement.of(
        ["sam", "Sam Reporter", "wyn", "Wyn Waiting", "Mo", "jo", "pat"],
        [],
        [BreakGlass("glass", until)],
    )
    assert many["case-A/2"] == Involvement.of(
        ["wyn", "Wyn Waiting", "al"],
        [OpenTaskSeat("manager", "director"), OpenTaskSeat("officer")],
    )
    assert many["case-B/1"] == Involvement.of(["kim", "bea"])
    assert many["case-none/1"] == Involvement()
    assert await records.case_involvements([]) == {}
    assert await records.case_involvements(["case-B/1", "case-B/1"]) == {
        "case-B/1": many["case-B/1"]
    }


async def test_the_statements_do_not_grow_with_the_cases(
    store: tuple[AsyncEngine, Records],
) -> None:
    engine, records = store
    await _seed(engine, extra_cases=60)
    counts = []
    for keys in (["case-X0/1"], [f"case-X{i}/1" for i in range(50)]):
        with statements(engine) as seen:
            found = await records.case_involvements(keys)
        counts.append(len(seen))
        for key in keys:
            assert found[key] == await records.case_involvement(key)
    assert counts == [4, 4]
