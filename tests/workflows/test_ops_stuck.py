"""No case can wedge unseen: ``stuck_cases``, ``GET /healthz/cases`` and ``ucb ops stuck``.

Tiny test-only workflows on each test's own task queue: one whose activity always fails
(retryable), one whose workflow code raises (its workflow task retries for ever), one
that waits. Their failure messages carry personal-looking text that must never surface.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from settings import Settings, get_settings
from starter.ops import StuckReport, report_json, stuck_cases
from tests.support import eventually
from tests.workflows.helpers import incident, new_ref, open_task, report
from ucbclient.cli import main

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
PRIVATE = "Quentin Zyxwv of 4B Larch Court"  # in failure messages; never in a report


class RecordsDown(Exception):
    """What the failing activity raises: its class name is all a report may show."""


@activity.defn(name="ops_test_always_fails")
async def always_fails() -> None:
    raise RecordsDown(f"could not save the incident about {PRIVATE}")


FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=1),
)


async def run_failing_activity() -> None:
    await workflow.execute_activity(
        always_fails, start_to_close_timeout=timedelta(seconds=10), retry_policy=FAST_RETRY
    )


@workflow.defn(name="OpsTestActivityRetrying")
class ActivityRetrying:
    @workflow.run
    async def run(self) -> None:
        await run_failing_activity()


@workflow.defn(name="CaseWorkflow")
class WedgedCase:
    """Stands in for the real case workflow (own task queue, no real worker) for API/CLI."""

    @workflow.run
    async def run(self) -> None:
        await run_failing_activity()


@workflow.defn(name="OpsTestMaybeFailing")
class MaybeFailing:
    """Raises in its own code when asked (the workflow task fails and retries), else waits."""

    @workflow.run
    async def run(self, fail: bool) -> None:
        if fail:
            raise RuntimeError(f"bug while reading the case of {PRIVATE}")
        await workflow.wait_condition(lambda: False)


def ops_worker(client: Client, task_queue: str, *workflows: type) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=[always_fails],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def terminate(*handles: WorkflowHandle[Any, Any]) -> None:
    for handle in handles:
        await handle.terminate("test over")


async def found(
    client: Client, settings: Settings, workflow_type: str, **options: Any
) -> StuckReport:
    async def probe() -> StuckReport | None:
        result = await stuck_cases(client, settings, workflow_type=workflow_type, **options)
        return result if result.cases else None

    return await eventually(probe, within=30, interval=0.5)


def wid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_an_activity_retrying_past_its_budget_is_reported(
    client: Client, settings: Settings
) -> None:
    queue = settings.task_queue
    async with ops_worker(client, queue, ActivityRetrying):
        handle = await client.start_workflow(
            ActivityRetrying.run, id=wid("ops-act"), task_queue=queue
        )
        try:
            result = await found(client, settings, "OpsTestActivityRetrying")
            [case] = result.cases
            assert case.workflow_id == handle.id and case.run_id == handle.result_run_id
            assert case.problem == "activity_retrying"
            assert case.activity_type == "ops_test_always_fails"
            assert case.attempt > 3 and case.failure_type == "RecordsDown"
            assert case.last_failed_at is not None
            assert (result.scanned, result.truncated) == (1, False)
            assert result.server_flagged_checked
            assert PRIVATE not in json.dumps(report_json(result))
            assert "could not save" not in json.dumps(report_json(result))

            patient = await stuck_cases(
                client,
                settings,
                workflow_type="OpsTestActivityRetrying",
                activity_attempt_budget=10_000,
            )
            assert patient.scanned == 1 and patient.cases == []
        finally:
            await terminate(handle)


async def test_a_failing_workflow_task_is_reported(client: Client, settings: Settings) -> None:
    queue = settings.task_queue
    async with ops_worker(client, queue, MaybeFailing):
        failing = await client.start_workflow(
            MaybeFailing.run, True, id=wid("ops-wft"), task_queue=queue
        )
        waiting = await client.start_workflow(
            MaybeFailing.run, False, id=wid("ops-ok"), task_queue=queue
        )
        try:
            result = await found(client, settings, "OpsTestMaybeFailing")
            [case] = result.cases
            assert case.workflow_id == failing.id and case.run_id == failing.result_run_id
            assert case.problem == "workflow_task_failing" and case.attempt >= 2
            assert case.activity_type is None and case.failure_type == "RuntimeError"
            assert result.scanned == 2  # the waiting one was looked at and is fine
            assert PRIVATE not in json.dumps(report_json(result))
        finally:
            await terminate(failing, waiting)


async def test_a_healthy_running_case_is_not_reported(
    client: Client, settings: Settings, worker: Worker
) -> None:
    ref = new_ref("OPS")
    handle = await report(client, settings, incident(ref))
    try:
        await open_task(handle, "initial_warning")  # its activities have run: it waits on staff
        result = await stuck_cases(client, settings)
        assert result.workflow_type == "CaseWorkflow"
        assert result.task_queue == settings.task_queue
        assert (result.scanned, result.truncated, result.cases) == (1, False, [])
    finally:
        await terminate(handle)


async def test_a_case_the_server_flagged_is_found_beyond_the_scan_limit() -> None:
    """With ``TemporalReportedProblems`` on (after 2 failures here; 5 by default), a failing
    case is found even when the newest ``limit`` running cases do not include it."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2",
        ],
    )
    try:
        client = env.client
        settings = Settings(environment="test", task_queue=f"ops-flag-{uuid.uuid4().hex[:8]}")
        queue = settings.task_queue
        async with ops_worker(client, queue, MaybeFailing):
            failing = await client.start_workflow(
                MaybeFailing.run, True, id=wid("ops-old-wft"), task_queue=queue
            )
            newer = [
                await client.start_workflow(
                    MaybeFailing.run, False, id=wid("ops-new"), task_queue=queue
                )
                for _ in range(2)
            ]
            result = await found(client, settings, "OpsTestMaybeFailing", limit=1)
            assert result.server_flagged_checked
            assert (result.scanned, result.truncated) == (1, True)
            assert [(c.workflow_id, c.problem) for c in result.cases] == [
                (failing.id, "workflow_task_failing")
            ]
            await terminate(failing, *newer)
    finally:
        await env.shutdown()


# The API and the ucb command ---------------------------------------------------------------


async def _ucb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ucb`` in a thread (it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_operators_see_a_wedged_case_through_the_api_and_the_cli(
    client: Client,
    settings: Settings,
    api_url: str,
    auth_for: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue = settings.task_queue
    async with ops_worker(client, queue, WedgedCase):
        handle = await client.start_workflow(
            WedgedCase.run, id=f"ucb-case-{new_ref('OPS')}", task_queue=queue
        )
        try:
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                assert (await http.get("/healthz/cases")).status_code == 401
                for role in ("officer", "auditor", "director", "case_system"):
                    refused = await http.get("/healthz/cases", headers=auth_for(role))
                    assert refused.status_code == 403, role

                async def listed() -> dict[str, Any] | None:
                    answer = await http.get("/healthz/cases", headers=auth_for("operator"))
                    assert answer.status_code == 200, answer.text
                    body: dict[str, Any] = answer.json()
                    return body if body["cases"] else None

                body = await eventually(listed, within=30, interval=0.5)
                assert PRIVATE not in json.dumps(body)
                [case] = body["cases"]
                assert (case["workflow_id"], case["run_id"]) == (handle.id, handle.result_run_id)
                assert case["problem"] == "activity_retrying"
                assert case["failure_type"] == "RecordsDown"
                assert (body["task_queue"], body["truncated"]) == (queue, False)
                assert (await http.get("/healthz")).status_code == 200  # still cheap and public

            monkeypatch.setenv("UCB_ENVIRONMENT", "test")
            monkeypatch.setenv("UCB_TEMPORAL_ADDRESS", settings.temporal_address)
            monkeypatch.setenv("UCB_TASK_QUEUE", queue)
            get_settings.cache_clear()
            try:
                code, out, err = await _ucb(capsys, "ops", "stuck", "--json")
                assert code == 1, err
                listing = json.loads(out)
                assert [c["workflow_id"] for c in listing["cases"]] == [handle.id]
                assert listing["cases"][0]["activity_type"] == "ops_test_always_fails"
                assert PRIVATE not in out

                code, out, err = await _ucb(capsys, "ops", "stuck")
                assert code == 1, err
                assert handle.id in out and "activity_retrying" in out and "RecordsDown" in out
                assert PRIVATE not in out

                monkeypatch.setenv("UCB_TASK_QUEUE", f"ops-empty-{uuid.uuid4().hex[:8]}")
                get_settings.cache_clear()
                code, out, err = await _ucb(capsys, "ops", "stuck")
                assert code == 0, err
                assert out.startswith("no stuck cases: described 0 running CaseWorkflow")

                code, _, err = await _ucb(capsys, "ops", "stuck", "--limit", "0")
                assert code == 2 and "--limit must be 1 or more" in err
            finally:
                get_settings.cache_clear()
        finally:
            await terminate(handle)
