"""Delivering one letter: at least once, never blindly twice, errors sorted.

The activities run against real records (SQLite and PostgreSQL) and a real SMTP server.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from letters.deliver import MailConfig, message_id
from records.repository import Records
from tests.support import free_port, outbox_messages
from workflows.errors import ErrorType
from workflows.messages import CreateTask, DeliverLetter, DraftLetter, EscalateTask, OpenCase, Task
from workflows.steps import LETTER_DEFAULTS


def mail(port: int, tmp_path: Path) -> MailConfig:
    return MailConfig(
        smtp_host="127.0.0.1", smtp_port=port, sender="ucb@landlord.example", post_room=tmp_path
    )


async def drafted_letter(records: Records, activities: CaseActivities, email: str) -> str:
    """A case and a stored initial-warning letter to ``email``; returns the letter id."""
    ref = f"L-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await records.upsert_customer(ref, now, name="Pat", email=email)
    case = await records.open_case(
        OpenCase(ref, f"ucb-case-{ref}", uuid.uuid4().hex, "housing_solutions", now)
    )
    letter = f"{case.case_key}:initial_warning"
    drafted = await activities.draft_letter(
        DraftLetter(
            letter,
            case.case_key,
            ref,
            "initial_warning",
            {**LETTER_DEFAULTS, "behaviour_summary": "x", "ombudsman": "the Housing Ombudsman"},
        )
    )
    assert drafted.status == "queued" and drafted.delivery == "email"
    return letter


def with_message_id(outbox: Path, letter: str) -> int:
    return sum(1 for m in outbox_messages(outbox) if m["Message-ID"] == message_id(letter))


async def test_a_letter_whose_attempt_outcome_is_unknown_is_resent_once_and_says_so(
    records: Records, smtp_outbox: tuple[Path, int], tmp_path: Path
) -> None:
    outbox, port = smtp_outbox
    activities = CaseActivities(records, mail(port, tmp_path), "Housing Solutions")
    letter = await drafted_letter(records, activities, "pat@example.org")
    # A worker died after recording its attempt, before it could record the outcome.
    await records.begin_letter_attempt(letter, datetime.now(UTC))
    delivered = await activities.deliver_letter(DeliverLetter(letter, "ucb-case-x", "k"))
    assert delivered.status == "sent" and delivered.resent_after_uncertain_attempt
    stored = await records.get_letter(letter)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.resent_after_uncertain) == ("sent", 2, True)
    assert with_message_id(outbox, letter) == 1  # the same Message-ID a first copy would carry
    # Delivered is delivered: a retry of the activity sends nothing more.
    again = await activities.deliver_letter(DeliverLetter(letter, "ucb-case-x", "k"))
    assert again.status == "sent"
    assert with_message_id(outbox, letter) == 1


async def test_an_unusable_address_fails_for_good_and_sends_nothing(
    records: Records, smtp_outbox: tuple[Path, int], tmp_path: Path
) -> None:
    outbox, port = smtp_outbox
    activities = CaseActivities(records, mail(port, tmp_path), "Housing Solutions")
    letter = await drafted_letter(records, activities, "victim@[example.org")
    with pytest.raises(ApplicationError) as failure:
        await activities.deliver_letter(DeliverLetter(letter, "ucb-case-x", "k"))
    assert failure.value.type == ErrorType.LETTER_UNDELIVERABLE and failure.value.non_retryable
    assert "not valid" in failure.value.message and "victim" not in failure.value.message
    stored = await records.get_letter(letter)
    assert stored is not None and stored.status == "undeliverable"
    assert with_message_id(outbox, letter) == 0


async def test_a_mail_server_that_is_down_is_retried_and_the_letter_is_not_in_doubt(
    records: Records, tmp_path: Path
) -> None:
    activities = CaseActivities(records, mail(free_port(), tmp_path), "Housing Solutions")
    letter = await drafted_letter(records, activities, "pat@example.org")
    with pytest.raises(RuntimeError, match="will retry"):  # retryable: not an ApplicationError
        await activities.deliver_letter(DeliverLetter(letter, "ucb-case-x", "k"))
    stored = await records.get_letter(letter)
    # Refused at connect: certainly not sent, so the next attempt is not a "resend".
    assert stored is not None and (stored.status, stored.attempts) == ("queued", 1)


async def test_an_escalation_e_mail_never_holds_the_case_while_the_mail_server_is_down(
    records: Records, tmp_path: Path
) -> None:
    config = MailConfig(
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens: the mail server is down
        sender="ucb@landlord.example",
        post_room=tmp_path,
        role_mailboxes={"manager": "managers@landlord.example"},
    )
    activities = CaseActivities(records, config, "Housing Solutions")
    ref = f"E-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    case = await records.open_case(
        OpenCase(ref, f"ucb-case-{ref}", uuid.uuid4().hex, "housing_solutions", now)
    )
    task = Task("t-1", "initial_warning", "officer", now, now)
    await records.create_task(CreateTask(case.case_key, ref, task))
    escalation = EscalateTask(case.case_key, "t-1", "initial_warning", "manager", now, level=1)
    await ActivityEnvironment().run(activities.escalate_task, escalation)  # does not raise
    stored = await records.get_task("t-1")
    assert stored is not None and (stored.escalated_to, stored.escalations) == ("manager", 1)
