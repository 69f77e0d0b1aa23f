"""A case pass's records writes in one activity (patch ``incident-one-step``).

``record_case_writes`` must leave exactly the rows the single-write activities leave
(audit rows with the same event keys, tasks, the letter, the case row), write nothing
twice on a retry, and write nothing at all if a letter cannot be built.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.cases import CaseActivities
from letters.deliver import MailConfig
from records.repository import Records
from workflows.errors import ErrorType
from workflows.messages import (
    CaseWrite,
    CreateTask,
    DraftLetter,
    OpenCase,
    RecordCaseEvent,
    RecordCaseWrites,
    SupersedeTask,
    Task,
    UpdateCaseRecord,
)
from workflows.steps import LETTER_DEFAULTS

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def activities_for(records: Records, tmp_path: Path) -> CaseActivities:
    mail = MailConfig(
        smtp_host="127.0.0.1", smtp_port=1, sender="ucb@x.example", post_room=tmp_path
    )
    return CaseActivities(records, mail, "Housing Solutions")


def pass_writes(case_key: str, ref: str) -> list[CaseWrite]:
    """What one abusive e-mail's pass writes (plus a task it supersedes), in order."""
    first, second = (f"{case_key}:task-{n}" for n in (1, 2))

    def task(task_id: str, kind: str, role: str) -> CaseWrite:
        return CaseWrite(
            task=CreateTask(
                case_key,
                ref,
                Task(task_id, kind, role, NOW, NOW + timedelta(days=5), context={"category": "x"}),
            )
        )

    return [
        CaseWrite(
            event=RecordCaseEvent(
                case_key,
                f"{case_key}:initial_warning:i-1",
                "system",
                "system",
                "initial_warning_issued",
                NOW,
                details={"method": "abusive_correspondence"},
            )
        ),
        task(first, "initial_warning", "officer"),
        CaseWrite(supersede=SupersedeTask(case_key, first, "initial_warning", "given", NOW)),
        CaseWrite(
            letter=DraftLetter(
                f"{case_key}:abusive_correspondence",
                case_key,
                ref,
                "abusive_correspondence",
                {**LETTER_DEFAULTS, "behaviour_summary": "abuse", "ombudsman": "the Ombudsman"},
            )
        ),
        task(second, "risk_flag_decision", "manager"),
        CaseWrite(
            case_record=UpdateCaseRecord(
                case_key, "initial_warning", False, NOW, None, None, False, False
            )
        ),
    ]


async def one_by_one(activities: CaseActivities, writes: list[CaseWrite]) -> None:
    """The path before the patch: one activity per write."""
    for write in writes:
        if write.event is not None:
            await activities.record_case_event(write.event)
        if write.task is not None:
            await activities.create_task(write.task)
        if write.supersede is not None:
            await activities.supersede_task(write.supersede)
        if write.letter is not None:
            await activities.draft_letter(write.letter)
        if write.case_record is not None:
            await activities.update_case_record(write.case_record)


async def new_case(records: Records, ref: str) -> str:
    opened = await records.open_case(
        OpenCase(ref, f"ucb-case-{ref}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, "hs", NOW)
    )
    return opened.case_key


async def rows(records: Records, case_key: str) -> dict[str, Any]:
    """Everything the writes leave for the case, its own key written as <case>."""

    def plain(value: object) -> object:
        text = repr(value)
        return text.replace(case_key, "<case>")

    case = await records.get_case(case_key)
    assert case is not None
    return {
        "audit": [
            plain((a.event_key, a.actor, a.role, a.action, a.reason, a.details, a.at))
            for a in await records.audit_trail(case_key)
        ],
        "tasks": sorted(
            plain((t.task_id, t.kind, t.role, t.status, t.due_at, t.context, t.reason))
            for t in await records.tasks(case_key)
        ),
        "letters": [
            plain((x.letter_id, x.kind, x.delivery, x.status, x.recipient, x.subject, x.body_text))
            for x in await records.letters(case_key)
        ],
        "case": plain((case.stage, case.risk_flag, case.updated_at, case.direct_contact_ended)),
    }


async def test_one_transaction_leaves_the_rows_the_single_writes_leave(
    records: Records, tmp_path: Path
) -> None:
    activities = activities_for(records, tmp_path)
    ref = f"W-{uuid.uuid4().hex[:8]}"
    await records.upsert_customer(ref, NOW, name="Sam", postal_address="2 Low Road")
    old, new = await new_case(records, ref), await new_case(records, ref)
    await one_by_one(activities, pass_writes(old, ref))
    recorded = await activities.record_case_writes(RecordCaseWrites(new, pass_writes(new, ref)))
    assert [(x.letter_id, x.delivery, x.status) for x in recorded.letters] == [
        (f"{new}:abusive_correspondence", "post", "queued")
    ]
    expected = await rows(records, old)
    assert expected["audit"] and expected["tasks"] and expected["letters"]
    assert await rows(records, new) == expected
    # A retry (the activity ran, its answer was lost) writes nothing twice.
    again = await activities.record_case_writes(RecordCaseWrites(new, pass_writes(new, ref)))
    assert again == recorded
    assert await rows(records, new) == expected


async def test_a_letter_that_cannot_be_built_writes_nothing_of_the_pass(
    records: Records, tmp_path: Path
) -> None:
    activities = activities_for(records, tmp_path)
    ref = f"W-{uuid.uuid4().hex[:8]}"
    await records.upsert_customer(ref, NOW, name="Sam", email="sam@example.org")
    case_key = await new_case(records, ref)
    writes = pass_writes(case_key, ref)
    for write in writes:
        if write.letter is not None:
            write.letter.kind = "no_such_letter"
    with pytest.raises(ApplicationError) as failure:
        await activities.record_case_writes(RecordCaseWrites(case_key, writes))
    assert failure.value.type == str(ErrorType.LETTER_NOT_RENDERED)
    assert failure.value.non_retryable
    assert not await records.audit_trail(case_key)
    assert not await records.tasks(case_key)
