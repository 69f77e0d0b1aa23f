"""The Board pack schedules, set from settings at the edge.

``ensure_board_pack_schedules`` creates the Temporal Schedules that run
``BoardPackWorkflow`` (the 1st of every month, 06:00 London time) and, where the
deployment's policy is reviewed every year, ``AnnualReviewPackWorkflow`` (the 1st of the
review month) — or updates them to the current settings: safe at every worker start-up.
A deployment without an annual review has its annual schedule removed. Each distinct
setting is audited once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from records.repository import Records
from settings import Settings
from workflows.board_pack_api import (
    ANNUAL_REVIEW_SCHEDULE_ID,
    ANNUAL_REVIEW_WORKFLOW_ID,
    BOARD_PACK_SCHEDULE_ID,
    BOARD_PACK_WORKFLOW_ID,
)

log = logging.getLogger(__name__)
LONDON = "Europe/London"
PACK_HOUR = 6


def _action(workflow: str, workflow_id: str, settings: Settings) -> ScheduleActionStartWorkflow:
    # No argument: the run asks its worker's settings (a payload made now would be bound
    # to no workflow run, and the settings could change before it runs).
    return ScheduleActionStartWorkflow(
        workflow,
        id=workflow_id,
        task_queue=settings.task_queue,
        execution_timeout=timedelta(hours=6),
    )


def board_pack_schedule(settings: Settings) -> Schedule:
    """The monthly schedule: the 1st of each month at 06:00 London time (or every
    ``board_pack_interval_seconds``, for tests and demos); never two runs at once."""
    if settings.board_pack_interval_seconds:
        spec = ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.board_pack_interval_seconds))
            ]
        )
    else:
        spec = ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(PACK_HOUR)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name=LONDON,
        )
    return Schedule(
        action=_action("BoardPackWorkflow", BOARD_PACK_WORKFLOW_ID, settings),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def annual_review_schedule(settings: Settings) -> Schedule:
    """The yearly schedule: the 1st of the review month at 06:00 London time."""
    month = settings.annual_review_month_in_force
    if not 1 <= month <= 12:
        raise ValueError("this deployment makes no annual policy review pack")
    return Schedule(
        action=_action("AnnualReviewPackWorkflow", ANNUAL_REVIEW_WORKFLOW_ID, settings),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(month)],
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(PACK_HOUR)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name=LONDON,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def _ensure(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or bring it to ``schedule``; ``created`` or ``updated``."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_input: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return "updated"


async def _remove(client: Client, schedule_id: str) -> str:
    """Delete the schedule if there is one; ``removed`` or ``absent``."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return "absent"
    return "removed"


async def ensure_board_pack_schedules(
    client: Client,
    settings: Settings,
    records: Records,
    *,
    schedule_id: str = BOARD_PACK_SCHEDULE_ID,
    annual_schedule_id: str = ANNUAL_REVIEW_SCHEDULE_ID,
) -> dict[str, str]:
    """Create or update the monthly schedule and, when the deployment's policy has an
    annual review, the annual one (else remove it); audit the settings they run with
    (once per distinct setting). Returns each schedule id's outcome."""
    outcomes = {schedule_id: await _ensure(client, schedule_id, board_pack_schedule(settings))}
    month = settings.annual_review_month_in_force
    if month:
        outcomes[annual_schedule_id] = await _ensure(
            client, annual_schedule_id, annual_review_schedule(settings)
        )
    else:
        outcomes[annual_schedule_id] = await _remove(client, annual_schedule_id)
    interval = settings.board_pack_interval_seconds or 0
    await records.record_pack_event(
        f"board-pack-schedule:{schedule_id}:{settings.policy_profile}:{interval}:{month}",
        "board_pack_schedule_set",
        datetime.now(UTC),
        {
            "schedule_id": schedule_id,
            "annual_schedule_id": annual_schedule_id if month else None,
            "profile": settings.policy_profile,
            "interval_seconds": interval or None,
            "annual_review_month": month or None,
        },
    )
    log.info("board pack schedules %s", outcomes)
    return outcomes
