"""Retention: when a case episode's personal data is removed, and what of it is kept.

Pure rules (no I/O, no clock): the retention workflow asks them which episodes are due,
the records ask them which audit details form the pseudonymous skeleton, the letters
ask them how to word the period. A case episode is *set aside* when it has been closed
for the 12-month rule (HS 6.5.3, audit action ``case_set_aside``); its personal data is
kept for the retention period after that, then removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY_SECONDS = 86_400
# The shortest retention Temporal accepts for a namespace.
MIN_NAMESPACE_RETENTION_DAYS = 1

# Audit details that are the pseudonymous skeleton of a case: what kind of thing happened,
# to which task or letter, with which coded outcome. Free text (reasons, terms, customer
# words, names, addresses, who the body says reported an incident) is never among them.
SKELETON_DETAIL_KEYS = frozenset(
    {
        "task_id",
        "kind",
        "outcome",
        "category",
        "channel",
        "to",
        "level",
        "letter_id",
        "status",
        "stage",
        "protocol_id",
        "path",
        "incident_id",
        "resend",
    }
)
# A skeleton value longer than this is not a code: it is dropped too.
MAX_SKELETON_VALUE_CHARS = 200


@dataclass(frozen=True)
class SetAsideEpisode:
    """A case episode set aside and not yet purged (pseudonymous keys and a date only)."""

    case_key: str
    workflow_id: str
    set_aside_at: datetime


def purge_due_at(set_aside_at: datetime, retention_seconds: int) -> datetime:
    """When the episode's personal data falls due for removal."""
    if retention_seconds <= 0:
        raise ValueError("the retention period must be positive")
    return set_aside_at + timedelta(seconds=retention_seconds)


def set_aside_before(now: datetime, retention_seconds: int) -> datetime:
    """Episodes set aside at or before this moment are due now."""
    if retention_seconds <= 0:
        raise ValueError("the retention period must be positive")
    return now - timedelta(seconds=retention_seconds)


def due_for_purge(
    episodes: Sequence[SetAsideEpisode], now: datetime, retention_seconds: int, limit: int
) -> list[SetAsideEpisode]:
    """The episodes whose retention period has run out, oldest first, at most ``limit``
    (the rest wait for the next run); each case key once."""
    if limit <= 0:
        raise ValueError("the batch limit must be positive")
    due: dict[str, SetAsideEpisode] = {}
    for episode in episodes:
        if purge_due_at(episode.set_aside_at, retention_seconds) <= now:
            due.setdefault(episode.case_key, episode)
    ordered = sorted(due.values(), key=lambda e: (e.set_aside_at, e.case_key))
    return ordered[:limit]


def skeleton_details(details: Mapping[str, object]) -> dict[str, object]:
    """An audit row's details reduced to the pseudonymous skeleton (codes and ids only)."""
    kept: dict[str, object] = {}
    for key, value in details.items():
        if key not in SKELETON_DETAIL_KEYS:
            continue
        if isinstance(value, bool | int):
            kept[key] = value
        elif isinstance(value, str) and len(value) <= MAX_SKELETON_VALUE_CHARS:
            kept[key] = value
    return kept


def namespace_retention_days(retention_seconds: int) -> int:
    """Temporal's namespace retention matching the records' period, in whole days (a
    closed case workflow ends when its case is set aside, so the two clocks start
    together); never below Temporal's minimum."""
    if retention_seconds <= 0:
        raise ValueError("the retention period must be positive")
    days = -(-retention_seconds // DAY_SECONDS)
    return max(MIN_NAMESPACE_RETENTION_DAYS, days)


def describe_period(seconds: int) -> str:
    """The period in the words a letter uses: "6 years", "18 months", "30 days"."""
    if seconds <= 0:
        raise ValueError("the period must be positive")
    days = seconds / DAY_SECONDS
    years = days / 365.25
    if round(years) >= 1 and abs(years - round(years)) < 0.01:
        return _plural(round(years), "year")
    months = days / (365.25 / 12)
    if round(months) >= 1 and abs(months - round(months)) < 0.05:
        return _plural(round(months), "month")
    if days >= 1:
        return _plural(-(-seconds // DAY_SECONDS), "day")
    if seconds >= 3600:
        return _plural(-(-seconds // 3600), "hour")
    if seconds >= 60:
        return _plural(-(-seconds // 60), "minute")
    return _plural(seconds, "second")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
