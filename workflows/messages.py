"""Dataclasses in and out of the case workflow, its signals, updates, queries and activities.

One dataclass in and one out for everything, so fields can be added without
breaking running cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from policy.categories import Category, Channel
from policy.profiles import PolicyProfile
from policy.protocol import AssessmentFactors, ProtocolTerms


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
    # HS 6.5.1: the officer already told the customer, in person or by phone.
    warned_by_officer: str | None = None
    # HS 6.5: a manager asks a Director to sign off immediate action.
    immediate_action_requested: bool = False


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
class Task:
    """An open human decision on the case."""

    task_id: str
    kind: str
    role: str
    created_at: datetime
    due_at: datetime
    escalated_to: str | None = None
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class Protocol:
    """The communication protocol (or immediate action) in force."""

    protocol_id: str
    terms: ProtocolTerms
    authorised_by: str
    authorised_at: datetime
    review_after_seconds: int
    next_review_at: datetime
    immediate: bool = False
    reviews: int = 0
    incidents_since_review: int = 0


@dataclass
class SupportFlags:
    """What the workflow needs to know of a customer's support needs (details in records)."""

    contact_via_advocate: bool = False
    reasonable_adjustments_recorded: bool = False
    referral_consent: bool = False
    mediation_offered: bool = False


@dataclass
class CaseState:
    """The compact state of a case: everything continue-as-new must carry."""

    customer_ref: str
    case_key: str = ""
    episode: int = 0
    stage: str = "open"
    risk_flag: bool = False
    initial_warning_given: bool = False
    formal_warning_given: bool = False
    direct_contact_ended: bool = False
    abusive_correspondence_notice_sent: bool = False
    incident_count: int = 0
    recent_incident_ids: list[str] = field(default_factory=list)
    malformed_signals: int = 0
    open_tasks: list[Task] = field(default_factory=list)
    decided_task_ids: list[str] = field(default_factory=list)
    involved: list[str] = field(default_factory=list)
    protocol: Protocol | None = None
    support: SupportFlags = field(default_factory=SupportFlags)
    letters: list[LetterSummary] = field(default_factory=list)
    opened_at: datetime | None = None
    last_activity_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    step_counter: int = 0


# Updates ------------------------------------------------------------------------------


@dataclass
class Decision:
    """A person's decision on a task (the update id is the task id)."""

    task_id: str
    outcome: str
    decided_by: str
    role: str
    reason: str
    method: str | None = None
    terms: ProtocolTerms | None = None
    review_after_seconds: int | None = None
    reference: str | None = None
    factors: AssessmentFactors | None = None
    reasonable_adjustments: str | None = None


@dataclass
class AppealRequest:
    """A customer's appeal against a protocol, logged by the case system or an officer."""

    appeal_id: str
    grounds: str
    logged_by: str
    received_at: datetime


@dataclass
class SupportRecord:
    """Vulnerabilities, advocate and reasonable adjustments (HS 6.3.2, 6.4.1; Magna)."""

    recorded_by: str
    role: str
    vulnerabilities: list[str] = field(default_factory=list)
    advocate_name: str | None = None
    advocate_email: str | None = None
    contact_via_advocate: bool = False
    reasonable_adjustments: str | None = None
    referral_consent: bool = False
    mediation_offered: bool = False


# Activities ---------------------------------------------------------------------------


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
class RecordIncidents:
    """Activity input: write a batch of incidents (idempotent on incident_id)."""

    case_key: str
    batch_key: str
    incidents: list[IncidentReport]


@dataclass
class RecordedIncidents:
    """Activity output: the ids this batch wrote, on whichever attempt (not earlier resends)."""

    created_ids: list[str]


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
    """Activity input: mirror the case's stage, flags and dates into the records."""

    case_key: str
    stage: str
    risk_flag: bool
    at: datetime
    next_review_at: datetime | None = None
    closed_at: datetime | None = None
    direct_contact_ended: bool = False


@dataclass
class CreateTask:
    """Activity input: write a task row (idempotent on task_id)."""

    case_key: str
    customer_ref: str
    task: Task


@dataclass
class RecordDecision:
    """Activity input: a decision, its audit row and the protocol it leaves in force."""

    case_key: str
    task_id: str
    kind: str
    decision: Decision
    at: datetime
    protocol: Protocol | None = None
    protocol_status: str | None = None  # "in_force" | "ended" | "overturned"


@dataclass
class EscalateTask:
    """Activity input: an overdue task is escalated to the next role up."""

    case_key: str
    task_id: str
    kind: str
    to_role: str
    at: datetime


@dataclass
class SupersedeTask:
    """Activity input: close an open task the case has moved past."""

    case_key: str
    task_id: str
    kind: str
    why: str
    at: datetime


@dataclass
class RecordCaseEvent:
    """Activity input: an audit row for something that is not a task decision."""

    case_key: str
    event_key: str
    actor: str
    role: str
    action: str
    at: datetime
    reason: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class StoreSupport:
    """Activity input: keep a customer's support details in the records."""

    case_key: str
    customer_ref: str
    support: SupportRecord
    at: datetime
