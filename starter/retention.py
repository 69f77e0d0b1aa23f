"""The retention schedule and the namespace retention, set from settings at the edge.

``ensure_retention_schedule`` creates the Temporal Schedule that runs
``RetentionWorkflow`` (or updates it to the current settings: safe at every worker
start-up) and audits each change of its settings once. ``apply_namespace_retention``
sets how long Temporal keeps closed workflow runs to the same period.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from policy.retention import DAY_SECONDS, namespace_retention_days
from records.repository import Records
from settings import Settings
from workflows.retention_api import (
    RETENTION_SCHEDULE_ID,
    RETENTION_WORKFLOW_ID,
)

log = logging.getLogger(__name__)


def retention_schedule(settings: Settings) -> Schedule:
    """The schedule the settings call for: every interval, never two runs at once."""
    return Schedule(
        # No argument: the run asks its worker's settings (a payload made now would be
        # bound to no workflow run, and the settings could change before it runs).
        action=ScheduleActionStartWorkflow(
            "RetentionWorkflow",
            id=RETENTION_WORKFLOW_ID,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.retention_interval_seconds))
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(
    client: Client,
    settings: Settings,
    records: Records,
    *,
    schedule_id: str = RETENTION_SCHEDULE_ID,
) -> str:
    """Create the retention schedule, or bring it to the current settings; audit the
    settings it runs with (once per distinct setting). Returns ``created`` or ``updated``."""
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(schedule_id, schedule)
        outcome = "created"
    except ScheduleAlreadyRunningError:

        def replace(_input: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        outcome = "updated"
    period = settings.retention_period_seconds
    interval = settings.retention_interval_seconds
    await records.record_retention_event(
        f"retention-schedule:{schedule_id}:{period}:{interval}:{settings.retention_batch}",
        "retention_schedule_set",
        datetime.now(UTC),
        {
            "schedule_id": schedule_id,
            "retention_seconds": period,
            "interval_seconds": interval,
            "batch": settings.retention_batch,
        },
    )
    log.info("retention schedule %s %s (every %d s)", schedule_id, outcome, interval)
    return outcome


async def namespace_retention(client: Client) -> timedelta:
    """How long the client's namespace keeps closed workflow runs."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def apply_namespace_retention(client: Client, settings: Settings) -> timedelta:
    """Set the namespace's retention of closed runs to the records' period (a case
    workflow closes when its case is set aside, so both clocks start together)."""
    days = namespace_retention_days(settings.retention_period_seconds)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace,
            config=NamespaceConfig(
                workflow_execution_retention_ttl=Duration(seconds=days * DAY_SECONDS)
            ),
        )
    )
    return await namespace_retention(client)
