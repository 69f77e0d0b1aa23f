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

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: EmailAddress | None = None
    postal_address: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    tenancy: Tenancy | None = Field(
        default=None,
        description="The customer's tenancy (HS 6.3.6: tenancy action is for starter, "
        "assured and fixed-term tenancies); leave out when not known.",
    )


class IncidentIn(ApiModel):
    """An incident reported by a case system or an officer."""

    customer_ref: CustomerRef
    category: Category
    channel: Channel
    occurred_at: AwareDatetime
    description: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_DESCRIPTION_CHARS, strip_whitespace=True),
    ]
    reported_by: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    source_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = (
        Field(
            default=None,
            description="The case system's own id for this incident; resending it is idempotent.",
        )
    )
    customer: CustomerDetails | None = None
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

    incident_id: str
    case_id: str
    status: str = "accepted"


class CustomerRegistered(BaseModel):
    """What is now on file (without echoing the personal data back)."""

    customer_ref: str
    has_name: bool
    has_email: bool
    has_postal_address: bool


class IncidentOut(BaseModel):
    incident_id: str
    category: str
    channel: str
    occurred_at: datetime
    reported_by: str
    description: str


class LetterOut(BaseModel):
    letter_id: str
    kind: str
    delivery: str
    status: str
    sent_at: datetime | None


class AuditEntryOut(BaseModel):
    actor: str
    role: str
    action: str
    reason: str | None
    at: datetime


class CaseOut(BaseModel):
    """A customer's current case, from the records and the live workflow."""

    case_id: str
    case_key: str
    episode: int
    profile: str
    stage: str
    risk_flag: bool
    opened_at: datetime
    next_review_at: datetime | None = None
    closed_at: datetime | None = None
    incidents: list[IncidentOut]
    letters: list[LetterOut]
    open_tasks: list[CaseTaskOut] = []
    history: list[AuditEntryOut] = []
    workflow_status: str | None = None
    malformed_signals: int | None = None
