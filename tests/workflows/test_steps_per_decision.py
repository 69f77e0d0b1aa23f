"""How much Temporal work a decision costs, and that the cheaper path leaves the same rows.

Issue 12: deciding a task used to run one activity per records write (``record_decision``,
``draft_letter``, ``update_case_record``, and one per audit row or task opened); a request
for a risk flag review two or three more. Since the patch ``decision-one-step`` a handler's
records writes go in one activity and one transaction (``record_case_writes``), as the
main loop's do since ``incident-one-step``. Cases of customers named ``OLD-...`` take the
step-by-step path here, so the two can be compared row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import UnsandboxedWorkflowRunner

import worker as worker_module
from records.repository import Records
from settings import Settings
from tests.support import eventually
from tests.workflows.helpers import (
    Handle,
    decide,
    has_patch_marker,
    incident,
    new_ref,
    open_task,
    report,
)
from tests.workflows.test_replay import replayer
from tests.workflows.test_steps_per_incident import activities, rows
from workflows.case import CaseWorkflow
from workflows.messages import RiskFlagReviewRequest
from workflows.steps import HANDLER_ONE_STEP, CaseSteps


@pytest.fixture
def old_path_for_old_refs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers run unsandboxed, and the handlers of cases of customers named OLD-... take
    the path from before the patch (one activity per write)."""

    new_path = CaseSteps._handlers_in_one_step

    def handlers_in_one_step(self: CaseSteps) -> bool:
        return not self._state.customer_ref.startswith("OLD-") and new_path(self)

    monkeypatch.setattr(worker_module, "workflow_runner", UnsandboxedWorkflowRunner)
    monkeypatch.setattr(CaseSteps, "_handlers_in_one_step", handlers_in_one_step)
    yield


async def settled(handle: Handle) -> WorkflowHistory:
    """The case's history once two looks a second apart find it the same length."""
    seen: list[int] = []

    async def still() -> WorkflowHistory | None:
        history = await handle.fetch_history()
        seen.append(len(history.events))
        return history if seen[-2:] == [len(history.events)] * 2 else None

    return await eventually(still, within=30, interval=1.0)


async def warned_then_flag_review(
    client: Client, records: Records, settings: Settings, ref: str
) -> tuple[Handle, list[str], list[str], WorkflowHistory]:
    """An incident, then an officer's initial warning by letter, then a request for a
    risk flag review: the activities each update scheduled, and the settled history."""
    await records.upsert_customer(
        ref, datetime.now(UTC), name="Sam", email=f"{ref.lower()}@example.org"
    )
    handle = await report(client, settings, incident(ref))
    await open_task(handle, "initial_warning")
    before = len(activities(await settled(handle)))
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    decided = activities(await settled(handle))
    request = RiskFlagReviewRequest("officer-2", "officer", "Shouted at a surveyor on site")
    await handle.execute_update(CaseWorkflow.request_risk_flag_review, request)
    history = await settled(handle)
    flagged = activities(history)

    async def letters_sent() -> bool:
        case = await records.latest_case(ref)
        assert case is not None
        letters = await records.letters(case.case_key)
        return bool(letters) and all(x.status == "sent" for x in letters)

    assert await eventually(letters_sent)
    return handle, decided[before:], flagged[len(decided) :], history


async def test_a_decision_and_a_flag_review_each_cost_one_records_activity(
    client: Client, settings: Settings, stack_records: Records, old_path_for_old_refs: None
) -> None:
    running = worker_module.build_worker(client, settings, stack_records, strict=True)
    async with running:
        old = await warned_then_flag_review(client, stack_records, settings, new_ref("OLD"))
        new = await warned_then_flag_review(client, stack_records, settings, new_ref("NEW"))
    (old_case, old_decided, old_flagged, old_history) = old
    (new_case, new_decided, new_flagged, new_history) = new
    print(
        "\nactivities per decision (initial warning by letter) and per flag review request:"
        f"\n  step by step: {old_decided} {old_flagged}"
        f"\n  one step:     {new_decided} {new_flagged}"
    )
    # The old path really ran, one activity per write...
    assert {"record_decision", "draft_letter"} <= set(old_decided)
    assert len(old_decided) >= 3 and len(old_flagged) >= 2
    # ...the new one writes each update's records in one activity...
    # (its letter's delivery is the case's own activity too, patch letter-from-case)
    assert new_decided == ["record_case_writes", "deliver_letter"]
    assert new_flagged == ["record_case_writes"]
    # ...and leaves the same rows: audit trail, tasks, letters, case record.
    expected = await rows(stack_records, old_case)
    assert any(":issued" in entry for entry in expected["audit"])  # type: ignore[attr-defined]
    assert await rows(stack_records, new_case) == expected
    assert has_patch_marker(new_history, HANDLER_ONE_STEP), f"no {HANDLER_ONE_STEP} marker"
    await replayer().replay_workflow(new_history)
    await replayer().replay_workflow(old_history)
