"""The retention workflow: remove the personal data of case episodes whose retention
period after being set aside has run out. A Temporal Schedule starts it (once a day by
default; ``starter/retention.py``); each run is audited.

For each due episode, oldest first: the letter copies kept as files, then the
episode's closed workflow runs (their histories and visibility), then its records
(personal fields scrubbed or deleted, the pseudonymous audit skeleton kept, an audit
row written), the records last, so a run cut short is finished by the next one.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from policy.retention import SetAsideEpisode, due_for_purge, set_aside_before
    from workflows.errors import ErrorType
    from workflows.retention_api import (
        ListSetAside,
        PurgeEpisode,
        RetentionActivityApi,
        RetentionInput,
        RetentionReport,
        RetentionRun,
    )

from workflows.scheduled import ActivitySteps

# Transient faults (database, mail store, Temporal busy) retry with backoff for up to an
# hour; a write the records refuse does not (the next scheduled run tries again).
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[str(ErrorType.RECORDS_REJECTED)],
)
STEP_TIMEOUT = timedelta(minutes=5)
STEP_BUDGET = timedelta(hours=1)
# Runs one retention activity with the timeouts and retry policy above.
_step = ActivitySteps(STEP_TIMEOUT, STEP_BUDGET, RETRY).run


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    """One run of the retention schedule."""

    @workflow.run
    async def run(self, given: RetentionInput | None = None) -> RetentionReport:
        """Purge every due episode (at most ``batch``), then audit the run. The schedule
        gives nothing: the period is the worker's setting (``retention_settings``)."""
        now = workflow.now()
        request: RetentionInput
        if given is not None:
            request = given
        else:
            request = await workflow.execute_activity_method(
                RetentionActivityApi.retention_settings,
                start_to_close_timeout=STEP_TIMEOUT,
                schedule_to_close_timeout=STEP_BUDGET,
                retry_policy=RETRY,
            )
        listed = await _step(
            RetentionActivityApi.list_set_aside_episodes,
            ListSetAside(
                before=set_aside_before(now, request.retention_seconds), limit=request.batch
            ),
        )
        due = due_for_purge(
            [SetAsideEpisode(e.case_key, e.workflow_id, e.set_aside_at) for e in listed.episodes],
            now,
            request.retention_seconds,
            request.batch,
        )
        report = RetentionReport()
        for episode in due:
            purge = PurgeEpisode(
                case_key=episode.case_key,
                workflow_id=episode.workflow_id,
                set_aside_at=episode.set_aside_at,
                at=now,
                retention_seconds=request.retention_seconds,
            )
            files = await _step(
                RetentionActivityApi.purge_episode_copies,
                purge,
            )
            runs = await _step(
                RetentionActivityApi.purge_episode_runs,
                purge,
            )
            await _step(
                RetentionActivityApi.purge_episode_records,
                purge,
            )
            report.purged.append(episode.case_key)
            report.outbox_files += files.removed
            report.temporal_runs += runs.removed
        await _step(
            RetentionActivityApi.record_retention_run,
            RetentionRun(
                event_key=f"retention-run:{workflow.info().workflow_id}",
                at=now,
                retention_seconds=request.retention_seconds,
                due=len(due),
                purged=list(report.purged),
            ),
        )
        return report
