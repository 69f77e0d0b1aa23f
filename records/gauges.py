"""Business gauges read from the records for ``GET /metrics``: counts only, no personal data.

Every figure is a count grouped by a closed vocabulary (task kind, letter status,
restriction kind), never by customer, case or user, so no label can identify anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records.models import Case, Letter, ProtocolRecord, Task

# Always reported (0 when none), so an alert on them never sees a missing series.
LETTER_STATUSES = ("queued", "sending", "sent", "stored", "undeliverable")


@dataclass(frozen=True)
class BusinessGauges:
    """The records' counts at ``at``."""

    at: datetime
    open_tasks: dict[str, int] = field(default_factory=dict)
    """Open tasks by kind."""
    overdue_tasks: dict[str, int] = field(default_factory=dict)
    """Open tasks past their due date, by kind."""
    overdue_reviews: dict[str, int] = field(default_factory=dict)
    """Restrictions in force whose review date has passed, by kind (protocol, ...)."""
    letters: dict[str, int] = field(default_factory=dict)
    """Letters by delivery status (``undeliverable``: staff must fix an address)."""
    open_cases: int = 0
    """Case episodes not closed."""


async def read_gauges(sessions: async_sessionmaker[AsyncSession], now: datetime) -> BusinessGauges:
    """Count what the gauges report, in one read-only session (a few grouped queries)."""
    async with sessions() as session:
        open_tasks = await session.execute(
            select(Task.kind, func.count()).where(Task.status == "open").group_by(Task.kind)
        )
        overdue_tasks = await session.execute(
            select(Task.kind, func.count())
            .where(Task.status == "open", Task.due_at < now)
            .group_by(Task.kind)
        )
        overdue_reviews = await session.execute(
            select(ProtocolRecord.kind, func.count())
            .where(ProtocolRecord.status == "in_force", ProtocolRecord.next_review_at <= now)
            .group_by(ProtocolRecord.kind)
        )
        letters = await session.execute(select(Letter.status, func.count()).group_by(Letter.status))
        open_cases = await session.scalar(
            select(func.count()).select_from(Case).where(Case.closed_at.is_(None))
        )
        letter_counts = dict.fromkeys(LETTER_STATUSES, 0)
        letter_counts.update({str(status): int(n) for status, n in letters.tuples()})
        return BusinessGauges(
            at=now,
            open_tasks={str(kind): int(n) for kind, n in open_tasks.tuples()},
            overdue_tasks={str(kind): int(n) for kind, n in overdue_tasks.tuples()},
            overdue_reviews={str(kind): int(n) for kind, n in overdue_reviews.tuples()},
            letters=letter_counts,
            open_cases=int(open_cases or 0),
        )
