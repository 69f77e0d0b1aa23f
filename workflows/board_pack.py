"""The Board pack workflows: the monthly report for the previous London month
(``BoardPackWorkflow``) and the annual policy review pack for the previous twelve
(``AnnualReviewPackWorkflow``), from the same code. Temporal Schedules start them
(``starter/board_pack.py``) with no argument: the run asks its worker's settings.

Each run: compose the pack (build the report, render HTML and PDF, store it once per
kind, profile and period), e-mail the heads of service's and directors' mailboxes a link
(unless done already), then audit. A pack whose e-mail failed for good stays stored and
the run fails, visibly; the next scheduled run for the same period e-mails it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from policy.reporting import previous_month, previous_twelve_months
    from workflows.board_pack_api import (
        BoardPackActivityApi,
        ComposePack,
        EmailPackLink,
        PackErrorType,
        PackKind,
        PackMade,
        PackRun,
    )
    from workflows.errors import ErrorType

from workflows.scheduled import ActivitySteps

# Transient faults (database busy, mail server down) retry with backoff for a bounded
# budget; what cannot succeed by waiting (the records refuse, no mailbox) does not.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[
        str(ErrorType.RECORDS_REJECTED),
        str(PackErrorType.NO_ROLE_MAILBOX),
        str(PackErrorType.ROLE_MAILBOX_REFUSED),
    ],
)
STEP_TIMEOUT = timedelta(minutes=10)
STEP_BUDGET = timedelta(hours=2)
# Runs one pack activity with the timeouts and retry policy above.
_step = ActivitySteps(STEP_TIMEOUT, STEP_BUDGET, RETRY).run


async def make_pack(kind: PackKind) -> PackRun:
    """One run of either schedule: the pack of ``kind`` for the period before now."""
    settings = await workflow.execute_activity_method(
        BoardPackActivityApi.board_pack_settings,
        start_to_close_timeout=timedelta(minutes=1),
        schedule_to_close_timeout=STEP_BUDGET,
        retry_policy=RETRY,
    )
    if kind is PackKind.ANNUAL and not settings.annual_review_month:
        workflow.logger.info("no annual policy review pack for profile %s", settings.profile)
        return PackRun(kind=str(kind))
    now = workflow.now()
    period = previous_month(now) if kind is PackKind.MONTHLY else previous_twelve_months(now)
    composed = await _step(
        BoardPackActivityApi.compose_pack,
        ComposePack(
            kind=str(kind),
            profile=settings.profile,
            period_start=period.start,
            period_end=period.end,
            at=now,
        ),
    )
    roles: list[str] = []
    if not composed.already_emailed:
        emailed = await _step(
            BoardPackActivityApi.email_pack_link,
            EmailPackLink(
                pack_id=composed.pack_id,
                kind=str(kind),
                period_start=period.start,
                period_end=period.end,
            ),
        )
        roles = list(emailed.roles)
    await _step(
        BoardPackActivityApi.record_pack_made,
        PackMade(
            pack_id=composed.pack_id,
            kind=str(kind),
            profile=settings.profile,
            period_start=period.start,
            period_end=period.end,
            at=now,
            run=workflow.info().workflow_id,
            emailed_roles=roles,
        ),
    )
    return PackRun(
        kind=str(kind),
        pack_id=composed.pack_id,
        period_start=period.start,
        period_end=period.end,
        created=composed.created,
        emailed=bool(roles),
    )


@workflow.defn(name="BoardPackWorkflow")
class BoardPackWorkflow:
    """One run of the monthly Board pack schedule: the previous London month."""

    @workflow.run
    async def run(self) -> PackRun:
        """Make, store and announce the monthly pack (once per month)."""
        return await make_pack(PackKind.MONTHLY)


@workflow.defn(name="AnnualReviewPackWorkflow")
class AnnualReviewPackWorkflow:
    """One run of the annual policy review schedule: the previous twelve London months."""

    @workflow.run
    async def run(self) -> PackRun:
        """Make, store and announce the annual pack (once per year; none when the
        deployment's profile has no annual review)."""
        return await make_pack(PackKind.ANNUAL)
