"""Bodies for tasks, decisions, appeals, support, arrangements and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.base import ApiModel, EmailAddress
from policy.protocol import CONTACT_METHODS

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text4000 = Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]
ContactMethod = Literal["letter", "email", "phone", "in_person", "third_party", "online"]
assert set(ContactMethod.__args__) == CONTACT_METHODS  # type: ignore[attr-defined]


class TermsIn(ApiModel):
    """The arrangements of a communication protocol (HS 6.4.2, 6.5.4)."""

    contact_methods: list[ContactMethod] = Field(min_length=1)
    single_point_of_contact: Text200 | None = None
    contact_times: Text200 | None = None
    topics: Text200 | None = None
    appointment_only: bool = False
    visits_in_pairs: bool = False
    issue_limit: Text200 | None = None
    health_and_safety_only: bool = False
    other: Text200 | None = None


class FactorsIn(ApiModel):
    """What an Unacceptable Behaviour Assessment weighed (HS 6.5.3)."""

    instances: int = Field(ge=0, le=100_000)
    contact_levels: Text4000
    language: Text4000
    needs_and_circumstances: Text4000


class DecisionIn(ApiModel):
    """A decision on a task; which fields are needed depends on the task's kind."""

    outcome: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    reason: Text4000 = Field(
        description="Internal note for the audit trail: why the decision was taken. "
        "Never sent to the customer."
    )
    customer_reason: Text4000 | None = Field(
        default=None,
        description="The reason as the customer reads it in the letter, written for the "
        "customer. Required for every decision the customer is told about (warnings, "
        "restrictions, no restriction, appeals, reviews).",
    )
    method: Literal["letter", "in_person", "phone"] | None = None
    terms: TermsIn | None = None
    review_after_seconds: int | None = Field(default=None, gt=0, le=10 * 365 * 86400)
    reference: Text200 | None = None
    factors: FactorsIn | None = None
    reasonable_adjustments: Text4000 | None = None


class SupportOut(BaseModel):
    """The customer's recorded support needs, for the staff deciding their tasks."""

    vulnerabilities: list[str] = Field(
        description="Vulnerabilities and support needs recorded for the customer."
    )
    advocate_name: str | None = Field(
        description="The customer's advocate or representative, if they have one."
    )
    advocate_email: str | None = Field(description="The advocate's email address, if known.")
    contact_via_advocate: bool = Field(
        description="Whether contact about the case goes through the advocate."
    )
    reasonable_adjustments: str | None = Field(
        description="The reasonable adjustments agreed with or made for the customer."
    )
    referral_consent: bool = Field(
        description="Whether the customer consented to a referral to support services."
    )
    mediation_offered: bool = Field(description="Whether mediation was offered.")
    updated_at: datetime = Field(description="When the support details were last recorded.")


class CaseTaskOut(BaseModel):
    """An open task as a customer's case lists it (arrangements and summaries only)."""

    task_id: str
    kind: str
    role: str
    customer_ref: str
    case_id: str
    created_at: datetime
    due_at: datetime
    escalated_to: str | None
    claimed_by: str | None
    context: dict[str, str]


class TaskOut(CaseTaskOut):
    """An open task as the inbox lists it, with the support needs its decider must weigh."""

    support: SupportOut | None = Field(
        default=None,
        description="The customer's recorded vulnerabilities, advocate and reasonable "
        "adjustments (staff only); null when none are recorded.",
    )


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class OpenTaskOut(BaseModel):
    task_id: str
    kind: str
    role: str
    due_at: datetime
    escalated_to: str | None


class ProtocolOut(BaseModel):
    """The restriction in force: a protocol, immediate action or ended direct contact."""

    arrangements: list[str]
    authorised_by: str
    next_review_at: datetime
    immediate: bool
    reviews: int
    kind: str = "protocol"
    appeals: int = 0


class CaseStateOut(BaseModel):
    """The live state of a case workflow, as a decision leaves it."""

    case_id: str
    case_key: str
    stage: str
    risk_flag: bool
    direct_contact_ended: bool
    incident_count: int
    open_tasks: list[OpenTaskOut]
    protocol: ProtocolOut | None
    closed_at: datetime | None


AppealAgainst = Literal["restriction", "initial_warning", "formal_warning", "risk_flag"]


class AppealIn(ApiModel):
    """A customer's appeal: against the restriction in force, or (Magna) a warning or
    the risk flag."""

    grounds: Text4000
    received_at: AwareDatetime | None = None
    source_reference: Text200 | None = None
    against: AppealAgainst = Field(
        default="restriction",
        description="What is appealed: the restriction in force (both policies), or under "
        "Magna also the initial or formal warning or the risk flag. Legal action has its "
        "own route.",
    )


class RiskFlagReviewIn(ApiModel):
    """Ask a manager to decide the risk flag now (apply, keep or remove it)."""

    reason: Text4000 = Field(description="Why the flag should be decided now (internal).")


class SupportIn(ApiModel):
    """Vulnerabilities, an advocate and reasonable adjustments."""

    vulnerabilities: list[Text200] = Field(default_factory=list, max_length=20)
    advocate_name: Text200 | None = None
    advocate_email: EmailAddress | None = None
    contact_via_advocate: bool = False
    reasonable_adjustments: Text4000 | None = None
    referral_consent: bool = False
    mediation_offered: bool = False
    copy_to_customer: bool = Field(
        default=True,
        description="With contact via an advocate: also send the customer a copy of each "
        "letter (set false only where a decision says the customer should not get one).",
    )


class ArrangementsOut(BaseModel):
    """What contractors and staff need to know: the arrangements, never the reasons."""

    customer_ref: str
    risk_flag: bool
    arrangements: list[str]
    review_due: datetime | None


class AuditOut(BaseModel):
    id: int
    case_key: str | None
    actor: str
    role: str
    action: str
    reason: str | None
    details: dict[str, object]
    at: datetime


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


class LetterDetailOut(BaseModel):
    letter_id: str
    kind: str
    delivery: str
    status: str
    recipient: str | None
    subject: str
    body_text: str
    body_html: str
    sent_at: datetime | None
