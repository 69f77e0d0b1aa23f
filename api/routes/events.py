"""The change feed: what changed on which case, for case systems keeping in sync."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import RecordsDep
from api.integrator import (
    MAX_PAGE,
    EventOut,
    EventPage,
    bad_query,
    decode_cursor,
    encode_cursor,
    event_type,
)
from tokens import ApiRole, Principal

router = APIRouter(prefix="/v1", tags=["events"])

FEED_READERS = frozenset({ApiRole.CASE_SYSTEM, ApiRole.AUDITOR})
FeedReader = Annotated[Principal, Depends(require(FEED_READERS))]


def event_cursor(event_id: int) -> str:
    return encode_cursor("events", event_id)


@router.get("/events")
async def change_feed(
    _: FeedReader,
    records: RecordsDep,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Resume after this cursor (an event's ``cursor`` or a page's "
            "``next``); leave out to start from the first change on record.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EventPage:
    """Changes to cases, oldest first, from the records: incidents recorded, tasks opened,
    escalated or superseded, decisions, letters sent, cases closed, set aside or purged.

    Each event names the change (``type``, ``action``) and the case (pseudonymous keys and
    when) — never a reason, description, name or who made it: read the case (or search
    ``GET /v1/cases?customer_ref=``) for what it is now. Delivery is at least once: keep
    the ``next`` cursor after handling a page, and resume from it."""
    after_id = 0
    if after:
        (value,) = decode_cursor(after, "events", 1, field="after")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            bad_query("after", "not a cursor this API gave out")
        after_id = value
    rows = await records.change_events(after_id, limit)
    items = [
        EventOut(
            cursor=event_cursor(row.id),
            type=event_type(row.action),
            action=row.action,
            case_id=row.workflow_id,
            case_key=row.case_key,
            episode=row.episode,
            customer_ref=row.customer_ref,
            at=row.at,
        )
        for row in rows
    ]
    next_cursor = items[-1].cursor if items else after
    return EventPage(items=items, next=next_cursor)
