"""The integrator reads on SQLite and PostgreSQL: keyset pages over the case search (both
sort orders, reviews missing last), the change feed's choice of rows, the task cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from records.repository import ApiCall, CaseFilter, Records
from workflows.ids import case_workflow_id
from workflows.messages import CreateTask, OpenCase, Task, UpdateCaseRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _case(
    records: Records, ref: str, stage: str, review: datetime | None, opened: datetime = T0
) -> str:
    opened_case = await records.open_case(
        OpenCase(ref, case_workflow_id(ref), uuid.uuid4().hex, "housing_solutions", opened)
    )
    await records.update_case(
        UpdateCaseRecord(opened_case.case_key, stage, False, opened, next_review_at=review)
    )
    return opened_case.case_key


async def test_case_search_pages_by_review_date_with_missing_reviews_last(
    records: Records,
) -> None:
    # Two share a review moment (the case key breaks the tie); two have no review date.
    reviews = {"R-a": T0, "R-b": T0, "R-c": T0 - timedelta(days=1), "R-d": None, "R-e": None}
    for ref, review in reviews.items():
        await _case(records, ref, "protocol_in_force", review)
    await _case(records, "R-other", "open", T0)

    filters = CaseFilter(stage="protocol_in_force")
    seen: list[str] = []
    after: tuple[datetime | None, str] | None = None
    while True:
        page = await records.search_cases(filters, sort="next_review_at", after=after, limit=2)
        seen += [c.customer_ref for c in page]
        if len(page) < 2:
            break
        after = (page[-1].next_review_at, page[-1].case_key)
    assert seen == ["R-c", "R-a", "R-b", "R-d", "R-e"]

    due = CaseFilter(stage="protocol_in_force", review_due_before=T0)
    assert [c.customer_ref for c in await records.search_cases(due)] == ["R-c"]
    opened = await records.search_cases(CaseFilter(), sort="opened_at", limit=10)
    assert [c.customer_ref for c in opened] == [*sorted(reviews), "R-other"]


async def test_change_events_leave_out_reads_break_glass_and_other_rows(
    records: Records,
) -> None:
    key = await _case(records, "E-1", "open", None)
    await records.create_task(
        CreateTask(key, "E-1", Task("E-1-t", "initial_warning", "officer", T0, T0))
    )
    read = ApiCall("kim", "officer", "GET /v1/cases/{customer_ref}", 200, {}, T0, key)
    await records.record_api_call(read)
    await records.record_break_glass(key, read, "a reason of some length", T0)
    await records.record_api_call(ApiCall("crm", "case_system", "PUT /x", 200, {}, T0, None))
    events = await records.change_events(0, 10)
    assert [(e.action, e.customer_ref, e.episode) for e in events] == [("task_created", "E-1", 1)]
    assert await records.change_events(events[0].id, 10) == []


async def test_open_tasks_after_a_cursor(records: Records) -> None:
    key = await _case(records, "T-1", "open", None)
    for n in range(3):
        due = T0 + timedelta(hours=n // 2)  # two share a due time
        await records.create_task(
            CreateTask(key, "T-1", Task(f"T-1-{n}", "initial_warning", "officer", T0, due))
        )
    first, total = await records.open_tasks_after(["officer"], after=None, limit=2)
    assert total == 3 and [t.task_id for t in first] == ["T-1-0", "T-1-1"]
    rest, _ = await records.open_tasks_after(
        ["officer"], after=(first[-1].due_at, first[-1].task_id), limit=2
    )
    assert [t.task_id for t in rest] == ["T-1-2"]
