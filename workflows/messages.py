"""Dataclasses in and out of the case workflow, its signals, queries and activities.

One dataclass in and one out for everything, so fields can be added without
breaking running cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from policy.categories import Category, Channel
from policy.profiles import PolicyProfile


@dataclass
class IncidentReport:
    """One reported incident, as validated at intake."""

    incident_id: str
    customer_ref: str
    category: Category
    channel: Channel
    occurred_at: datetime
    description: str
    reported_by: str
    reported_at: datetime


@dataclass
class CaseInput:
    """Start (or continue-as-new) input: the policy snapshot and any carried state."""

    customer_ref: str
    profile: PolicyProfile
    carried: CaseState | None = None


@dataclass
class LetterSummary:
    """A letter the case has sent or stored for the post room."""

    letter_id: str
    kind: str
    delivery: str  # "email" | "post"


@dataclass
class CaseState:
    """The compact state of a case: everything continue-as-new must carry."""

    customer_ref: str
    case_key: str = ""
    episode: int = 0
    stage: str = "open"
    risk_flag: bool = False
    incident_ids: list[str] = field(default_factory=list)
    malformed_signals: int = 0
    letters: list[LetterSummary] = field(default_factory=list)
    opened_at: datetime | None = None
    last_incident_at: datetime | None = None


@dataclass
class OpenCase:
    """Activity input: open (or find) the records row for this case episode."""

    customer_ref: str
    workflow_id: str
    run_key: str
    profile_name: str
    opened_at: datetime


@dataclass
class OpenedCase:
    """Activity output: the case episode's business key."""

    case_key: str
    episode: int


@dataclass
class RecordIncident:
    """Activity input: write one incident to the records (idempotent on incident_id)."""

    case_key: str
    incident: IncidentReport


@dataclass
class RecordedIncident:
    """Activity output: whether this call wrote the row (False on a retry)."""

    incident_id: str
    created: bool


@dataclass
class SendLetter:
    """Activity input: render and deliver one letter, exactly once per letter_id."""

    letter_id: str
    case_key: str
    customer_ref: str
    kind: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class SentLetter:
    """Activity output: how the letter went out."""

    letter_id: str
    delivery: str  # "email" | "post"
    already_sent: bool


@dataclass
class UpdateCaseRecord:
    """Activity input: mirror the case's stage and flags into the records."""

    case_key: str
    stage: str
    risk_flag: bool
    at: datetime
