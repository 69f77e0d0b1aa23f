"""The first end-to-end case on a real Temporal dev server, SMTP server and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from policy.categories import Category, Channel
from records.repository import Records
from settings import Settings
from starter.temporal import report_incident
from tests.support import eventually, messages_to, text_body
from workflows.case import CaseWorkflow
from workflows.messages import CaseState, IncidentReport


def incident(
    customer_ref: str, category: Category = Category.UNREASONABLE_PERSISTENCE
) -> IncidentReport:
    return IncidentReport(
        incident_id=str(uuid.uuid4()),
        customer_ref=customer_ref,
        category=category,
        channel=Channel.EMAIL,
        occurred_at=datetime.now(UTC),
        description="Sixth email today about the same closed repair",
        reported_by="officer-7",
        reported_at=datetime.now(UTC),
    )


def new_ref() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


async def state_when(handle: WorkflowHandle[CaseWorkflow, CaseState], check: object) -> CaseState:
    async def probe() -> CaseState | None:
        state = await handle.query(CaseWorkflow.state)
        return state if callable(check) and check(state) else None

    return await eventually(probe)


async def test_first_persistence_incident_sends_one_initial_warning(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    ref = new_ref()
    address = f"{ref.lower()}@example.org"
    await stack_records.upsert_customer(ref, datetime.now(UTC), name="Pat", email=address)

    handle = await report_incident(client, settings, incident(ref))
    state = await state_when(handle, lambda s: s.stage == "initial_warning" and s.letters)
    assert state.letters[0].delivery == "email"

    second = await report_incident(client, settings, incident(ref))
    assert second.id == handle.id  # same case: signal-with-start found it running
    await state_when(handle, lambda s: len(s.incident_ids) == 2)

    outbox, _port = smtp_outbox
    messages = messages_to(outbox, address)
    assert len(messages) == 1, "exactly one initial warning for the case"
    assert "initial warning" in messages[0]["Subject"]
    assert "Dear Pat" in text_body(messages[0])

    case = await stack_records.latest_case(ref)
    assert case is not None and case.stage == "initial_warning"
    letters = await stack_records.letters(case.case_key)
    assert [(x.kind, x.status) for x in letters] == [("initial_warning", "sent")]
    assert len(await stack_records.incidents(case.case_key)) == 2


async def test_customer_without_email_gets_a_print_ready_letter_for_the_post_room(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    ref = new_ref()
    await stack_records.upsert_customer(
        ref, datetime.now(UTC), name="Sam", postal_address="2 Low Road\nTown"
    )
    handle = await report_incident(client, settings, incident(ref, Category.VEXATIOUS_COMPLAINTS))
    state = await state_when(handle, lambda s: bool(s.letters))
    assert state.letters[0].delivery == "post"

    posted = list(settings.post_room.glob(f"{ref}-initial_warning-*.html"))
    assert len(posted) == 1
    assert "2 Low Road" in posted[0].read_text()
    case = await stack_records.latest_case(ref)
    assert case is not None
    letters = await stack_records.letters(case.case_key)
    assert [(x.delivery, x.status) for x in letters] == [("post", "stored")]


async def test_malformed_signal_is_counted_and_the_case_carries_on(
    client: Client, worker: Worker, settings: Settings
) -> None:
    ref = new_ref()
    handle = await report_incident(client, settings, incident(ref))
    await state_when(handle, lambda s: len(s.incident_ids) == 1)

    await handle.signal("report_incident", {"customer_ref": ref, "category": "not-a-category"})
    await handle.signal("report_incident", "not even an object")
    await state_when(handle, lambda s: s.malformed_signals == 2)

    await report_incident(client, settings, incident(ref))
    state = await state_when(handle, lambda s: len(s.incident_ids) == 2)
    assert state.malformed_signals == 2
    description = await handle.describe()
    assert description.status is not None and description.status.name == "RUNNING"


async def test_the_same_incident_signalled_twice_is_recorded_once(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    ref = new_ref()
    report = incident(ref)
    handle = await report_incident(client, settings, report)
    await report_incident(client, settings, report)
    await report_incident(client, settings, incident(ref))
    state = await state_when(handle, lambda s: len(s.incident_ids) == 2)
    assert state.incident_ids.count(report.incident_id) == 1


async def test_case_stage_search_attribute_finds_the_case(
    client: Client, worker: Worker, settings: Settings
) -> None:
    ref = new_ref()
    handle = await report_incident(client, settings, incident(ref))
    await state_when(handle, lambda s: s.stage == "initial_warning")

    async def listed() -> list[str] | None:
        query = f"CaseStage = 'initial_warning' AND CustomerRef = '{ref}'"
        ids = [wf.id async for wf in client.list_workflows(query)]
        return ids or None

    assert await eventually(listed) == [handle.id]
