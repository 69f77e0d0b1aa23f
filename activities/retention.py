"""Retention activities: remove an expired case episode's personal data from the
records, from the letter copies kept as files and from Temporal. Each is idempotent.

Errors are sorted like the case activities': a database, disk or Temporal that is
unavailable raises as it is (Temporal retries with backoff); a write the records refuse
raises a non-retryable ``RecordsRejected``. Messages and logs carry case keys and
counts only.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from collections.abc import Collection
from datetime import UTC
from pathlib import Path

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import records_errors
from letters.deliver import message_id, post_room_path
from records.repository import Records
from workflows.ids import customer_ref_of
from workflows.retention_api import (
    ListedEpisodes,
    ListSetAside,
    PurgedCopies,
    PurgedRecords,
    PurgeEpisode,
    RetentionActivityApi,
    RetentionInput,
    RetentionRun,
    SetAsideEpisodeRow,
)


class RetentionActivities(RetentionActivityApi):
    """Bound to the records, the Temporal client and the directories holding copies."""

    def __init__(
        self,
        records: Records,
        client: Client,
        outbox: Path | None,
        post_room: Path,
        settings: RetentionInput,
    ) -> None:
        self._settings = settings
        self._records = records
        self._client = client
        self._outbox = outbox
        self._post_room = post_room

    @activity.defn(name="retention_settings")
    async def retention_settings(self) -> RetentionInput:
        """The deployment's retention period and batch (settings read at the edge)."""
        return self._settings

    @activity.defn(name="list_set_aside_episodes")
    async def list_set_aside_episodes(self, request: ListSetAside) -> ListedEpisodes:
        """Unpurged episodes set aside at or before a moment, oldest first."""
        with records_errors():
            found = await self._records.set_aside_episodes(request.before, request.limit)
        return ListedEpisodes(
            [SetAsideEpisodeRow(e.case_key, e.workflow_id, e.set_aside_at) for e in found]
        )

    @activity.defn(name="purge_episode_copies")
    async def purge_episode_copies(self, request: PurgeEpisode) -> PurgedCopies:
        """Delete the episode's letters kept as files: the print-ready post-room copies
        and, where this deployment keeps the mail sink's store (``UCB_OUTBOX_DIR``), the
        sent letters and escalation notices found there by their Message-ID."""
        with records_errors():
            copies = await self._records.episode_copies(request.case_key)
        ref = customer_ref_of(request.case_key)
        paths = [
            post_room_path(self._post_room, ref, kind, letter_id)
            for letter_id, kind in copies.letters
        ]
        ids = {message_id(letter_id) for letter_id, _kind in copies.letters}
        ids.update(message_id(key) for key in copies.notification_keys)
        removed = await asyncio.to_thread(_remove_copies, paths, self._outbox, ids)
        activity.logger.info("retention: %d file(s) of %s removed", removed, request.case_key)
        return PurgedCopies(removed)

    @activity.defn(name="purge_episode_runs")
    async def purge_episode_runs(self, request: PurgeEpisode) -> PurgedCopies:
        """Delete the episode's closed runs: the case workflow's runs that started before
        it was set aside (a later episode reuses the workflow id, and starts after) and
        its letters' workflows. Their encrypted histories and their visibility records
        (search attributes, memo) go with them."""
        started_by = request.set_aside_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        queries = [
            f"WorkflowId = '{_quoted(request.workflow_id)}' AND StartTime <= '{started_by}'",
            "WorkflowType = 'LetterWorkflow' AND "
            f"WorkflowId STARTS_WITH 'letter-{_quoted(request.case_key)}:'",
        ]
        removed = 0
        for query in queries:
            async for execution in self._client.list_workflows(query):
                if execution.status == WorkflowExecutionStatus.RUNNING:
                    continue  # never cut a run short: the next scheduled run retries
                activity.heartbeat()
                try:
                    await self._client.workflow_service.delete_workflow_execution(
                        DeleteWorkflowExecutionRequest(
                            namespace=self._client.namespace,
                            workflow_execution=WorkflowExecution(
                                workflow_id=execution.id, run_id=execution.run_id
                            ),
                        )
                    )
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise
                    continue  # deleted already (a retry)
                removed += 1
        activity.logger.info("retention: %d run(s) of %s deleted", removed, request.case_key)
        return PurgedCopies(removed)

    @activity.defn(name="purge_episode_records")
    async def purge_episode_records(self, request: PurgeEpisode) -> PurgedRecords:
        """Remove the episode's personal data from the records, keeping the skeleton."""
        with records_errors():
            return await self._records.purge_episode(
                request.case_key, request.at, request.set_aside_at, request.retention_seconds
            )

    @activity.defn(name="record_retention_run")
    async def record_retention_run(self, request: RetentionRun) -> None:
        """The audit row of one run of the schedule (once per run)."""
        with records_errors():
            await self._records.record_retention_event(
                request.event_key,
                "retention_run",
                request.at,
                {
                    "retention_seconds": request.retention_seconds,
                    "due": request.due,
                    "purged": list(request.purged),
                },
            )


def _quoted(value: str) -> str:
    """A value inside a visibility query's single quotes (ids never hold quotes)."""
    if "'" in value or "\\" in value:
        raise ValueError("an id with a quote cannot be queried")
    return value


def _remove_copies(paths: list[Path], outbox: Path | None, ids: Collection[str]) -> int:
    removed = 0
    for path in paths:
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    if outbox is None or not outbox.is_dir() or not ids:
        return removed
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    for path in outbox.glob("*.eml"):
        try:
            with path.open("rb") as handle:
                headers = parser.parse(handle)
        except FileNotFoundError:
            continue  # removed meanwhile
        if str(headers.get("Message-ID", "")).strip() in ids:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
