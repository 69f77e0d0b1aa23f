"""The sandbox covers our workflow code: only pure modules are passed through."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from tests.workflows.clock_workflow import ReadsTheClock
from worker import PURE_MODULES, workflow_runner


def test_only_pure_modules_are_passed_through() -> None:
    """The workflow modules themselves are re-imported inside the sandbox."""
    workflow_modules = {"workflows", "workflows.case", "workflows.steps", "workflows.letter"}
    assert not workflow_modules & set(PURE_MODULES)
    restrictions = workflow_runner().restrictions
    assert "workflows.messages" in restrictions.passthrough_modules
    assert not workflow_modules & restrictions.passthrough_modules


async def test_a_non_deterministic_call_in_workflow_code_is_caught(client: Client) -> None:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ReadsTheClock],
        workflow_runner=workflow_runner(),
        workflow_failure_exception_types=[Exception],
    ):
        with pytest.raises(WorkflowFailureError) as failure:
            await client.execute_workflow(ReadsTheClock.run, id=queue, task_queue=queue)
    assert (
        "RestrictedWorkflowAccessError" in repr(failure.value.cause)
        or "restricted" in str(failure.value.cause).lower()
    )
