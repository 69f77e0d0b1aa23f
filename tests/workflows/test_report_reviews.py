"""The report's overdue reviews on a real stack: real case workflows with short durations,
their records, and the report's SQL over them (issue 11: "overdue reviews are 0 on a stack
where every review was decided on time, and the report lists the case when one is made
overdue")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from policy.reporting import Report, ReportPeriod
from records.reports import build_report
from records.repository import Records
from settings import Settings
from tests.workflows.helpers import authorise, decide, new_ref, open_task, state_when
from tests.workflows.test_policy_paths import LONG, climb_to_protocol, shorten

# A review task is due this many seconds after its review date brings it.
TASK_DUE = 8


async def report_now(records: Records, settings: Settings) -> Report:
    """The report for the last day, as at this moment."""
    now = datetime.now(UTC)
    return await build_report(
        records._sessions,
        profile=settings.policy_profile,
        period=ReportPeriod(now - timedelta(days=1), now + timedelta(seconds=1)),
        now=now,
    )


async def test_overdue_reviews_are_zero_when_decided_on_time_and_list_the_case_when_not(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    shorten(settings, "housing_solutions", task_due=TASK_DUE)
    on_time = await climb_to_protocol(client, settings, new_ref("RPT"))
    await authorise(on_time, review_after_seconds=2)
    await open_task(on_time, "protocol_review")
    decided = await decide(
        on_time, "protocol_review", "continue", "head_of_service", review_after_seconds=LONG
    )
    assert decided.protocol is not None

    report = await report_now(stack_records, settings)
    assert report.reviews.overdue == 0
    assert report.reviews.overdue_cases == ()
    assert report.reviews.done_on_time == 1
    assert report.reviews.done_late == 0

    late = await climb_to_protocol(client, settings, new_ref("RPL"))
    await authorise(late, review_after_seconds=2)
    task = await open_task(late, "protocol_review")
    state = await state_when(late, lambda s: s.protocol is not None)
    # Nobody decides it: wait until its due date has passed.
    wait = (task.due_at - datetime.now(UTC)).total_seconds() + 1
    await asyncio.sleep(max(wait, 0))

    report = await report_now(stack_records, settings)
    assert report.reviews.overdue == 1
    [listed] = report.reviews.overdue_cases
    assert listed.case_key == state.case_key
    assert listed.kind == "protocol_review"
    assert listed.due_at == task.due_at
    # The case decided on time is still not overdue.
    assert report.reviews.done_on_time == 1
