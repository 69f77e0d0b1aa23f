"""Patched workflow changes: new cases take the new path, old histories keep the old one.

The worked example of "Changing workflow code safely" (README): ``review-due-audit-event``
records an audit row when a protocol review falls due. Histories saved before the patch
(tests/histories/) still replay (test_replay.py); a case started now takes the new path,
and its history, with the patch marker, replays too.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from starter.temporal import profile_from_settings
from tests.support import eventually
from tests.workflows.helpers import authorise, has_patch_marker, new_ref, open_task
from tests.workflows.test_policy_paths import climb_to_protocol, shorten
from tests.workflows.test_replay import replayer
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id
from workflows.messages import CaseInput, CaseState

PATCH_ID = "review-due-audit-event"


async def test_a_review_falling_due_is_recorded_in_the_audit_trail(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    shorten(settings, "housing_solutions")
    handle = await climb_to_protocol(client, settings, new_ref("RD"))
    state = await authorise(handle, review_after_seconds=3)
    assert state.protocol is not None
    protocol_id = state.protocol.protocol_id
    await open_task(handle, "protocol_review", within=30)

    async def review_due_rows() -> list[dict[str, object]] | None:
        trail = await stack_records.audit_trail(state.case_key)
        return [a.details for a in trail if a.action == "protocol_review_due"] or None

    [details] = await eventually(review_due_rows, within=30)
    assert details == {"next_review_at": state.protocol.next_review_at.isoformat()}
    trail = await stack_records.audit_trail(state.case_key)
    [row] = [a for a in trail if a.action == "protocol_review_due"]
    assert row.event_key.endswith(f":review_due:{protocol_id}:0")
    assert (row.actor, row.role) == ("system", "system")

    # the new path leaves the patch marker in history, and that history replays too
    history = await handle.fetch_history()
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    patch_data = [
        payload.data
        for m in markers
        if m.marker_name == "core_patch"
        for details in m.details.values()
        for payload in details.payloads
    ]
    assert any(PATCH_ID.encode() in data for data in patch_data), f"no {PATCH_ID} marker"
    await replayer().replay_workflow(history)


ROUND_TWO = "policy-round-two"


async def test_a_first_round_case_continuing_into_round_two_gets_review_dates(
    client: Client, worker: Worker, settings: Settings
) -> None:
    """A run continued from a first-round case (direct contact ended at once, a flag with
    no review date) starts the second round with a review date for both."""
    shorten(settings, "magna")
    ref = new_ref("R2")
    carried = CaseState(customer_ref=ref, direct_contact_ended=True, risk_flag=True)
    handle = await client.start_workflow(
        CaseWorkflow.run,
        CaseInput(ref, profile_from_settings(settings), carried=carried),
        id=case_workflow_id(ref),
        task_queue=settings.task_queue,
    )

    async def opened() -> CaseState | None:
        state = await handle.query(CaseWorkflow.state)
        return state if state.case_key else None

    state = await eventually(opened)
    restriction = state.protocol
    assert restriction is not None and restriction.kind == "direct_contact_ended"
    assert restriction.next_review_at > restriction.authorised_at
    assert state.risk_flag_review_at is not None
    assert state.stage == "direct_contact_ended"
    history = await handle.fetch_history()
    # A new run takes the second round and records the patch marker.
    assert has_patch_marker(history, ROUND_TWO)
    await replayer().replay_workflow(history)
