"""The records schema. Alembic migrations create it; never ``create_all``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
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


class Customer(Base):
    """A customer, known to the case by a pseudonymous reference."""

    __tablename__ = "customers"

    customer_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    postal_address: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()


class Case(Base):
    """One episode of a customer's case (a fresh case after the 12-month rule is a new row)."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("workflow_id", "episode"),)

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


class Incident(Base):
    """One reported incident (HS 6.3.5: factual details recorded)."""

    __tablename__ = "incidents"

    incident_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column()
    reported_by: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    batch_key: Mapped[str | None] = mapped_column(String(64))


class Letter(Base):
    """A letter to the customer, with its rendered body (exactly one per case and step)."""

    __tablename__ = "letters"

    letter_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    delivery: Mapped[str] = mapped_column(String(10))  # email | post
    status: Mapped[str] = mapped_column(String(10))  # drafted | sent | stored
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(Base):
    """Append-only audit trail: who, in what role, did what, when and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(240), unique=True)
    case_key: Mapped[str | None] = mapped_column(String(120), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column()


class Task(Base):
    """A human decision: who must take it, by when, and what was decided, by whom and why."""

    __tablename__ = "tasks"

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

    protocol_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_key: Mapped[str] = mapped_column(ForeignKey("cases.case_key"), index=True)
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))  # in_force | ended | overturned
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
