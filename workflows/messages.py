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
    # The customer's tenancy as the records know it at intake (HS 6.3.6).
    tenancy: str | None = None
    # The colleague on the receiving end (staff reference; never in a letter).
    affected_colleague: str | None = None
    # Who submitted it and in which roles, from their token (set by the API; audit actor).
    submitted_by: str | None = None
    submitted_role: str | None = None


@dataclass
class CaseInput:
    """Start (or continue-as-new) input: the policy snapshot and any carried state."""

    customer_ref: str
    profile: PolicyProfile
    carried: CaseState | None = None
    # Incidents received but not yet recorded when the last run continued-as-new.
    pending: list[IncidentReport] = field(default_factory=list)


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
    # How many times it has been escalated (it keeps climbing until someone decides it).
    escalations: int = 0


@dataclass
class Restriction:
    """The restriction in force: a communication protocol, immediate action or ended
    direct contact. Each has terms, reasons, adjustments, a review date and an appeal;
    it is lifted only by a decision (review ``end``, appeal ``overturned``) or replaced."""

    protocol_id: str
    terms: ProtocolTerms
    authorised_by: str
    authorised_at: datetime
    review_after_seconds: int
    next_review_at: datetime
    immediate: bool = False
    reviews: int = 0
    incidents_since_review: int = 0
    # "protocol" | "immediate_action" | "direct_contact_ended"
    kind: str = "protocol"
    # The reasons as the customer was told them, and the adjustments made.
    customer_reason: str = ""
    reasonable_adjustments: str = ""
    # Appeals decided against this restriction (HS 6.5.5 allows one).
    appeals: int = 0


# The name the earlier code used; the payloads are the same.
Protocol = Restriction


@dataclass
class IncidentNote:
    """What a letter may say of an incident: when, how, and the kind of behaviour."""

    incident_id: str
    occurred_at: datetime
    channel: str
    category: str


@dataclass
class SupportFlags:
    """What the workflow needs to know of a customer's support needs (details in records)."""

    contact_via_advocate: bool = False
    reasonable_adjustments_recorded: bool = False
    referral_consent: bool = False
    mediation_offered: bool = False
    # Letters to an advocate are copied to the customer unless a decision says otherwise.
    copy_to_customer: bool = True


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
    protocol: Restriction | None = None
    support: SupportFlags = field(default_factory=SupportFlags)
    letters: list[LetterSummary] = field(default_factory=list)
    opened_at: datetime | None = None
    last_activity_at: datetime | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    step_counter: int = 0
    # The protocol's review date has passed and no review has been decided yet.
    review_overdue: bool = False
    # Steps that failed for good and became a task for staff (count, for operators).
    failed_steps: int = 0
    # Runs of this case so far (continue-as-new starts the next).
    runs: int = 1
    # Letters reported undeliverable, waiting for the main loop to open a task.
    letter_problems: list[LetterProblem] = field(default_factory=list)
    # Delivery attempts started per letter id (a resend after a fix is the next attempt).
    letter_attempts: dict[str, int] = field(default_factory=dict)
    # The latest incidents, for the letters that rely on them (bounded).
    incident_notes: list[IncidentNote] = field(default_factory=list)
    # Violence or a threat: staff-safety measures until a Director decides (HS 6.3.1).
    interim_measures: bool = False
    # When the risk flag in force comes up for review (second round: every flag has one).
    risk_flag_review_at: datetime | None = None
    # Incidents since the formal warning (HS 6.5.3: one alone does not warrant assessment).
    incidents_since_formal_warning: int = 0


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
    # The reason as the customer reads it in the letter; ``reason`` stays an internal
    # note in the audit trail and never reaches a letter.
    customer_reason: str | None = None


@dataclass
class AppealRequest:
    """A customer's appeal against a protocol, logged by the case system or an officer."""

    appeal_id: str
    grounds: str
    logged_by: str
    received_at: datetime
    # "restriction" (both profiles) or, under Magna, "initial_warning", "formal_warning",
    # "risk_flag": any decision except legal action.
    against: str = "restriction"
    # The roles of whoever logged it, from their token.
    role: str = "officer"


@dataclass
class RiskFlagReviewRequest:
    """A member of staff asks a manager to decide the risk flag now (apply, keep or
    remove it), without waiting for its review date."""

    requested_by: str
    role: str
    reason: str


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
    # With contact via an advocate: send the customer a copy of each letter (default yes).
    copy_to_customer: bool = True


# Activities ---------------------------------------------------------------------------


@dataclass
class OpenCase:
    """Activity input: open (or find) the records row for this case episode."""

    customer_ref: str
    workflow_id: str
    run_key: str
    profile_name: str
    opened_at: datetime
    # The first incidents, recorded under the case in the same transaction (batch key: the
    # first one's id); empty on runs from before the patch "open-with-first-batch".
    first_batch: list[IncidentReport] = field(default_factory=list)


@dataclass
class OpenedCase:
    """Activity output: the case episode's business key (and the first batch's ids this
    opening recorded, as ``RecordedIncidents`` has them)."""

    case_key: str
    episode: int
    created_ids: list[str] = field(default_factory=list)


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
class DraftLetter:
    """Activity input: render and store one letter, once per letter_id (no sending)."""

    letter_id: str
    case_key: str
    customer_ref: str
    kind: str
    context: dict[str, str] = field(default_factory=dict)
    # The customer's own copy of a letter that went to their advocate.
    copy_for_customer: bool = False


@dataclass
class DraftedLetter:
    """Activity output: the stored letter and how it will go out."""

    letter_id: str
    delivery: str  # "email" | "post"
    status: str  # queued | sending | sent | stored | undeliverable


@dataclass
class DeliverLetter:
    """Letter workflow and activity input: deliver one stored letter."""

    letter_id: str
    case_workflow_id: str
    kind: str
    attempt: int = 1
    budget_seconds: int = 3 * 24 * 3600  # keep retrying a mail server that is down this long
    retry_max_interval_seconds: int = 300


@dataclass
class DeliveredLetter:
    """Letter workflow and activity output: what became of the letter."""

    letter_id: str
    status: str  # sent | stored | undeliverable
    # The first attempt's outcome was unknown, so it was sent again (same Message-ID).
    resent_after_uncertain_attempt: bool = False
    problem: str | None = None


@dataclass
class LetterProblem:
    """Signal to the case: a letter could not be delivered; staff must act."""

    letter_id: str
    kind: str
    problem: str  # a LetterFault value
    explanation: str  # plain words for staff, no personal data


@dataclass
class ReaddressLetter:
    """Activity input: take the customer's current details (or the post) for a letter."""

    letter_id: str
    customer_ref: str
    by_post: bool
    at: datetime


@dataclass
class ReaddressedLetter:
    """Activity output: how the letter will go out now."""

    letter_id: str
    delivery: str


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
    interim_measures: bool = False


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
    protocol: Restriction | None = None
    protocol_status: str | None = None  # "in_force" | "ended" | "overturned"


@dataclass
class EscalateTask:
    """Activity input: an overdue task is escalated to the next role up."""

    case_key: str
    task_id: str
    kind: str
    to_role: str
    at: datetime
    level: int = 1  # 1 for the first escalation, 2 for the next, ...


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


@dataclass
class CaseWrite:
    """One records write of a case's pass, exactly one field set: a decision, an audit
    row, a task, a task superseded, a letter to draft or the case record's mirror."""

    decision: RecordDecision | None = None
    event: RecordCaseEvent | None = None
    task: CreateTask | None = None
    supersede: SupersedeTask | None = None
    letter: DraftLetter | None = None
    case_record: UpdateCaseRecord | None = None


@dataclass
class RecordCaseWrites:
    """Activity input: a pass's records writes, in order, in one transaction (each
    idempotent on its own business key, as the single-write activities are)."""

    case_key: str
    writes: list[CaseWrite] = field(default_factory=list)


@dataclass
class RecordedCaseWrites:
    """Activity output: each letter of the batch as stored, in the batch's order."""

    letters: list[DraftedLetter] = field(default_factory=list)
