"""Idempotent record operations, one unit of work each, keyed on business ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records.models import AuditEvent, Case, Customer, Incident, Letter
from workflows.messages import IncidentReport, OpenCase, OpenedCase


class Records:
    """The records store: every write is safe to repeat with the same business key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # customers -----------------------------------------------------------------
    async def upsert_customer(
        self,
        customer_ref: str,
        at: datetime,
        *,
        name: str | None = None,
        email: str | None = None,
        postal_address: str | None = None,
    ) -> Customer:
        """Create the customer or update the contact details given (None leaves a field)."""
        async with self._sessions.begin() as session:
            customer = await session.get(Customer, customer_ref)
            if customer is None:
                customer = Customer(customer_ref=customer_ref, updated_at=at)
                session.add(customer)
            if name is not None:
                customer.name = name
            if email is not None:
                customer.email = email
            if postal_address is not None:
                customer.postal_address = postal_address
            customer.updated_at = at
        return customer

    async def get_customer(self, customer_ref: str) -> Customer | None:
        """The customer's contact details, if known."""
        async with self._sessions() as session:
            return await session.get(Customer, customer_ref)

    # cases ---------------------------------------------------------------------
    async def open_case(self, request: OpenCase) -> OpenedCase:
        """Find this run chain's case row or open the customer's next case episode."""
        for _attempt in range(3):
            try:
                async with self._sessions.begin() as session:
                    existing = await session.scalar(
                        select(Case).where(Case.run_key == request.run_key)
                    )
                    if existing is not None:
                        return OpenedCase(case_key=existing.case_key, episode=existing.episode)
                    last = await session.scalar(
                        select(func.max(Case.episode)).where(
                            Case.workflow_id == request.workflow_id
                        )
                    )
                    episode = (last or 0) + 1
                    case = Case(
                        case_key=f"{request.workflow_id}/{episode}",
                        workflow_id=request.workflow_id,
                        run_key=request.run_key,
                        episode=episode,
                        customer_ref=request.customer_ref,
                        profile=request.profile_name,
                        stage="open",
                        risk_flag=False,
                        opened_at=request.opened_at,
                        updated_at=request.opened_at,
                    )
                    session.add(case)
                return OpenedCase(case_key=case.case_key, episode=episode)
            except IntegrityError:
                continue  # a concurrent attempt won the race: read its row
        raise RuntimeError(f"could not open a case row for run {request.run_key}")

    async def update_case(self, case_key: str, stage: str, risk_flag: bool, at: datetime) -> None:
        """Mirror the workflow's stage and risk flag into the case row."""
        async with self._sessions.begin() as session:
            case = await session.get(Case, case_key)
            if case is None:
                raise LookupError(f"no case {case_key}")
            case.stage = stage
            case.risk_flag = risk_flag
            case.updated_at = at

    async def latest_case(self, customer_ref: str) -> Case | None:
        """The customer's most recent case episode."""
        async with self._sessions() as session:
            case: Case | None = await session.scalar(
                select(Case)
                .where(Case.customer_ref == customer_ref)
                .order_by(Case.episode.desc())
                .limit(1)
            )
            return case

    # incidents -----------------------------------------------------------------
    async def record_incident(self, case_key: str, incident: IncidentReport) -> bool:
        """Write the incident once; returns False when it was already recorded."""
        try:
            async with self._sessions.begin() as session:
                if await session.get(Incident, incident.incident_id) is not None:
                    return False
                session.add(
                    Incident(
                        incident_id=incident.incident_id,
                        case_key=case_key,
                        customer_ref=incident.customer_ref,
                        category=str(incident.category),
                        channel=str(incident.channel),
                        occurred_at=incident.occurred_at,
                        reported_at=incident.reported_at,
                        reported_by=incident.reported_by,
                        description=incident.description,
                    )
                )
                _audit(
                    session,
                    event_key=f"incident:{incident.incident_id}",
                    case_key=case_key,
                    actor=incident.reported_by,
                    role="officer",
                    action="incident_reported",
                    reason=None,
                    details={"category": str(incident.category), "channel": str(incident.channel)},
                    at=incident.reported_at,
                )
            return True
        except IntegrityError:
            return False

    async def incidents(self, case_key: str) -> Sequence[Incident]:
        """The case episode's incidents, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Incident)
                .where(Incident.case_key == case_key)
                .order_by(Incident.occurred_at, Incident.incident_id)
            )
            return rows.all()

    # letters -------------------------------------------------------------------
    async def get_letter(self, letter_id: str) -> Letter | None:
        """One letter by its business key."""
        async with self._sessions() as session:
            return await session.get(Letter, letter_id)

    async def save_letter(self, letter: Letter) -> Letter:
        """Store a drafted letter unless one with this id exists; returns the stored one."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(Letter, letter.letter_id)
                if existing is not None:
                    return existing
                session.add(letter)
            return letter
        except IntegrityError:
            stored = await self.get_letter(letter.letter_id)
            assert stored is not None
            return stored

    async def mark_letter_delivered(self, letter_id: str, status: str, at: datetime) -> None:
        """Record that the letter went out (sent by email, or stored for the post room)."""
        async with self._sessions.begin() as session:
            letter = await session.get(Letter, letter_id)
            if letter is None:
                raise LookupError(f"no letter {letter_id}")
            if letter.status == status:
                return
            letter.status = status
            letter.sent_at = at
            _audit(
                session,
                event_key=f"letter:{letter_id}:{status}",
                case_key=letter.case_key,
                actor="system",
                role="system",
                action=f"letter_{status}",
                reason=None,
                details={"letter_id": letter_id, "kind": letter.kind, "delivery": letter.delivery},
                at=at,
            )

    async def letters(self, case_key: str) -> Sequence[Letter]:
        """The case episode's letters, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Letter).where(Letter.case_key == case_key).order_by(Letter.created_at)
            )
            return rows.all()

    # audit ---------------------------------------------------------------------
    async def audit_trail(self, case_key: str) -> Sequence[AuditEvent]:
        """Every audit row for a case episode, in order."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AuditEvent).where(AuditEvent.case_key == case_key).order_by(AuditEvent.id)
            )
            return rows.all()


def _audit(session: AsyncSession, *, event_key: str, **values: Any) -> None:
    """Append an audit row inside the caller's unit of work (its key makes it once-only)."""
    session.add(AuditEvent(event_key=event_key, **values))
