"""Incidents and letters on a real Temporal dev server, SMTP server and database."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from policy.categories import Category, Channel
from records.repository import Records
from settings import Settings
from tests.support import eventually, messages_to, text_body
from tests.workflows.helpers import decide, incident, new_ref, open_task, report, state_when


async def test_initial_warning_is_the_officers_decision_and_sent_once(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    ref = new_ref()
    address = f"{ref.lower()}@example.org"
    await stack_records.upsert_customer(ref, datetime.now(UTC), name="Pat", email=address)
    handle = await report(client, settings, incident(ref))
    task = await open_task(handle, "initial_warning")
    assert task.role == "officer"
    second = await report(client, settings, incident(ref))
    assert second.id == handle.id  # signal-with-start found the running case
    await state_when(handle, lambda s: s.incident_count == 2)
    state = await state_when(handle, lambda s: len(s.open_tasks) == 1)  # no second task

    state = await decide(handle, "initial_warning", "issued", "officer", method="letter")
    assert state.stage == "initial_warning" and not state.open_tasks
    outbox, _port = smtp_outbox

    async def sent() -> list[Message] | None:
        # The update answers once the letter is stored and its delivery started.
        return messages_to(outbox, address) or None

    messages = await eventually(sent)
    assert len(messages) == 1
    assert "initial warning" in messages[0]["Subject"]
    assert "Dear Pat" in text_body(messages[0])
    case = await stack_records.latest_case(ref)
    assert case is not None and case.stage == "initial_warning"

    async def marked_sent() -> list[tuple[str, str]] | None:
        letters = [(x.kind, x.status) for x in await stack_records.letters(case.case_key)]
        return letters if letters and letters[0][1] == "sent" else None

    assert await eventually(marked_sent) == [("initial_warning", "sent")]
    assert len(await stack_records.incidents(case.case_key)) == 2
    actions = [a.action for a in await stack_records.audit_trail(case.case_key)]
    assert actions.count("initial_warning:issued") == 1


async def test_warning_already_given_in_person_counts_as_the_initial_warning(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    ref = new_ref()
    await stack_records.upsert_customer(ref, datetime.now(UTC), email=f"{ref.lower()}@example.org")
    handle = await report(
        client,
        settings,
        incident(ref, Category.VERBAL_ABUSE, Channel.PHONE, warned_by_officer="phone"),
    )
    # The stage is derived at the end of the pass that gave the warning: wait for both.
    state = await state_when(
        handle,
        lambda s: s.initial_warning_given and bool(s.letters) and s.stage != "open",
    )
    # HS 6.5.1: it counts as the initial warning, and it is confirmed in writing (once).
    assert [x.kind for x in state.letters] == ["initial_warning"]
    assert state.stage == "initial_warning"
    # Verbal abuse: the officer decides on a police report, a manager on the risk flag.
    assert not state.risk_flag
    assert sorted(t.kind for t in state.open_tasks) == ["police_report", "risk_flag_decision"]
    case = await stack_records.latest_case(ref)
    assert case is not None and not case.risk_flag
    actions = [a.action for a in await stack_records.audit_trail(case.case_key)]
    assert "initial_warning_issued" in actions and "risk_flag_set" not in actions


async def test_abusive_email_gets_the_abusive_correspondence_notice_by_post_without_email(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    ref = new_ref()
    await stack_records.upsert_customer(
        ref, datetime.now(UTC), name="Sam", postal_address="2 Low Road\nTown"
    )
    handle = await report(client, settings, incident(ref, Category.VERBAL_ABUSE, Channel.EMAIL))
    state = await state_when(handle, lambda s: bool(s.letters))
    assert [(x.kind, x.delivery) for x in state.letters] == [("abusive_correspondence", "post")]
    # The notice tells them in writing: it is the initial warning (one letter, no task).
    assert state.initial_warning_given
    assert "initial_warning" not in [t.kind for t in state.open_tasks]
    await report(client, settings, incident(ref, Category.VERBAL_ABUSE, Channel.EMAIL))
    state = await state_when(handle, lambda s: s.incident_count == 2)
    assert len(state.letters) == 1, "one notice per case, not one per email"
    posted = list(settings.post_room.glob(f"{ref}-abusive_correspondence-*.html"))
    assert len(posted) == 1 and "2 Low Road" in posted[0].read_text()


async def test_malformed_signal_is_counted_and_the_case_carries_on(
    client: Client, worker: Worker, settings: Settings
) -> None:
    ref = new_ref()
    handle = await report(client, settings, incident(ref))
    await state_when(handle, lambda s: s.incident_count == 1)
    await handle.signal("report_incident", {"customer_ref": ref, "category": "not-a-category"})
    await handle.signal("report_incident", "not even an object")
    await state_when(handle, lambda s: s.malformed_signals == 2)
    await report(client, settings, incident(ref))
    state = await state_when(handle, lambda s: s.incident_count == 2)
    assert state.malformed_signals == 2
    description = await handle.describe()
    assert description.status is not None and description.status.name == "RUNNING"


async def test_the_same_incident_signalled_twice_is_recorded_once(
    client: Client, worker: Worker, settings: Settings
) -> None:
    ref = new_ref()
    first = incident(ref)
    handle = await report(client, settings, first)
    await report(client, settings, first)
    await report(client, settings, incident(ref))
    state = await state_when(handle, lambda s: s.incident_count == 2)
    assert state.recent_incident_ids.count(first.incident_id) == 1


async def test_case_stage_search_attribute_finds_the_case(
    client: Client, worker: Worker, settings: Settings
) -> None:
    ref = new_ref()
    handle = await report(client, settings, incident(ref))
    await open_task(handle, "initial_warning")

    async def listed() -> list[str] | None:
        query = f"CaseStage = 'open' AND CustomerRef = '{ref}' AND OpenTasks = 1"
        ids = [wf.id async for wf in client.list_workflows(query)]
        return ids or None

    assert await eventually(listed) == [handle.id]
