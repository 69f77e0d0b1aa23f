"""Temporal is a boundary: what the API did not make, a case does not accept.

Issue "Trust boundaries", finding 1: anyone who can reach the Temporal frontend sent a
plaintext ``decide`` update as "director-imaginary" and it was applied, and sent a
plaintext incident that was recorded; an encrypted payload could be copied into another
case. Here the same calls, made on the real dev server with a client that has no codec,
are refused by the worker, counted, and leave the case as it was.
"""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.converter import WorkflowSerializationContext, default
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from starter.codec import REFUSED, codec_from_settings
from tests.workflows.helpers import incident, new_ref, open_task, report, state_when
from workflows.messages import Decision


async def plaintext_client(address: str) -> Client:
    """A client as an intruder at the frontend has it: no codec, no keys."""
    return await Client.connect(address)


async def sealed_for(settings: Settings, workflow_id: str, value: object) -> Payload:
    """A payload encrypted with the deployment's key, bound to ``workflow_id``."""
    codec = codec_from_settings(settings).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)
    )
    [sealed] = await codec.encode([default().payload_converter.to_payload(value)])
    return sealed


async def test_a_plaintext_decision_and_incident_are_refused_and_the_case_is_unaffected(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    temporal_address: str,
) -> None:
    ref = new_ref("PLAIN")
    handle = await report(client, settings, incident(ref))
    task = await open_task(handle, "initial_warning")
    before = REFUSED.total()
    intruder = (await plaintext_client(temporal_address)).get_workflow_handle(handle.id)

    forged = Decision(
        task_id=task.task_id,
        outcome="issued",
        decided_by="director-imaginary",
        role="director",
        reason="none given",
        method="letter",
    )
    try:
        await intruder.execute_update("decide", forged, id=f"forged-{task.task_id}")
    except WorkflowUpdateFailedError:
        pass
    else:
        raise AssertionError("a plaintext decision was accepted")
    await intruder.signal("report_incident", incident(ref))

    state = await state_when(handle, lambda s: s.malformed_signals == 1)
    assert state.incident_count == 1  # the plaintext incident was not recorded
    assert [t.task_id for t in state.open_tasks if t.kind == "initial_warning"] == [task.task_id]
    assert REFUSED.total() - before >= 2
    trail = await stack_records.audit_trail(state.case_key)
    assert not [row for row in trail if row.actor == "director-imaginary"]
    assert len(await stack_records.incidents(state.case_key)) == 1

    # The case still takes what the API makes.
    await report(client, settings, incident(ref))
    state = await state_when(handle, lambda s: s.incident_count == 2)
    assert state.malformed_signals == 1


async def test_a_payload_moved_from_one_case_to_another_is_refused(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    temporal_address: str,
) -> None:
    source = await report(client, settings, incident(new_ref("SRC")))
    target_ref = new_ref("DST")
    target = await report(client, settings, incident(target_ref))
    task = await open_task(target, "initial_warning")
    intruder = (await plaintext_client(temporal_address)).get_workflow_handle(target.id)

    # Encrypted with the real key, but for the other case: copied as it stands.
    decision = Decision(
        task_id=task.task_id,
        outcome="issued",
        decided_by="officer-1",
        role="officer",
        reason="moved",
        method="letter",
    )
    moved_decision = await sealed_for(settings, source.id, decision)
    moved_incident = await sealed_for(settings, source.id, incident(target_ref))
    try:
        await intruder.execute_update(
            "decide", RawValue(moved_decision), id=f"moved-{task.task_id}"
        )
    except WorkflowUpdateFailedError:
        pass
    else:
        raise AssertionError("a payload bound to another case was accepted")
    await intruder.signal("report_incident", RawValue(moved_incident))

    state = await state_when(target, lambda s: s.malformed_signals == 1)
    assert state.incident_count == 1
    assert any(t.task_id == task.task_id for t in state.open_tasks)
    assert len(await stack_records.incidents(state.case_key)) == 1

    # The same payload bound to this case is accepted: only the binding differed.
    bound = await sealed_for(settings, target.id, incident(target_ref))
    await intruder.signal("report_incident", RawValue(bound))
    state = await state_when(target, lambda s: s.incident_count == 2)
    assert state.malformed_signals == 1
