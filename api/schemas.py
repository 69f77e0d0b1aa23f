"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
)

from api.base import ApiModel, EmailAddress
from api.decision_schemas import CaseTaskOut
from policy.categories import Category, Channel
from policy.ladder import TENANCIES
from workflows.ids import CUSTOMER_REF_PATTERN

MAX_DESCRIPTION_CHARS = 10_000

CustomerRef = Annotated[
    str,
    StringConstraints(pattern=CUSTOMER_REF_PATTERN),
    Field(description="Pseudonymous customer reference: letters, digits, '-', '_' (max 64)"),
]


EARLIEST_INCIDENT = datetime(2000, 1, 1, tzinfo=UTC)


Tenancy = Literal["starter", "assured", "fixed_term", "other", "not_a_tenant"]
assert set(Tenancy.__args__) == set(TENANCIES)  # type: ignore[attr-defined]


class CustomerDetails(ApiModel):
    """Contact details a letter needs. Kept in the records, never in workflow history."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="The customer's name as letters address them."
    )
    email: EmailAddress | None = Field(
        default=None, description="Where letters go by email (stored normalised)."
    )
    postal_address: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None, description="The postal address, lines separated by newlines."
    )
    tenancy: Tenancy | None = Field(
        default=None,
        description="The customer's tenancy (HS 6.3.6: tenancy action is for starter, "
        "assured and fixed-term tenancies); leave out when not known.",
    )


class IncidentIn(ApiModel):
    """An incident reported by a case system or an officer."""

    customer_ref: CustomerRef
    category: Category = Field(description="What kind of behaviour it was.")
    channel: Channel = Field(description="How the behaviour reached us.")
    occurred_at: AwareDatetime = Field(
        description="When it happened, with a timezone; not in the future."
    )
    description: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_DESCRIPTION_CHARS, strip_whitespace=True),
    ] = Field(description="What happened, in the reporter's words (never in a letter).")
    reported_by: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Who reported it (a staff reference); kept as data, the actor is the "
        "token's user."
    )
    source_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = (
        Field(
            default=None,
            description="The case system's own id for this incident; resending it is idempotent.",
        )
    )
    customer: CustomerDetails | None = Field(
        default=None, description="Contact details to register or update with the incident."
    )
    warned_by_officer: Literal["in_person", "phone"] | None = Field(
        default=None,
        description="The reporting officer already told the customer, in person or by phone "
        "(HS 6.5.1): recorded as the initial warning.",
    )
    immediate_action_requested: bool = Field(
        default=False,
        description="Ask a Director to sign off immediate action, skipping warnings (HS 6.5).",
    )
    affected_colleague: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = (
        Field(
            default=None,
            description="The staff reference of the colleague on the receiving end: their line "
            "manager gets a colleague_support task (Magna; HS 2.2). Never in a letter.",
        )
    )

    @field_validator("occurred_at")
    @classmethod
    def _occurred_in_the_past(cls, value: datetime) -> datetime:
        if not EARLIEST_INCIDENT <= value <= datetime.now(UTC) + timedelta(hours=1):
            raise ValueError("occurred_at must be a past moment (from the year 2000 on)")
        return value.astimezone(UTC)


class IncidentAccepted(BaseModel):
    """The incident reached the customer's case workflow."""

    incident_id: str = Field(description="The incident's id.")
    case_id: str = Field(description="The customer's case workflow id.")
    status: Literal["accepted", "already_received"] = Field(
        default="accepted",
        description="accepted: a new incident; already_received: this source_reference was "
        "received before, and this answer names that incident (nothing new is recorded).",
    )


class CustomerRegistered(BaseModel):
    """What is now on file (without echoing the personal data back)."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    has_name: bool = Field(description="A name is on file.")
    has_email: bool = Field(description="An email address is on file.")
    has_postal_address: bool = Field(description="A postal address is on file.")


class IncidentOut(BaseModel):
    """An incident on the case."""

    incident_id: str = Field(description="The incident's id.")
    category: str = Field(description="What kind of behaviour it was.")
    channel: str = Field(description="How the behaviour reached us.")
    occurred_at: datetime = Field(description="When it happened.")
    reported_by: str = Field(description="Who reported it.")
    description: str = Field(description="What happened, as reported.")


class LetterOut(BaseModel):
    """A letter on the case (GET /v1/letters/{letter_id} for its text)."""

    letter_id: str = Field(description="The letter's id.")
    kind: str = Field(description="The letter kind, e.g. initial_warning.")
    delivery: str = Field(description="How it is delivered: email or post.")
    status: str = Field(description="Where delivery stands, e.g. sent or undeliverable.")
    sent_at: datetime | None = Field(description="When it was sent; null until then.")


class AuditEntryOut(BaseModel):
    """One entry of the case's history."""

    actor: str = Field(description="Who acted.")
    role: str = Field(description="The actor's roles when acting.")
    action: str = Field(description="What was done.")
    reason: str | None = Field(description="The reason recorded with it, if any.")
    at: datetime = Field(description="When it happened.")


class CaseOut(BaseModel):
    """A customer's current case, from the records and the live workflow."""

    case_id: str = Field(description="The customer's case workflow id.")
    case_key: str = Field(description="The case episode's key (workflow id and episode).")
    episode: int = Field(description="Which case of the customer's this is (1, 2, ...).")
    profile: str = Field(description="The policy profile: magna or housing_solutions.")
    stage: str = Field(description="Where the case is on the policy's ladder.")
    risk_flag: bool = Field(description="Whether the risk flag is applied.")
    opened_at: datetime = Field(description="When the case episode opened.")
    next_review_at: datetime | None = Field(
        default=None, description="When the restriction in force is next reviewed."
    )
    closed_at: datetime | None = Field(
        default=None, description="When the case closed; null while open."
    )
    incidents: list[IncidentOut] = Field(description="The case's incidents.")
    letters: list[LetterOut] = Field(description="The letters sent on the case.")
    open_tasks: list[CaseTaskOut] = Field(default=[], description="The decisions waiting.")
    history: list[AuditEntryOut] = Field(default=[], description="The case's audit history.")
    workflow_status: str | None = Field(
        default=None, description="The workflow's status in Temporal, when it answered."
    )
    malformed_signals: int | None = Field(
        default=None, description="Signals the workflow refused as malformed (counted)."
    )
