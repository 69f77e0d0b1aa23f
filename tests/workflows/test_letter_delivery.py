"""A case delivers its letters itself, and loses none when a run ends mid-delivery.

Since the patch ``letter-from-case`` the delivery is an activity of the case, started and
not awaited (no letter workflow per letter). A delivery still retrying when the run
continues-as-new (the mail server down) goes on in a letter workflow of its own, which
outlives the run; the letter then arrives once the server is back, and only once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner

import worker as worker_module
from policy.categories import Category, Channel
from records.repository import Records
from settings import Settings
from starter.temporal import case_handle
from tests.support import eventually, free_port, messages_to
from tests.workflows.helpers import incident, new_ref, report, state_when
from tests.workflows.test_no_wedge import run_lengths
from tests.workflows.test_policy_paths import customer, shorten
from workflows import case as case_module
from workflows import steps as steps_module


@pytest.fixture
def short_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers run unsandboxed, and a run continues-as-new after 30 events, handing over
    deliveries still in flight after 1 s."""
    monkeypatch.setattr(worker_module, "workflow_runner", UnsandboxedWorkflowRunner)
    monkeypatch.setattr(case_module, "CONTINUE_AFTER_EVENTS", 30)
    monkeypatch.setattr(steps_module, "HANDOVER_WAIT", timedelta(seconds=1))
    yield


async def test_a_letter_retrying_when_the_run_ends_is_handed_over_and_arrives_once(
    client: Client,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    short_runs: None,
) -> None:
    shorten(settings, "housing_solutions", letter_retry_max_interval=1)
    ref = new_ref("HANDOVER")
    address = await customer(stack_records, ref)
    mail_down = settings.model_copy(update={"smtp_port": free_port()})
    async with worker_module.build_worker(client, mail_down, stack_records, strict=True):
        handle = await report(client, settings, incident(ref, Category.VERBAL_ABUSE, Channel.EMAIL))
        state = await state_when(handle, lambda s: bool(s.letters), within=30)
        [letter] = state.letters
        # A second incident wakes the case past its (shortened) bound: it continues-as-new.
        await handle.signal("report_incident", incident(ref))

        async def handed_over() -> str | None:
            child = client.get_workflow_handle(f"letter-{letter.letter_id}-1")
            try:
                described = await child.describe()
            except Exception:
                return None
            return described.status.name if described.status else None

        # The run continued-as-new while the letter retried; its delivery went on.
        assert await eventually(handed_over, within=60) == "RUNNING"
        assert len(await run_lengths(client, handle.id)) >= 2
        [stored] = await stack_records.letters(state.case_key)
        assert stored.status != "sent"
    outbox, _port = smtp_outbox
    assert messages_to(outbox, address) == []

    async with worker_module.build_worker(client, settings, stack_records, strict=True):

        async def delivered() -> bool:
            return len(messages_to(outbox, address)) == 1

        assert await eventually(delivered, within=30)
        assert await eventually(lambda: handed_over_done(client, letter.letter_id), within=30)
        await asyncio.sleep(2)  # nothing else follows
        [stored] = await stack_records.letters(state.case_key)
        latest = await state_when(case_handle(client, handle.id), lambda s: s.runs >= 2)
    assert len(messages_to(outbox, address)) == 1
    assert stored.status == "sent"
    assert not [t for t in latest.open_tasks if t.kind == "letter_undeliverable"]


async def handed_over_done(client: Client, letter_id: str) -> bool:
    described = await client.get_workflow_handle(f"letter-{letter_id}-1").describe()
    return described.status is not None and described.status.name == "COMPLETED"
