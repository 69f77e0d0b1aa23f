"""The Board pack (issue 11): a Temporal Schedule makes the monthly report for the
previous month, as HTML and PDF, stores it once and e-mails the heads of service's and
directors' mailboxes a link, with no personal data; the annual policy review pack comes
from the same code. Real dev server, real SMTP sink, records on SQLite; durations
shortened (the schedule runs every few seconds)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from policy.reporting import LONDON, SECTIONS, previous_month, previous_twelve_months
from records.repository import ApiCall, Records
from reports.render import SECTION_TEXT
from settings import Settings
from starter.board_pack import ensure_board_pack_schedules
from starter.codec import REFUSED
from tests.support import eventually, messages_to, text_body
from tests.unit.test_report_pdf import assert_every_page_renders
from tests.workflows.helpers import incident, new_ref, open_task, report
from tests.workflows.test_policy_paths import shorten
from worker import build_worker
from workflows.board_pack import AnnualReviewPackWorkflow, BoardPackWorkflow
from workflows.board_pack_api import PackErrorType, PackRun


def mailboxes(marker: str) -> dict[str, str]:
    return {
        "manager": f"managers-{marker}@landlord.example",
        "head_of_service": f"heads-{marker}@landlord.example",
        "director": f"directors-{marker}@landlord.example",
    }


async def seed_cases(
    client: Client, settings: Settings, records: Records, marker: str
) -> list[str]:
    """Two customers with names, e-mails and incidents described in their own words, in
    the previous month; returns every personal value seeded (and the refs)."""
    now = datetime.now(UTC)
    last_month = previous_month(now).start + timedelta(days=2, hours=10)
    personal: list[str] = []
    for prefix in ("BPA", "BPB"):
        ref = new_ref(prefix)
        name, email = f"Pat Board{prefix}{marker}", f"board{prefix.lower()}{marker}@example.org"
        described = f"Shouted at the repairs officer, {prefix} {marker}"
        await records.update_customer(
            ref,
            now,
            ApiCall(
                actor="crm",
                role="case_system",
                action="PUT /v1/customers/{customer_ref}",
                outcome=200,
                details={"path": f"/v1/customers/{ref}"},
                at=now,
            ),
            name=name,
            email=email,
            postal_address=f"1 Board {marker} Lane",
        )
        handle = await report(
            client,
            settings,
            replace(incident(ref), description=described, occurred_at=last_month),
        )
        await open_task(handle, "initial_warning")
        personal += [ref, name, email, described, f"1 Board {marker} Lane"]
    return personal


async def runs(client: Client, settings: Settings, workflow: str) -> list[PackRun]:
    """The results of the completed runs of ``workflow`` on the test's task queue."""
    query = f"WorkflowType = '{workflow}' AND TaskQueue = '{settings.task_queue}'"
    results = []
    async for execution in client.list_workflows(query):
        if execution.status == WorkflowExecutionStatus.COMPLETED:
            handle = client.get_workflow_handle(
                execution.id, run_id=execution.run_id, result_type=PackRun
            )
            results.append(await handle.result())
    return results


def whole_message(message: Message) -> str:
    return message.as_string()


async def test_the_scheduled_board_pack_is_stored_once_and_announced_without_personal_data(
    client: Client,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    outbox, _port = smtp_outbox
    marker = uuid.uuid4().hex[:8]
    shorten(settings, "housing_solutions")
    settings.role_mailboxes = mailboxes(marker)
    settings.public_url = "https://ucb.landlord.example"
    settings.board_pack_interval_seconds = 3  # shortened: the 1st of the month, every 3 s
    schedule_id = f"ucb-board-pack-{settings.task_queue}"
    annual_id = f"ucb-annual-review-pack-{settings.task_queue}"

    moved_before = REFUSED["bound to another workflow"]
    async with build_worker(client, settings, stack_records, strict=True):
        personal = await seed_cases(client, settings, stack_records, marker)
        outcomes = await ensure_board_pack_schedules(
            client, settings, stack_records, schedule_id=schedule_id, annual_schedule_id=annual_id
        )
        assert outcomes == {schedule_id: "created", annual_id: "absent"}  # no annual review
        again = await ensure_board_pack_schedules(
            client, settings, stack_records, schedule_id=schedule_id, annual_schedule_id=annual_id
        )
        assert again[schedule_id] == "updated"
        schedule = client.get_schedule_handle(schedule_id)
        try:
            # The first scheduled run, and a second one for the same month.
            async def two_runs() -> list[PackRun] | None:
                found = await runs(client, settings, "BoardPackWorkflow")
                return found if len(found) >= 2 else None

            done = await eventually(two_runs, within=120, interval=1)
        finally:
            await schedule.delete()

    # Each run after the first is handed its predecessor's result: read, not refused.
    assert REFUSED["bound to another workflow"] == moved_before
    first = next(run for run in done if run.created)
    assert first.emailed and first.pack_id is not None
    later = [run for run in done if run is not first]
    assert later and all(
        run.pack_id == first.pack_id and not run.created and not run.emailed for run in later
    )
    period = previous_month(datetime.now(UTC))
    assert (first.period_start, first.period_end) == (period.start, period.end)

    # One pack, for the previous month, stored with its HTML and PDF.
    packs = await stack_records.report_packs()
    assert [(p.pack_id, p.kind, p.period_start) for p in packs] == [
        (first.pack_id, "monthly", period.start)
    ]
    pack = await stack_records.get_report_pack(first.pack_id)
    assert pack is not None and pack.emailed_at is not None
    assert pack.pdf.startswith(b"%PDF-")
    assert assert_every_page_renders(pack.pdf) >= 1 + len(SECTIONS)
    assert pack.html.lstrip().lower().startswith("<!doctype html>")
    for section in SECTIONS:
        assert SECTION_TEXT[section].title in pack.html, section

    # Exactly one e-mail to each of the two roles' mailboxes: a link, nothing personal.
    link = f"https://ucb.landlord.example/inbox/reports/packs/{first.pack_id}"
    told = settings.role_mailboxes
    for role in ("head_of_service", "director"):
        [message] = messages_to(outbox, told[role])
        assert (
            message["Subject"] == f"Board pack for {period.start.astimezone(LONDON):%B %Y} is ready"
        )
        body = text_body(message)
        assert link in body and f"{link}.pdf" in body
        everything = whole_message(message)
        for value in personal:
            assert value not in everything, (role, value)
        assert message["Message-ID"]
    assert messages_to(outbox, told["manager"]) == []  # managers are not told

    # Audited once, by the system, with no personal data.
    rows, _ = await stack_records.audit_events(actor="system", limit=50)
    made = [row for row in rows if row.action == "board_pack_made"]
    assert len(made) == 1 and made[0].case_key is None
    assert made[0].details["pack_id"] == first.pack_id
    assert made[0].details["kind"] == "monthly"
    assert set(made[0].details["emailed_roles"]) == {"director", "head_of_service"}  # type: ignore[call-overload]
    for value in personal:
        assert value not in repr(made[0].details)


async def test_a_pack_nobody_can_be_told_of_fails_visibly_and_stays_stored(
    client: Client,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    outbox, _port = smtp_outbox
    marker = uuid.uuid4().hex[:8]
    shorten(settings, "housing_solutions")
    settings.role_mailboxes = {"manager": f"managers-{marker}@landlord.example"}
    run_id = f"ucb-board-pack-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, settings, stack_records, strict=True):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                BoardPackWorkflow.run, id=run_id, task_queue=settings.task_queue
            )
    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == str(PackErrorType.NO_ROLE_MAILBOX)
    assert "head_of_service" in str(cause.cause) and "director" in str(cause.cause)
    [stored] = await stack_records.report_packs()
    assert stored.emailed_at is None
    rows, _ = await stack_records.audit_events(actor="system", limit=50)
    assert not [row for row in rows if row.action == "board_pack_made"]

    # Mended, the next run e-mails the stored pack once, and makes no second one.
    settings.role_mailboxes = mailboxes(marker)
    async with build_worker(client, settings, stack_records, strict=True):
        mended = await client.execute_workflow(
            BoardPackWorkflow.run, id=f"{run_id}-again", task_queue=settings.task_queue
        )
    assert mended.pack_id == stored.pack_id and not mended.created and mended.emailed
    assert [p.pack_id for p in await stack_records.report_packs()] == [stored.pack_id]
    assert len(messages_to(outbox, settings.role_mailboxes["director"])) == 1


async def test_the_annual_policy_review_pack_covers_the_previous_twelve_months(
    client: Client,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    outbox, _port = smtp_outbox
    marker = uuid.uuid4().hex[:8]
    shorten(settings, "magna")  # Magna reviews its policy every year (April by default)
    settings.role_mailboxes = mailboxes(marker)
    schedule_id = f"ucb-board-pack-{settings.task_queue}"
    annual_id = f"ucb-annual-review-pack-{settings.task_queue}"
    async with build_worker(client, settings, stack_records, strict=True):
        outcomes = await ensure_board_pack_schedules(
            client, settings, stack_records, schedule_id=schedule_id, annual_schedule_id=annual_id
        )
        try:
            assert outcomes == {schedule_id: "created", annual_id: "created"}
            described = await client.get_schedule_handle(annual_id).describe()
            [calendar] = described.schedule.spec.calendars
            assert [r.start for r in calendar.month] == [4]
            assert [r.start for r in calendar.day_of_month] == [1]
            assert described.schedule.spec.time_zone_name == "Europe/London"
            monthly = await client.get_schedule_handle(schedule_id).describe()
            assert [r.start for r in monthly.schedule.spec.calendars[0].day_of_month] == [1]
        finally:
            for handle in (schedule_id, annual_id):
                await client.get_schedule_handle(handle).delete()

        result = await client.execute_workflow(
            AnnualReviewPackWorkflow.run,
            id=f"ucb-annual-review-pack-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
    period = previous_twelve_months(datetime.now(UTC))
    assert result.created and result.emailed and result.pack_id is not None
    assert (result.period_start, result.period_end) == (period.start, period.end)
    assert 365 <= (period.end - period.start).days <= 366
    pack = await stack_records.get_report_pack(result.pack_id)
    assert pack is not None and pack.kind == "annual" and pack.profile == "magna"
    assert_every_page_renders(pack.pdf)
    first = period.start.astimezone(LONDON)
    [message] = messages_to(outbox, settings.role_mailboxes["head_of_service"])
    assert message["Subject"].startswith(f"Annual policy review pack, {first:%B %Y} to ")


async def test_a_deployment_without_an_annual_review_makes_no_annual_pack(
    client: Client, settings: Settings, stack_records: Records
) -> None:
    shorten(settings, "housing_solutions")
    async with build_worker(client, settings, stack_records, strict=True):
        result = await client.execute_workflow(
            AnnualReviewPackWorkflow.run,
            id=f"ucb-annual-review-pack-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
    assert result.pack_id is None and not result.emailed
    assert await stack_records.report_packs() == []
