"""The integrator API's shared parts: opaque cursors, filter vocabularies, page bodies.

Cursors are URL-safe base64 of a small JSON array naming what they page (``cases``,
``incidents``, ``letters``, ``tasks``, ``events``) and the sort key of the last row the
previous page held. Pages are keyset pages: a row added or changed elsewhere never shifts
a page, so following ``next`` never repeats nor skips a row that stays in the result.
A cursor is not a secret and not signed: it carries only a sort key the caller saw.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Literal, NoReturn

from fastapi import HTTPException
from pydantic import BaseModel, Field

from api.decision_schemas import TaskPage
from api.schemas import CaseOut, IncidentOut, LetterOut
from policy.profiles import PROFILE_NAMES

MAX_PAGE = 200
# How many incidents and letters GET /v1/cases/{ref} shows (the latest); the rest are paged.
CASE_VIEW_LATEST = 50

# Every stage a case can be in (policy.ladder.derive_stage).
Stage = Literal[
    "open",
    "initial_warning",
    "formal_warning",
    "assessment",
    "protocol_authorisation",
    "protocol_in_force",
    "direct_contact_decision",
    "direct_contact_ended",
    "closed",
]
Profile = Literal["housing_solutions", "magna"]
assert set(Profile.__args__) == set(PROFILE_NAMES)  # type: ignore[attr-defined]
CaseSort = Literal["opened_at", "next_review_at"]


# Cursors -----------------------------------------------------------------------------------


def encode_cursor(kind: str, *key: str | int | None) -> str:
    """An opaque cursor for the row with sort key ``key`` in a listing of ``kind``."""
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def bad_query(field: str, message: str) -> NoReturn:
    """A 422 naming a query parameter, as FastAPI's own validation does."""
    raise HTTPException(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])


def decode_cursor(cursor: str, kind: str, size: int, field: str = "cursor") -> list[object]:
    """The sort key a cursor of ``kind`` carries (``size`` values), or a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        bad_query(field, "not a cursor this API gave out")
    if not isinstance(value, list) or len(value) != size + 1 or value[0] != kind:
        bad_query(field, f"not a cursor of this listing ({kind})")
    return list(value[1:])


def cursor_time(value: object, field: str = "cursor", *, optional: bool = False) -> datetime | None:
    """A moment from a cursor (ISO 8601), or a 422."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        bad_query(field, "not a cursor this API gave out")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        bad_query(field, "not a cursor this API gave out")
    if moment.tzinfo is None:
        bad_query(field, "not a cursor this API gave out")
    return moment


def cursor_text(value: object, field: str = "cursor") -> str:
    if not isinstance(value, str) or not value:
        bad_query(field, "not a cursor this API gave out")
    return value


def time_and_key(cursor: str, kind: str) -> tuple[datetime, str]:
    """The (moment, id) sort key of an incidents, letters or tasks cursor."""
    moment, key = decode_cursor(cursor, kind, 2)
    when = cursor_time(moment)
    assert when is not None
    return when, cursor_text(key)


# Bodies ------------------------------------------------------------------------------------


NEXT = "The cursor of the following page (pass it as ?cursor=); null on the last page."


class CaseLinks(BaseModel):
    """Where the rest of the case is, a page at a time."""

    incidents: str = Field(description="Path of the first page of the case's incidents.")
    letters: str = Field(description="Path of the first page of the case's letters.")


class CaseViewOut(CaseOut):
    """The case as GET /v1/cases/{ref} shows it: the latest incidents and letters (oldest
    first), how many there are in all, and where to page through the rest."""

    incident_count: int = Field(description="How many incidents the case episode has.")
    letter_count: int = Field(description="How many letters the case episode has.")
    links: CaseLinks = Field(description="Where to page through all incidents and letters.")


class IncidentPage(BaseModel):
    """A page of a case episode's incidents, oldest first; ``next`` is null on the last."""

    items: list[IncidentOut] = Field(description="The incidents on this page, oldest first.")
    next: str | None = Field(default=None, description=NEXT)


class LetterPage(BaseModel):
    """A page of a case episode's letters, oldest first; ``next`` is null on the last."""

    items: list[LetterOut] = Field(description="The letters on this page, oldest first.")
    next: str | None = Field(default=None, description=NEXT)


class TaskCursorPage(TaskPage):
    """A page of open tasks; ``next`` is the cursor of the following page (null: none)."""

    next: str | None = Field(default=None, description=NEXT)


EventType = Literal["incident", "task", "decision", "letter", "case", "retention"]


class EventOut(BaseModel):
    """One change to a case episode: what kind of change, to which case, when. Never a
    reason, a description, a name or who made it: read the case for what it is now."""

    cursor: str = Field(description="Resume the feed after this event: ?after=<cursor>.")
    type: EventType = Field(
        description="The kind of change: incident, task, decision, letter, case or retention."
    )
    action: str = Field(
        description="The record's action, e.g. incident_reported, task_created, "
        "initial_warning:issued, letter_sent, case_closed."
    )
    case_id: str = Field(description="The case's workflow id (one per customer).")
    case_key: str = Field(description="The case episode changed: <case_id>/<episode>.")
    episode: int = Field(description="The episode number within the customer's case.")
    customer_ref: str = Field(description="The landlord's pseudonymous customer reference.")
    at: datetime = Field(description="When the change was recorded (UTC).")


class EventPage(BaseModel):
    """Changes after the given cursor, oldest first. ``next`` is where to resume: the last
    event's cursor, or the cursor given when there is nothing new yet."""

    items: list[EventOut] = Field(description="The changes after the cursor, oldest first.")
    next: str | None = Field(default=None, description="Resume here next time: ?after=<next>.")


def event_type(action: str) -> EventType:
    """The kind of change an audit action records."""
    if action.startswith("incident_"):
        return "incident"
    if action.startswith("task_"):
        return "task"
    if action.startswith("letter_"):
        return "letter"
    if action == "episode_purged":
        return "retention"
    if ":" in action:
        return "decision"  # "<task kind>:<outcome>"
    return "case"
