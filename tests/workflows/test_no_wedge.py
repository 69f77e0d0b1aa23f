"""No case can wedge: streams, large payloads, bad addresses, early support, timers.

Each test reproduces one way a case used to stop for good (issue "No case can wedge")
on the real dev server, SMTP server and records, and shows the case keeps deciding.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from policy.categories import Category, Channel
from records.repository import Records
from settings import Settings
from starter.temporal import case_handle
from tests.support import eventually, messages_to
from tests.workflows.helpers import (
    authorise,
    decide,
    incident,
    new_ref,
    open_task,
    report,
    state_when,
)
from tests.workflows.test_policy_paths import climb_to_protocol, shorten
from workflows.case import MAX_RUN_EVENTS, CaseWorkflow
from workflows.messages import SupportRecord


async def run_lengths(client: Client, workflow_id: str) -> list[int]:
    """History length of every run of a workflow id (closed runs and the running one)."""
    lengths = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        described = await handle.describe()
        lengths.append(described.raw_description.workflow_execution_info.history_length)
    return lengths


async def first_task_latency(client: Client, settings: Settings) -> float:
    """Seconds from an ordinary case's first incident to its initial-warning task."""
    started = time.monotonic()
    handle = await report(client, settings, incident(new_ref("ORD")))
    await open_task(handle, "initial_warning", within=60)
    return time.monotonic() - started


async def test_a_stream_to_one_customer_keeps_runs_bounded_and_others_moving(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    """Reproduction 0: incidents keep arriving while the case works; it still continues
    as new, records each incident once, and ordinary cases keep getting their tasks."""
    shorten(settings, "housing_solutions")
    baseline = await first_task_latency(client, settings)
    ref = new_ref("STREAM")
    total = 3_000
    handle = await report(client, settings, incident(ref))

    async def stream() -> None:
        # About 100 a second: three times the rate that used to wedge a case (35/s).
        for start in range(1, total, 20):
            await asyncio.gather(
                *(
                    handle.signal("report_incident", incident(ref))
                    for _ in range(min(20, total - start))
                )
            )
            await asyncio.sleep(0.15)

    streaming = asyncio.create_task(stream())
    during = []
    while not streaming.done():
        during.append(await first_task_latency(client, settings))
    await streaming
    latest = case_handle(client, handle.id)
    state = await state_when(latest, lambda s: s.incident_count == total, within=300)
    case_key = state.case_key
    assert len(await stack_records.incidents(case_key)) == total  # each exactly once
    lengths = await run_lengths(client, handle.id)
    assert len(lengths) > 3, lengths  # it continued as new while signals kept coming
    assert max(lengths) <= MAX_RUN_EVENTS, lengths
    # Ordinary cases kept moving beside the stream (a liveness bound, not a benchmark).
    assert during and max(during) < max(30.0, 20 * baseline), (baseline, during)


async def test_large_descriptions_signalled_directly_are_batched_within_payload_limits(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    """Reproduction 2 at the limit: 40 incidents of 10,000 emoji each reach the records."""
    shorten(settings, "housing_solutions")
    ref = new_ref("BIG")
    big = "\N{GRINNING FACE}" * 10_000
    first = incident(ref)
    first.description = big
    handle = await report(client, settings, first)
    reports = []
    for _ in range(39):
        report_ = incident(ref)
        report_.description = big
        reports.append(report_)
    await asyncio.gather(*(handle.signal("report_incident", r) for r in reports))
    state = await state_when(handle, lambda s: s.incident_count == 40, within=120)
    rows = await stack_records.incidents(state.case_key)
    assert len(rows) == 40 and all(r.description == big for r in rows)
    # and the case still takes updates at once
    support = SupportRecord(recorded_by="officer-1", role="officer", vulnerabilities=["x"])
    after = await handle.execute_update(CaseWorkflow.record_support, support)
    assert after.incident_count == 40


async def test_support_recorded_right_after_the_first_incident(
    client: Client, worker: Worker, settings: Settings
) -> None:
    """Reproduction 3: support before the case row exists waits for it, never fails."""
    shorten(settings, "housing_solutions")
    handle = await report(client, settings, incident(new_ref("SUP")))
    support = SupportRecord(
        recorded_by="officer-1", role="officer", reasonable_adjustments="Large print"
    )
    state = await handle.execute_update(CaseWorkflow.record_support, support)
    assert state.case_key and state.support.reasonable_adjustments_recorded
    await open_task(handle, "initial_warning")


async def test_an_unusable_address_becomes_a_staff_task_and_the_fixed_letter_goes_once(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    """Reproduction 1: an address on file that cannot be used stalls nothing; staff
    are told what to fix; after the fix the letter reaches the new address once."""
    shorten(settings, "housing_solutions")
    ref = new_ref("ADDR")
    # On file from before intake validated addresses with a parser.
    await stack_records.upsert_customer(ref, datetime.now(UTC), email="victim@[example.org")
    handle = await report(client, settings, incident(ref, Category.VERBAL_ABUSE, Channel.EMAIL))
    problem = await open_task(handle, "letter_undeliverable", within=60)
    assert problem.role == "officer"
    assert "e-mail address on file is not valid" in problem.context["explanation"]
    assert "victim" not in problem.context["explanation"]
    # The case still decides while the letter waits.
    state = await decide(handle, "risk_flag_decision", "applied", "manager")
    assert state.risk_flag
    case = await stack_records.latest_case(ref)
    assert case is not None
    letters = await stack_records.letters(case.case_key)
    assert [x.status for x in letters] == ["undeliverable"]

    fixed = f"{ref.lower()}@example.org"
    await stack_records.upsert_customer(ref, datetime.now(UTC), email=fixed)
    await decide(handle, "letter_undeliverable", "resend", "officer")
    outbox, _port = smtp_outbox

    async def delivered() -> bool:
        return len(messages_to(outbox, fixed)) == 1

    assert await eventually(delivered, within=30)
    await asyncio.sleep(2)  # nothing else follows
    assert len(messages_to(outbox, fixed)) == 1
    letters = await stack_records.letters(case.case_key)
    assert [(x.status, x.recipient) for x in letters] == [("sent", fixed)]


async def test_an_overdue_task_keeps_climbing_until_someone_decides(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    """Escalation does not stop at the first role up: it climbs to a Director and
    reminds again; the Director may then decide."""
    shorten(settings, "housing_solutions", task_due=2)
    handle = await report(client, settings, incident(new_ref("ESC")))
    state = await state_when(
        handle, lambda s: bool(s.open_tasks) and s.open_tasks[0].escalations >= 4, within=60
    )
    task = state.open_tasks[0]
    assert task.escalated_to == "director"
    rows = await stack_records.audit_trail(state.case_key)
    levels = [r.details["to"] for r in rows if r.action == "task_escalated"]
    assert levels[:3] == ["manager", "head_of_service", "director"]
    decided = await decide(handle, "initial_warning", "not_warranted", "director")
    assert not decided.open_tasks


async def test_an_overdue_review_is_visible_to_operators(
    client: Client, worker: Worker, settings: Settings
) -> None:
    """A protocol whose review date passed with no decision shows as overdue, in the
    case state and the ReviewOverdue search attribute."""
    shorten(settings, "housing_solutions")
    handle = await climb_to_protocol(client, settings, new_ref("OVR"))
    await authorise(handle, review_after_seconds=2)
    state = await state_when(handle, lambda s: s.review_overdue, within=30)
    assert any(t.kind == "protocol_review" for t in state.open_tasks)

    async def listed() -> bool:
        query = f"WorkflowId = '{handle.id}' AND ReviewOverdue = true"
        return any([w async for w in client.list_workflows(query)])

    assert await eventually(listed, within=30)
