"""Bodies for tasks, decisions, appeals, support, arrangements and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.base import ApiModel, EmailAddress
from api.decision_docs import outcome_description, outcomes_extension
from api.equality_schemas import EqualityIn
from policy.protocol import CONTACT_METHODS

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text4000 = Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]
ContactMethod = Literal["letter", "email", "phone", "in_person", "third_party", "online"]
assert set(ContactMethod.__args__) == CONTACT_METHODS  # type: ignore[attr-defined]


class TermsIn(ApiModel):
    """The arrangements of a communication protocol (HS 6.4.2, 6.5.4)."""

    contact_methods: list[ContactMethod] = Field(
        min_length=1, description="How the customer may contact us (at least one)."
    )
    single_point_of_contact: Text200 | None = Field(
        default=None, description="The main point of staff contact (name and role)."
    )
    contact_times: Text200 | None = Field(
        default=None, description="The frequency and times of contact allowed."
    )
    topics: Text200 | None = Field(
        default=None, description="The issues or topics the customer's contact may be about."
    )
    appointment_only: bool = Field(default=False, description="Meetings by appointment only.")
    visits_in_pairs: bool = Field(
        default=False, description="Staff visit the customer in pairs only."
    )
    issue_limit: Text200 | None = Field(
        default=None, description="The number of issues considered at a time."
    )
    health_and_safety_only: bool = Field(
        default=False, description="Contact limited to health and safety matters."
    )
    other: Text200 | None = Field(
        default=None, description="Any other arrangement, in a few words."
    )


class FactorsIn(ApiModel):
    """What an Unacceptable Behaviour Assessment weighed (HS 6.5.3)."""

    instances: int = Field(
        ge=0, le=100_000, description="How many instances of the behaviour were weighed."
    )
    contact_levels: Text4000 = Field(
        description="The levels of contact, e.g. 40 emails in two weeks."
    )
    language: Text4000 = Field(description="The language used (abusive, demanding, ...).")
    needs_and_circumstances: Text4000 = Field(
        description="The customer's needs and circumstances, and how they were considered."
    )


class DecisionIn(ApiModel):
    """A decision on a task; which fields are needed depends on the task's kind and the
    outcome (see ``outcome``)."""

    outcome: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description=outcome_description(),
        json_schema_extra={"x-outcomes": outcomes_extension()},  # type: ignore[dict-item]
    )
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
    method: Literal["letter", "in_person", "phone"] | None = Field(
        default=None,
        description="How an issued initial warning was given: by letter (the letter is "
        "sent), or already in person or by phone (a confirming letter is sent).",
    )
    terms: TermsIn | None = Field(
        default=None,
        description="The arrangements of the restriction, for an outcome that imposes or "
        "varies one.",
    )
    review_after_seconds: int | None = Field(
        default=None,
        gt=0,
        le=10 * 365 * 86400,
        description="When the restriction is next reviewed, in seconds from now; within "
        "the profile's review period. Left out: the profile's default.",
    )
    reference: Text200 | None = Field(
        default=None, description="The police reference of a police report."
    )
    factors: FactorsIn | None = Field(
        default=None,
        description="What a behaviour assessment weighed (HS 6.5.3); required for every "
        "behaviour_assessment outcome.",
    )
    reasonable_adjustments: Text4000 | None = Field(
        default=None,
        description="The reasonable adjustments made for the customer, or why none are "
        "needed; required before any restriction.",
    )


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

    task_id: str = Field(description="The task's id (use it to claim and complete it).")
    kind: str = Field(description="The task kind; its outcomes are listed under DecisionIn.")
    role: str = Field(description="The role that decides the task.")
    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    case_id: str = Field(description="The case workflow's id.")
    created_at: datetime = Field(description="When the task was opened.")
    due_at: datetime = Field(description="When the task is due; overdue tasks escalate.")
    escalated_to: str | None = Field(
        description="The role the overdue task escalated to; null when not escalated."
    )
    claimed_by: str | None = Field(description="Who claimed the task; null when unclaimed.")
    context: dict[str, str] = Field(
        description="Summaries the decider needs (e.g. the incident category), never personal data."
    )


class TaskOut(CaseTaskOut):
    """An open task as the inbox lists it, with the support needs its decider must weigh."""

    support: SupportOut | None = Field(
        default=None,
        description="The customer's recorded vulnerabilities, advocate and reasonable "
        "adjustments (staff only); null when none are recorded.",
    )


class TaskPage(BaseModel):
    """A page of open tasks."""

    items: list[TaskOut] = Field(description="The tasks on this page.")
    total: int = Field(description="How many open tasks match, on every page.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many tasks were skipped before this page.")


class OpenTaskOut(BaseModel):
    """An open task of the case, as the workflow holds it."""

    task_id: str = Field(description="The task's id.")
    kind: str = Field(description="The task kind.")
    role: str = Field(description="The role that decides the task.")
    due_at: datetime = Field(description="When the task is due.")
    escalated_to: str | None = Field(
        description="The role the overdue task escalated to; null when not escalated."
    )


class ProtocolOut(BaseModel):
    """The restriction in force: a protocol, immediate action or ended direct contact."""

    arrangements: list[str] = Field(description="The arrangements in force, in words.")
    authorised_by: str = Field(description="Who authorised the restriction.")
    next_review_at: datetime = Field(description="When the restriction is next reviewed.")
    immediate: bool = Field(description="Whether it is immediate action (HS 6.5).")
    reviews: int = Field(description="How many reviews have continued or varied it.")
    kind: str = Field(
        default="protocol",
        description="protocol, immediate_action or direct_contact_ended.",
    )
    appeals: int = Field(default=0, description="How many appeals against it were decided.")


class CaseStateOut(BaseModel):
    """The live state of a case workflow, as a decision leaves it."""

    case_id: str = Field(description="The case workflow's id.")
    case_key: str = Field(description="The case episode's key (workflow id and episode).")
    stage: str = Field(description="Where the case is on the policy's ladder.")
    risk_flag: bool = Field(description="Whether the risk flag is applied.")
    direct_contact_ended: bool = Field(description="Whether direct contact is ended.")
    incident_count: int = Field(description="How many incidents the case episode has.")
    open_tasks: list[OpenTaskOut] = Field(description="The decisions now waiting.")
    protocol: ProtocolOut | None = Field(description="The restriction in force; null when none.")
    closed_at: datetime | None = Field(description="When the case closed; null while open.")


AppealAgainst = Literal["restriction", "initial_warning", "formal_warning", "risk_flag"]


class AppealIn(ApiModel):
    """A customer's appeal: against the restriction in force, or (Magna) a warning or
    the risk flag."""

    grounds: Text4000 = Field(description="The customer's grounds of appeal, as received.")
    received_at: AwareDatetime | None = Field(
        default=None, description="When the appeal was received (default: now)."
    )
    source_reference: Text200 | None = Field(
        default=None,
        description="The case system's own id for the appeal; resending it is idempotent.",
    )
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

    vulnerabilities: list[Text200] = Field(
        default_factory=list,
        max_length=20,
        description="Vulnerabilities and support needs, each in a few words.",
    )
    advocate_name: Text200 | None = Field(
        default=None, description="The customer's advocate or representative."
    )
    advocate_email: EmailAddress | None = Field(
        default=None, description="The advocate's email address."
    )
    contact_via_advocate: bool = Field(
        default=False, description="Send letters to the advocate (they need an address)."
    )
    reasonable_adjustments: Text4000 | None = Field(
        default=None, description="Reasonable adjustments agreed with the customer."
    )
    referral_consent: bool = Field(
        default=False,
        description="The customer agrees to a referral to a support agency (Magna).",
    )
    mediation_offered: bool = Field(default=False, description="Mediation was offered (Magna).")
    copy_to_customer: bool = Field(
        default=True,
        description="With contact via an advocate: also send the customer a copy of each "
        "letter (set false only where a decision says the customer should not get one).",
    )
    equality: EqualityIn | None = Field(
        default=None,
        description="Equality and vulnerability monitoring (HS 7.1), recorded with the support "
        "details: voluntary, kept in the records only (never sent to the case workflow), "
        "as PUT /v1/customers/{customer_ref}/equality records it.",
    )


class ArrangementsOut(BaseModel):
    """What contractors and staff need to know: the arrangements, never the reasons."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    risk_flag: bool = Field(description="Whether the risk flag is applied.")
    arrangements: list[str] = Field(description="The contact arrangements in force, in words.")
    review_due: datetime | None = Field(
        description="When the restriction is next reviewed; null when none is in force."
    )


class AuditOut(BaseModel):
    """One row of the audit trail."""

    id: int = Field(description="The row's id (ascending in time).")
    case_key: str | None = Field(description="The case episode it concerns, if any.")
    actor: str = Field(description="Who acted (the token's user, or a system component).")
    role: str = Field(description="The actor's roles when acting.")
    action: str = Field(description="What was done, e.g. POST /v1/incidents or a decision.")
    reason: str | None = Field(description="The reason recorded with it, if any.")
    details: dict[str, object] = Field(
        description="Particulars: path, status, access basis, changed fields."
    )
    at: datetime = Field(description="When it happened.")


class AuditPage(BaseModel):
    """A page of the audit trail, newest first."""

    items: list[AuditOut] = Field(description="The rows on this page.")
    total: int = Field(description="How many rows match, on every page.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many rows were skipped before this page.")


class LetterDetailOut(BaseModel):
    """A letter as rendered and sent."""

    letter_id: str = Field(description="The letter's id.")
    kind: str = Field(description="The letter kind, e.g. initial_warning.")
    delivery: str = Field(description="How it is delivered: email or post.")
    status: str = Field(description="Where delivery stands, e.g. sent or undeliverable.")
    recipient: str | None = Field(description="Who it went to (customer or advocate).")
    subject: str = Field(description="The letter's subject line.")
    body_text: str = Field(description="The letter as plain text.")
    body_html: str = Field(description="The letter as HTML.")
    sent_at: datetime | None = Field(description="When it was sent; null until then.")
