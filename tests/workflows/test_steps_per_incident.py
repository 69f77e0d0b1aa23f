"""How much Temporal work one incident costs: activities, workflow tasks, history events.

Issue 12: a verbal-abuse-by-email incident on a new case used to schedule eight activities
(``open_case``, ``record_incidents``, ``record_case_event``, ``draft_letter``,
``create_task`` twice, ``update_case_record`` and the letter's ``deliver_letter``). Since
the patch ``incident-one-step`` the records writes of a main-loop pass are one activity
and one transaction (``record_case_writes``); this pins the smaller number so the saving
cannot silently regress, and checks the pass leaves the rows the step-by-step pass left.
Since the patch ``letter-from-case`` the case delivers the letter by an activity of its own:
one workflow per incident, where a letter workflow (a child) used to deliver it; since
``open-with-first-batch`` the activity that opens a new case records its first incidents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import worker as worker_module
from policy.categories import Category, Channel
from records.repository import Records
from settings import Settings
from tests.support import eventually
from tests.workflows.helpers import Handle, has_patch_marker, incident, new_ref, report, state_when
from tests.workflows.test_replay import replayer
from workflows.steps import LETTER_FROM_CASE, ONE_STEP, OPEN_WITH_FIRST_BATCH, CaseSteps

SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


def activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == SCHEDULED
    ]


def counts(history: WorkflowHistory) -> tuple[int, int, int]:
    """Activities scheduled, workflow tasks completed, history events."""
    kinds = Counter(e.event_type for e in history.events)
    return kinds[SCHEDULED], kinds[COMPLETED], len(history.events)


async def abusive_email(
    client: Client, settings: Settings, records: Records, ref: str
) -> tuple[Handle, WorkflowHistory]:
    """One abusive e-mail on a new case, handled and its letter delivered: the case and its
    settled history."""
    await records.upsert_customer(
        ref, datetime.now(UTC), name="Sam", email=f"{ref.lower()}@example.org"
    )
    handle = await report(client, settings, incident(ref, Category.VERBAL_ABUSE, Channel.EMAIL))
    state = await state_when(
        handle, lambda s: bool(s.letters) and len(s.open_tasks) == 2 and s.stage != "open"
    )
    [letter] = state.letters

    async def delivered() -> bool:
        [stored] = [
            x for x in await records.letters(state.case_key) if x.letter_id == letter.letter_id
        ]
        return stored.status == "sent"

    await eventually(delivered, within=30)
    seen: list[int] = []

    async def settled() -> WorkflowHistory | None:
        history = await handle.fetch_history()
        seen.append(len(history.events))
        return history if seen[-2:] == [len(history.events)] * 2 else None

    return handle, await eventually(settled, within=30, interval=1.0)


async def test_one_abusive_email_on_a_new_case_costs_three_activities_in_one_workflow(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    ref = new_ref()
    _handle, history = await abusive_email(client, settings, stack_records, ref)
    assert activities(history) == ["open_case", "record_case_writes", "deliver_letter"]
    # Before incident-one-step: eight activities, twelve workflow tasks and 72 events in two
    # workflows; before letter-from-case: four, eight and 50 (the letter's child had 2, 11);
    # before open-with-first-batch (record_incidents apart): four, five and 38.
    scheduled, tasks, events = counts(history)
    assert (scheduled, tasks) == (3, 4), counts(history)
    assert events <= 33, counts(history)
    case = await stack_records.latest_case(ref)
    assert case is not None
    children = await client.count_workflows(
        f"WorkflowType = 'LetterWorkflow' AND WorkflowId STARTS_WITH 'letter-{case.case_key}:'"
    )
    assert children.count == 0
    # The new paths leave their patch markers, and the history replays.
    for patch in (ONE_STEP, LETTER_FROM_CASE, OPEN_WITH_FIRST_BATCH):
        assert has_patch_marker(history, patch), f"no {patch} marker"
    await replayer().replay_workflow(history)


@pytest.fixture
def old_path_for_old_refs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers run unsandboxed, and cases of customers named OLD-... take the path from
    before the patch (one activity per write), so the two can be compared."""

    new_path = CaseSteps._in_one_step

    def in_one_step(self: CaseSteps) -> bool:
        return not self._state.customer_ref.startswith("OLD-") and new_path(self)

    monkeypatch.setattr(worker_module, "workflow_runner", UnsandboxedWorkflowRunner)
    monkeypatch.setattr(CaseSteps, "_in_one_step", in_one_step)
    yield


async def rows(records: Records, handle: Handle) -> dict[str, object]:
    """What the case left in the records, without its own keys, ids and clock."""
    case = await records.latest_case(handle.id.removeprefix("ucb-case-"))
    assert case is not None
    key = case.case_key
    tasks = await records.tasks(key)
    incidents = await records.incidents(key)
    names = {t.task_id: f"<task {t.kind}>" for t in tasks}
    names.update({i.incident_id: "<incident>" for i in incidents})

    def plain(text: str) -> str:
        for task_id, name in names.items():
            text = text.replace(task_id, name)
        return text.replace(key, "<case>").replace(case.customer_ref, "<ref>")

    return {
        "audit": sorted(
            plain(repr((a.event_key, a.actor, a.role, a.action, a.reason, a.details)))
            for a in await records.audit_trail(key)
        ),
        "tasks": sorted(
            plain(repr((t.kind, t.role, t.status, t.due_at - t.created_at, t.context)))
            for t in tasks
        ),
        "letters": [
            plain(repr((x.letter_id, x.kind, x.delivery, x.status, x.subject, x.body_text)))
            for x in await records.letters(key)
        ],
        "case": (case.stage, case.risk_flag, case.direct_contact_ended, case.interim_measures),
        "incidents": len(incidents),
    }


async def test_the_one_step_pass_leaves_the_rows_the_step_by_step_pass_left(
    client: Client, settings: Settings, stack_records: Records, old_path_for_old_refs: None
) -> None:
    running = worker_module.build_worker(client, settings, stack_records, strict=True)
    async with running:
        old = await abusive_email(client, settings, stack_records, new_ref("OLD"))
        new = await abusive_email(client, settings, stack_records, new_ref("NEW"))
        new_state, old_state = await new[0].query("state"), await old[0].query("state")
    (old_case, old_history), (new_case, new_history) = old, new
    print(
        "\nactivities, workflow tasks, events per abusive e-mail:"
        f"\n  step by step: {counts(old_history)} {activities(old_history)}"
        f"\n  one step:     {counts(new_history)} {activities(new_history)}"
    )
    assert len(activities(old_history)) == 7  # the old path really ran
    assert activities(new_history)[-2:] == ["record_case_writes", "deliver_letter"]
    expected = await rows(stack_records, old_case)
    assert expected["audit"] and expected["tasks"] and expected["letters"]
    assert await rows(stack_records, new_case) == expected
    assert [(x["kind"], x["delivery"]) for x in new_state["letters"]] == [
        (x["kind"], x["delivery"]) for x in old_state["letters"]
    ]
