"""The retention workflow's messages and activity signatures (no I/O: the sandbox may
import it). Every field is a pseudonymous key, a count or a date: nothing personal
reaches the retention workflow's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity

# The identity the retention schedule's audit rows carry.
RETENTION_ACTOR = "retention-schedule"
RETENTION_SCHEDULE_ID = "ucb-retention"
RETENTION_WORKFLOW_ID = "ucb-retention-run"


@dataclass
class RetentionInput:
    """What one run applies: the period and batch, from the worker's settings (read at
    the edge by the ``retention_settings`` activity, so the schedule carries no payload
    and always runs with the deployment's current settings)."""

    retention_seconds: int
    batch: int = 100


@dataclass
class ListSetAside:
    """Activity input: unpurged episodes set aside at or before ``before``."""

    before: datetime
    limit: int


@dataclass
class SetAsideEpisodeRow:
    """Activity result row: an episode set aside, not yet purged."""

    case_key: str
    workflow_id: str
    set_aside_at: datetime


@dataclass
class ListedEpisodes:
    """Activity result: the episodes found (oldest first)."""

    episodes: list[SetAsideEpisodeRow] = field(default_factory=list)


@dataclass
class PurgeEpisode:
    """Activity input: remove this episode's personal data (idempotent)."""

    case_key: str
    workflow_id: str
    set_aside_at: datetime
    at: datetime
    retention_seconds: int


@dataclass
class PurgedCopies:
    """Activity result: copies removed outside the records (files, Temporal runs)."""

    removed: int


@dataclass
class PurgedRecords:
    """Activity result: what the records purge did (counts only)."""

    case_key: str
    already_purged: bool
    incidents: int = 0
    letters: int = 0
    tasks: int = 0
    audit_rows: int = 0
    customer_details_removed: bool = False


@dataclass
class RetentionRun:
    """Activity input: the audit row of one run of the schedule."""

    event_key: str
    at: datetime
    retention_seconds: int
    due: int
    purged: list[str] = field(default_factory=list)


@dataclass
class RetentionReport:
    """The run's result: which episodes were purged (case keys only)."""

    purged: list[str] = field(default_factory=list)
    outbox_files: int = 0
    temporal_runs: int = 0


class RetentionActivityApi:
    """Signatures only: ``activities.retention.RetentionActivities`` implements them."""

    @activity.defn(name="retention_settings")
    async def retention_settings(self) -> RetentionInput:
        """The deployment's retention period and batch."""
        raise NotImplementedError

    @activity.defn(name="list_set_aside_episodes")
    async def list_set_aside_episodes(self, request: ListSetAside) -> ListedEpisodes:
        """Unpurged episodes set aside at or before a moment, oldest first."""
        raise NotImplementedError

    @activity.defn(name="purge_episode_copies")
    async def purge_episode_copies(self, request: PurgeEpisode) -> PurgedCopies:
        """Delete the episode's letters kept as files (outbox, post room)."""
        raise NotImplementedError

    @activity.defn(name="purge_episode_runs")
    async def purge_episode_runs(self, request: PurgeEpisode) -> PurgedCopies:
        """Delete the episode's closed workflow runs (histories and visibility)."""
        raise NotImplementedError

    @activity.defn(name="purge_episode_records")
    async def purge_episode_records(self, request: PurgeEpisode) -> PurgedRecords:
        """Remove the episode's personal data from the records, keeping the skeleton."""
        raise NotImplementedError

    @activity.defn(name="record_retention_run")
    async def record_retention_run(self, request: RetentionRun) -> None:
        """The audit row of one run of the schedule."""
        raise NotImplementedError
