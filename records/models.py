"""The records schema. Alembic migrations create it; never ``create_all``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every records table."""

    type_annotation_map = {datetime: UTCDateTime, datetime | None: UTCDateTime}


class TokenRevocation(Base):
    """A token revoked (sign-out), or every token of a subject issued before a moment."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(254), index=True)
    # For a subject: tokens issued at or before this moment (Unix seconds) are refused.
    issued_before: Mapped[int | None] = mapped_column(Integer)
    revoked_by: Mapped[str] = mapped_column(String(254))
    revoked_at: Mapped[datetime] = mapped_column()


class Customer(Base):
    """A customer, known to the case by a pseudonymous reference."""

    __tablename__ = "customers"

    customer_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    postal_address: Mapped[str | None] = mapped_column(Text)
    # starter | assured | fixed_term | other | not_a_tenant (HS 6.3.6); None: not known.
    tenancy: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column()


class Case(Base):
    """One episode of a customer's case (a fresh case after the 12-month rule is a new row)."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("workflow_id", "episode"),
        # The integrator search (GET /v1/cases): its filters and its two sort orders.
        Index("ix_cases_stage_review", "stage", "next_review_at", "case_key"),
        Index("ix_cases_review", "next_review_at", "case_key"),
        Index("ix_cases_opened", "opened_at", "case_key"),
        Index("ix_cases_customer_episode", "customer_ref", "episode"),
        # The report: a row's case episode and its profile, from the index alone.
        Index("ix_cases_key_profile", "case_key", "profile"),
    )

    case_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(100), index=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)
    episode: Mapped[int] = mapped_column(Integer)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    profile: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(40))
    risk_flag: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    next_review_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    direct_contact_ended: Mapped[bool] = mapped_column(default=False)
    # Violence or a threat: staff-safety measures until a Director decides (HS 6.3.1).
    interim_measures: Mapped[bool] = mapped_column(default=False)
    # When the retention schedule removed the episode's personal data (policy.retention).
    purged_at: Mapped[datetime | None] = mapped_column()


class Incident(Base):
    """One reported incident (HS 6.3.5: factual details recorded)."""

    __tablename__ = "incidents"
    # A case's incidents, a page at a time (GET /v1/cases/{ref}/incidents).
    __table_args__ = (
        Index("ix_incidents_case_occurred", "case_key", "occurred_at", "incident_id"),
        # The report's incidents of a period (covering its GROUP BY).
        Index("ix_incidents_occurred", "occurred_at", "case_key", "category", "channel"),
    )

    incident_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None until the case workflow records it under a case episode (intake stores it first).
    case_key: Mapped[str | None] = mapped_column(ForeignKey("cases.case_key"), index=True)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column()
    reported_by: Mapped[str] = mapped_column(String(100))
    # Who submitted it, from their token (reported_by is what the body says: data).
    submitted_by: Mapped[str | None] = mapped_column(String(254))
    submitted_role: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    # False from intake's write until Temporal took the signal (see Records.withdraw_stale).
    signalled: Mapped[bool] = mapped_column(default=True)


class Letter(Base):
    """A letter to the customer, with its rendered body (exactly one per case and step)."""

    __tablename__ = "letters"
    # A case's letters, a page at a time (GET /v1/cases/{ref}/letters).
    __table_args__ = (
        Index("ix_letters_case_created", "case_key", "created_at", "letter_id"),
        # The report's letters of a period.
        Index("ix_letters_created", "created_at", "case_key"),
    )

    letter_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    delivery: Mapped[str] = mapped_column(String(10))  # email | post
    # queued | sending (an attempt whose outcome is not yet known) | sent | stored
    # | undeliverable (staff have a task to fix the address)
    status: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sent again after an attempt whose outcome was unknown (same Message-ID).
    resent_after_uncertain: Mapped[bool] = mapped_column(default=False)
    problem: Mapped[str | None] = mapped_column(String(60))
    last_attempt_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Append-only audit trail: who, in what role, did what, when and why."""

    __tablename__ = "audit_events"
    # The report's case events of a period (e.g. cases reopened).
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(240), unique=True)
    case_key: Mapped[str | None] = mapped_column(String(120), index=True)
    # Wide enough for any valid token: a user id of up to 200 characters and every role.
    actor: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column()


class Task(Base):
    """A human decision: who must take it, by when, and what was decided, by whom and why."""

    __tablename__ = "tasks"
    __table_args__ = (
        # A case's open tasks of a kind (the search's open_task_kind filter and counts).
        Index("ix_tasks_case_status_kind", "case_key", "status", "kind"),
        # The inbox, oldest due first, a page at a time (cursor on due_at, task_id).
        Index("ix_tasks_status_due", "status", "due_at", "task_id"),
        # The task list (GET /v1/tasks, the inbox page): one role's open tasks, its own or
        # escalated to it, of a kind, or one customer's, each read in due order (0010).
        Index("ix_tasks_open_role_due", "status", "role", "due_at", "task_id"),
        Index("ix_tasks_open_role_kind_due", "status", "role", "kind", "due_at", "task_id"),
        Index("ix_tasks_open_escalated_due", "status", "escalated_to", "due_at", "task_id"),
        Index("ix_tasks_customer_open_due", "customer_ref", "status", "due_at", "task_id"),
        # The report: reviews and appeals by kind, decisions, escalations of a period.
        Index("ix_tasks_kind_status_due", "kind", "status", "due_at"),
        Index("ix_tasks_decided", "decided_at", "kind", "outcome"),
        Index("ix_tasks_escalated", "escalated_at"),
        Index("ix_tasks_kind_created", "kind", "created_at"),
    )

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | decided
    created_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column(index=True)
    escalated_to: Mapped[str | None] = mapped_column(String(40))
    escalated_at: Mapped[datetime | None] = mapped_column()
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column()
    context: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str | None] = mapped_column(String(40))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_role: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[dict[str, object] | None] = mapped_column(JSON)


class ProtocolRecord(Base):
    """A communication protocol (or immediate action): terms, review dates, status."""

    __tablename__ = "protocols"
    # The report: restrictions in force, by kind and review date; started in a period.
    __table_args__ = (
        Index("ix_protocols_status_kind", "status", "kind", "next_review_at"),
        Index("ix_protocols_authorised", "authorised_at"),
    )

    protocol_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    # in_force | ended | overturned | replaced (by a later restriction)
    status: Mapped[str] = mapped_column(String(20))
    # protocol | immediate_action | direct_contact_ended
    kind: Mapped[str] = mapped_column(String(30), default="protocol")
    terms: Mapped[dict[str, object]] = mapped_column(JSON)
    arrangements: Mapped[list[str]] = mapped_column(JSON)
    authorised_by: Mapped[str] = mapped_column(String(100))
    authorised_at: Mapped[datetime] = mapped_column()
    next_review_at: Mapped[datetime] = mapped_column()
    immediate: Mapped[bool] = mapped_column(default=False)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column()


class CustomerSupport(Base):
    """Vulnerabilities, advocate and reasonable adjustments (need-to-know: staff only)."""

    __tablename__ = "customer_support"

    customer_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    vulnerabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    advocate_name: Mapped[str | None] = mapped_column(String(200))
    advocate_email: Mapped[str | None] = mapped_column(String(254))
    contact_via_advocate: Mapped[bool] = mapped_column(default=False)
    reasonable_adjustments: Mapped[str | None] = mapped_column(Text)
    referral_consent: Mapped[bool] = mapped_column(default=False)
    mediation_offered: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column()


class CustomerEquality(Base):
    """Equality and vulnerability monitoring (HS 7.1): voluntary, recorded with the support
    details, read only for the equality report and by staff with a need to know."""

    __tablename__ = "customer_equality"

    customer_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Each is one of the profile's categories (policy.reporting), "prefer_not_to_say",
    # or None: not recorded.
    ethnicity: Mapped[str | None] = mapped_column(String(60))
    disability: Mapped[str | None] = mapped_column(String(60))
    vulnerability: Mapped[str | None] = mapped_column(String(60))
    age_band: Mapped[str | None] = mapped_column(String(60))
    sex: Mapped[str | None] = mapped_column(String(60))
    recorded_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column()


class ReportPack(Base):
    """A stored Board pack (monthly) or annual policy review pack: HTML and PDF."""

    __tablename__ = "report_packs"
    __table_args__ = (UniqueConstraint("kind", "profile", "period_start"),)

    pack_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # monthly | annual
    profile: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    # When the link went to the role mailboxes (None: not yet).
    emailed_at: Mapped[datetime | None] = mapped_column()
