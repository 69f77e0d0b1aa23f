"""Idempotent record operations, one unit of work each, keyed on business ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policy.protocol import arrangements
from records.models import (
    AuditEvent,
    Case,
    Customer,
    CustomerSupport,
    Incident,
    Letter,
    ProtocolRecord,
    Task,
)
from workflows.messages import (
    CreateTask,
    EscalateTask,
    IncidentReport,
    OpenCase,
    OpenedCase,
    RecordCaseEvent,
    RecordDecision,
    StoreSupport,
    SupersedeTask,
    UpdateCaseRecord,
)


class TaskClaimConflict(Exception):
    """The task is decided, superseded or claimed by someone else."""


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

    async def update_case(self, update: UpdateCaseRecord) -> None:
        """Mirror the workflow's stage, risk flag and dates into the case row."""
        async with self._sessions.begin() as session:
            case = await session.get(Case, update.case_key)
            if case is None:
                raise LookupError(f"no case {update.case_key}")
            case.stage = update.stage
            case.risk_flag = update.risk_flag
            case.next_review_at = update.next_review_at
            case.closed_at = update.closed_at
            case.direct_contact_ended = update.direct_contact_ended
            case.updated_at = update.at

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
    async def record_incidents(
        self, case_key: str, batch_key: str, incidents: Sequence[IncidentReport]
    ) -> list[str]:
        """Write a batch of incidents; returns the ids written by this batch on any attempt."""
        ids = [i.incident_id for i in incidents]
        async with self._sessions.begin() as session:
            known = {
                row.incident_id: row.batch_key
                for row in await session.scalars(
                    select(Incident).where(Incident.incident_id.in_(ids))
                )
            }
            for incident in incidents:
                if incident.incident_id not in known:
                    known[incident.incident_id] = batch_key
                    self._add_incident(session, case_key, incident, batch_key)
        return [i for i in ids if known.get(i) == batch_key]

    @staticmethod
    def _add_incident(
        session: AsyncSession, case_key: str, incident: IncidentReport, batch_key: str | None
    ) -> None:
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
                batch_key=batch_key,
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

    # tasks and decisions -------------------------------------------------------
    async def create_task(self, request: CreateTask) -> None:
        """Write an open task once."""
        task = request.task
        try:
            async with self._sessions.begin() as session:
                if await session.get(Task, task.task_id) is not None:
                    return
                session.add(
                    Task(
                        task_id=task.task_id,
                        case_key=request.case_key,
                        customer_ref=request.customer_ref,
                        kind=task.kind,
                        role=task.role,
                        status="open",
                        created_at=task.created_at,
                        due_at=task.due_at,
                        context=task.context,
                    )
                )
                _audit(
                    session,
                    event_key=f"task:{task.task_id}:created",
                    case_key=request.case_key,
                    actor="system",
                    role="system",
                    action="task_created",
                    reason=None,
                    details={"task_id": task.task_id, "kind": task.kind, "role": task.role},
                    at=task.created_at,
                )
        except IntegrityError:
            return

    async def record_decision(self, request: RecordDecision, decision: dict[str, object]) -> None:
        """Close the task with who, role, when, what and why; keep the protocol current."""
        d = request.decision
        async with self._sessions.begin() as session:
            task = await session.get(Task, request.task_id)
            if task is None:
                raise LookupError(f"no task {request.task_id}")
            if task.status == "decided":
                return
            task.status = "decided"
            task.outcome = d.outcome
            task.decided_by = d.decided_by
            task.decided_role = d.role
            task.decided_at = request.at
            task.reason = d.reason
            task.decision = decision
            _audit(
                session,
                event_key=f"task:{request.task_id}:decided",
                case_key=request.case_key,
                actor=d.decided_by,
                role=d.role,
                action=f"{request.kind}:{d.outcome}",
                reason=d.reason,
                details={"task_id": request.task_id, **decision},
                at=request.at,
            )
            if request.protocol is not None and request.protocol_status is not None:
                await self._save_protocol(session, request)

    async def _save_protocol(self, session: AsyncSession, request: RecordDecision) -> None:
        protocol = request.protocol
        assert protocol is not None and request.protocol_status is not None
        row = await session.get(ProtocolRecord, protocol.protocol_id)
        if row is None:
            case = await session.get(Case, request.case_key)
            assert case is not None
            row = ProtocolRecord(
                protocol_id=protocol.protocol_id,
                case_key=request.case_key,
                customer_ref=case.customer_ref,
                authorised_by=protocol.authorised_by,
                authorised_at=protocol.authorised_at,
                immediate=protocol.immediate,
            )
            session.add(row)
        row.status = request.protocol_status
        row.terms = asdict(protocol.terms)
        row.arrangements = arrangements(protocol.terms)
        row.next_review_at = protocol.next_review_at
        row.reviews = protocol.reviews
        row.updated_at = request.at

    async def supersede_task(self, request: SupersedeTask) -> None:
        """Close an open task the case has moved past, with an audit row saying why."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, request.task_id)
            if task is None or task.status != "open":
                return
            task.status = "superseded"
            task.decided_at = request.at
            task.reason = request.why
            _audit(
                session,
                event_key=f"task:{request.task_id}:superseded",
                case_key=request.case_key,
                actor="system",
                role="system",
                action="task_superseded",
                reason=request.why,
                details={"task_id": request.task_id, "kind": request.kind},
                at=request.at,
            )

    async def escalate_task(self, request: EscalateTask) -> None:
        """Mark an overdue task escalated to the next role up, once."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, request.task_id)
            if task is None:
                raise LookupError(f"no task {request.task_id}")
            if task.escalated_to is not None:
                return
            task.escalated_to = request.to_role
            task.escalated_at = request.at
            _audit(
                session,
                event_key=f"task:{request.task_id}:escalated",
                case_key=request.case_key,
                actor="system",
                role="system",
                action="task_escalated",
                reason="overdue",
                details={"task_id": request.task_id, "kind": request.kind, "to": request.to_role},
                at=request.at,
            )

    async def tasks(self, case_key: str) -> Sequence[Task]:
        """The case's tasks, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Task).where(Task.case_key == case_key).order_by(Task.created_at)
            )
            return rows.all()

    async def protocols(self, customer_ref: str) -> Sequence[ProtocolRecord]:
        """Every protocol the customer has had, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ProtocolRecord)
                .where(ProtocolRecord.customer_ref == customer_ref)
                .order_by(ProtocolRecord.authorised_at.desc())
            )
            return rows.all()

    # support and events ----------------------------------------------------------
    async def store_support(self, request: StoreSupport) -> None:
        """Keep the customer's support details (latest wins) and audit who recorded them."""
        s = request.support
        async with self._sessions.begin() as session:
            row = await session.get(CustomerSupport, request.customer_ref)
            if row is None:
                row = CustomerSupport(customer_ref=request.customer_ref)
                session.add(row)
            row.vulnerabilities = list(s.vulnerabilities)
            row.advocate_name = s.advocate_name
            row.advocate_email = s.advocate_email
            row.contact_via_advocate = s.contact_via_advocate
            row.reasonable_adjustments = s.reasonable_adjustments
            row.referral_consent = s.referral_consent
            row.mediation_offered = s.mediation_offered
            row.updated_at = request.at
            _audit(
                session,
                event_key=f"{request.case_key}:support:{request.at.isoformat()}",
                case_key=request.case_key,
                actor=s.recorded_by,
                role=s.role,
                action="support_recorded",
                reason=None,
                details={
                    "contact_via_advocate": str(s.contact_via_advocate),
                    "referral_consent": str(s.referral_consent),
                    "mediation_offered": str(s.mediation_offered),
                },
                at=request.at,
            )

    async def get_support(self, customer_ref: str) -> CustomerSupport | None:
        """The customer's support details, if any were recorded."""
        async with self._sessions() as session:
            return await session.get(CustomerSupport, customer_ref)

    async def record_event(self, request: RecordCaseEvent) -> None:
        """An audit row for a case event, once per event key."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.scalar(
                    select(AuditEvent.id).where(AuditEvent.event_key == request.event_key)
                )
                if existing is not None:
                    return
                _audit(
                    session,
                    event_key=request.event_key,
                    case_key=request.case_key,
                    actor=request.actor,
                    role=request.role,
                    action=request.action,
                    reason=request.reason,
                    details=dict(request.details),
                    at=request.at,
                )
        except IntegrityError:
            return

    # task inbox ------------------------------------------------------------------
    async def open_tasks_for(
        self,
        roles: Sequence[str],
        *,
        kind: str | None = None,
        customer_ref: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[Sequence[Task], int]:
        """Open tasks the roles may decide (their own or escalated to them), oldest due first."""
        query = select(Task).where(
            Task.status == "open", or_(Task.role.in_(roles), Task.escalated_to.in_(roles))
        )
        if kind:
            query = query.where(Task.kind == kind)
        if customer_ref:
            query = query.where(Task.customer_ref == customer_ref)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(Task.due_at, Task.task_id).limit(limit).offset(offset)
            )
            return rows.all(), int(total or 0)

    async def get_task(self, task_id: str) -> Task | None:
        """One task by id."""
        async with self._sessions() as session:
            return await session.get(Task, task_id)

    async def claim_task(self, task_id: str, user: str, at: datetime) -> Task:
        """Claim an open task for ``user``; raises TaskClaimConflict if someone else has it."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise LookupError(task_id)
            if task.status != "open":
                raise TaskClaimConflict(f"task {task_id} is already {task.status}")
            if task.claimed_by not in (None, user):
                raise TaskClaimConflict(f"task {task_id} is claimed by {task.claimed_by}")
            task.claimed_by = user
            task.claimed_at = at
            return task

    async def open_tasks_of_case(self, case_key: str) -> Sequence[Task]:
        """The case's open tasks, oldest due first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Task)
                .where(Task.case_key == case_key, Task.status == "open")
                .order_by(Task.due_at)
            )
            return rows.all()

    async def protocol_in_force(self, customer_ref: str) -> ProtocolRecord | None:
        """The customer's protocol in force, if any."""
        async with self._sessions() as session:
            row: ProtocolRecord | None = await session.scalar(
                select(ProtocolRecord)
                .where(
                    ProtocolRecord.customer_ref == customer_ref,
                    ProtocolRecord.status == "in_force",
                )
                .order_by(ProtocolRecord.authorised_at.desc())
                .limit(1)
            )
            return row

    # api audit -------------------------------------------------------------------
    async def record_api_call(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        outcome: int,
        details: dict[str, object],
        at: datetime,
    ) -> None:
        """Audit a call that changes something: who, role, when, what and the outcome."""
        async with self._sessions.begin() as session:
            _audit(
                session,
                event_key=f"api:{uuid.uuid4()}",
                case_key=None,
                actor=actor,
                role=role,
                action=action,
                reason=None,
                details={**details, "status": outcome},
                at=at,
            )

    async def audit_events(
        self,
        *,
        case_key: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[AuditEvent], int]:
        """The audit trail, newest first, optionally for one case or one actor."""
        query = select(AuditEvent)
        if case_key:
            query = query.where(AuditEvent.case_key == case_key)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
            )
            return rows.all(), int(total or 0)

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
