"""Idempotent record operations, one unit of work each, keyed on business ids."""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import reduce
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnClause,
    Executable,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from policy.access import BreakGlass, Involvement, OpenTaskSeat
from policy.protocol import arrangements
from policy.reporting import EQUALITY_CHARACTERISTICS, Report, ReportPeriod
from policy.retention import SetAsideEpisode, skeleton_details
from records.models import (
    AuditEvent,
    Case,
    Customer,
    CustomerEquality,
    CustomerSupport,
    Incident,
    Letter,
    ProtocolRecord,
    ReportPack,
    Task,
    TokenRevocation,
)
from workflows.messages import (
    CaseWrite,
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
from workflows.retention_api import RETENTION_ACTOR, PurgedRecords

# An incident or a letter: a row of one case episode (paged by time, then id).
_EpisodeRow = TypeVar("_EpisodeRow", Incident, Letter)


class TaskClaimConflict(Exception):
    """The task is decided, superseded or claimed by someone else."""


class Records:
    """The records store: every write is safe to repeat with the same business key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # token_revoked's answers, kept in this process: (token id, subject, issued at)
        # -> (revoked, monotonic moment the answer expires); and the number of revocations
        # made through this object, so an answer read before one is never kept after it.
        self._revoked_answers: dict[tuple[str, str, int], tuple[bool, float]] = {}
        self._revocations_made = 0

    # customers -----------------------------------------------------------------
    async def upsert_customer(
        self, customer_ref: str, at: datetime, **fields: str | None
    ) -> Customer:
        """Create the customer or update the details given (``CUSTOMER_FIELDS``; None
        leaves a field as it is)."""
        async with self._sessions.begin() as session:
            customer = await self._upsert_customer(session, customer_ref, at, **fields)
        return customer

    async def update_customer(
        self, customer_ref: str, at: datetime, audit: ApiCall, **fields: str | None
    ) -> Customer:
        """Change contact details (None leaves a field) and audit, in the same unit of work,
        what changed: each field's value before and after."""
        async with self._sessions.begin() as session:
            before = await session.get(Customer, customer_ref)
            old = {name: getattr(before, name, None) for name in fields}
            customer = await self._upsert_customer(session, customer_ref, at, **fields)
            changed = {
                name: {"before": old[name], "after": value}
                for name, value in fields.items()
                if value is not None and old[name] != value
            }
            _audit_api_call(session, replace(audit, details={**audit.details, "changed": changed}))
        return customer

    @staticmethod
    async def _upsert_customer(
        session: AsyncSession, customer_ref: str, at: datetime, **fields: str | None
    ) -> Customer:
        unknown = sorted(set(fields) - CUSTOMER_FIELDS)
        if unknown:
            raise ValueError(f"unknown customer field(s) {unknown}")
        customer = await session.get(Customer, customer_ref)
        if customer is None:
            customer = Customer(customer_ref=customer_ref, updated_at=at)
            session.add(customer)
        for name, value in fields.items():
            if value is not None:
                setattr(customer, name, value)
        customer.updated_at = at
        return customer

    async def get_customer(self, customer_ref: str) -> Customer | None:
        """The customer's contact details, if known."""
        async with self._sessions() as session:
            return await session.get(Customer, customer_ref)

    # cases ---------------------------------------------------------------------
    async def open_case(self, request: OpenCase) -> OpenedCase:
        """Find this run chain's case row or open the customer's next case episode; with a
        first batch, record it under the case in the same transaction."""
        for _attempt in range(3):
            try:
                async with self._sessions.begin() as session:
                    opened = await _open_case_in(session, request)
                    if request.first_batch:
                        opened.created_ids = await self._record_incidents_in(
                            session, opened.case_key, request.first_batch
                        )
                return opened
            except IntegrityError:
                continue  # a concurrent attempt won the race: read its row
        raise RuntimeError(f"could not open a case row for run {request.run_key}")

    async def update_case(self, update: UpdateCaseRecord) -> None:
        """Mirror the workflow's stage, risk flag and dates into the case row."""
        async with self._sessions.begin() as session:
            await _update_case_in(session, update)

    async def get_case(self, case_key: str) -> Case | None:
        """One case episode by its key."""
        async with self._sessions() as session:
            return await session.get(Case, case_key)

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
        """Record a batch under the case: attach incidents intake stored, write the others.

        Returns the ids this batch recorded, on whichever attempt (not earlier resends)."""
        async with self._sessions.begin() as session:
            return await self._record_incidents_in(session, case_key, incidents, batch_key)

    async def _record_incidents_in(
        self,
        session: AsyncSession,
        case_key: str,
        incidents: Sequence[IncidentReport],
        batch_key: str | None = None,
    ) -> list[str]:
        """A batch keyed on its first incident (unless ``batch_key`` says otherwise)."""
        batch_key = batch_key or incidents[0].incident_id
        ids = [i.incident_id for i in incidents]
        rows = {
            row.incident_id: row
            for row in await session.scalars(select(Incident).where(Incident.incident_id.in_(ids)))
        }
        recorded: list[str] = []
        for incident in incidents:
            row = rows.get(incident.incident_id)
            if row is None:
                row = self._add_incident(session, case_key, incident, batch_key)
                rows[incident.incident_id] = row
            elif row.case_key is None:  # stored by intake: now part of the case
                row.case_key = case_key
                row.batch_key = batch_key
                _audit_incident(session, case_key, row)
            if row.batch_key == batch_key and incident.incident_id not in recorded:
                recorded.append(incident.incident_id)
        return recorded

    async def receive_incident(
        self, incident: IncidentReport, customer: dict[str, str | None] | None, audit: ApiCall
    ) -> str | None:
        """Intake's one unit of work: the incident, the customer's details and the audit row;
        answers with the customer's tenancy as now on record (the case needs it).

        The incident waits (no case episode yet) until the case workflow records it."""
        async with self._sessions.begin() as session:
            if customer is not None:
                known: Customer | None = await self._upsert_customer(
                    session, incident.customer_ref, incident.reported_at, **customer
                )
            else:
                known = await session.get(Customer, incident.customer_ref)
            row = _incident_row(incident, case_key=None, batch_key=None)
            row.signalled = False
            session.add(row)
            _audit_api_call(session, audit)
            return known.tenancy if known else None

    async def incident_signalled(self, incident_id: str) -> None:
        """Temporal took the incident's signal: the case will record it."""
        async with self._sessions.begin() as session:
            row = await session.get(Incident, incident_id)
            if row is not None:
                row.signalled = True

    async def withdraw_unsignalled(self, older_than: datetime) -> list[str]:
        """Withdraw incidents intake stored but never handed to a case (the API stopped
        between storing and signalling, so no caller was told they were accepted).

        Each leaves an audit row; returns their ids."""
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    select(Incident).where(
                        Incident.signalled.is_(False),
                        Incident.case_key.is_(None),
                        Incident.reported_at < older_than,
                    )
                )
            )
            for row in rows:
                await session.delete(row)
                _audit(
                    session,
                    event_key=f"incident:{row.incident_id}:withdrawn",
                    case_key=None,
                    actor="system",
                    role="system",
                    action="incident_withdrawn",
                    reason="intake stopped before the case took the incident; no caller was "
                    "told it was accepted",
                    details={"incident_id": row.incident_id},
                    at=older_than,
                )
        return [row.incident_id for row in rows]

    async def withdraw_incident(self, incident_id: str) -> None:
        """Remove an incident intake stored but could not hand to its case (never signalled)."""
        async with self._sessions.begin() as session:
            row = await session.get(Incident, incident_id)
            if row is not None and row.case_key is None:
                await session.delete(row)

    @staticmethod
    def _add_incident(
        session: AsyncSession, case_key: str, incident: IncidentReport, batch_key: str | None
    ) -> Incident:
        row = _incident_row(incident, case_key=case_key, batch_key=batch_key)
        session.add(row)
        _audit_incident(session, case_key, row)
        return row

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

    async def begin_letter_attempt(self, letter_id: str, at: datetime) -> tuple[Letter, bool]:
        """Record an attempt before the letter is handed over; True if an earlier attempt's
        outcome is unknown (it was recorded, never marked sent nor known to have failed)."""
        async with self._sessions.begin() as session:
            letter = await session.get(Letter, letter_id, with_for_update=True)
            if letter is None:
                raise LookupError(f"no letter {letter_id}")
            uncertain = letter.status == "sending"
            if letter.status in ("sent", "stored"):
                return letter, False
            letter.status = "sending"
            letter.attempts += 1
            letter.last_attempt_at = at
            if uncertain:
                letter.resent_after_uncertain = True
                _audit(
                    session,
                    event_key=f"letter:{letter_id}:resent:{letter.attempts}",
                    case_key=letter.case_key,
                    actor="system",
                    role="system",
                    action="letter_resent_after_uncertain_attempt",
                    reason="an earlier attempt's outcome is unknown: sent again, same Message-ID",
                    details={"letter_id": letter_id, "kind": letter.kind},
                    at=at,
                )
            return letter, uncertain

    async def letter_not_sent(self, letter_id: str) -> None:
        """The attempt certainly did not hand the letter over: back to the queue."""
        async with self._sessions.begin() as session:
            letter = await session.get(Letter, letter_id)
            if letter is not None and letter.status == "sending":
                letter.status = "queued"

    async def mark_letter_undeliverable(self, letter_id: str, problem: str, at: datetime) -> None:
        """The address cannot be used: staff get a task; the letter waits for them."""
        async with self._sessions.begin() as session:
            letter = await session.get(Letter, letter_id)
            if letter is None:
                raise LookupError(f"no letter {letter_id}")
            letter.status = "undeliverable"
            letter.problem = problem

    async def readdress_letter(
        self, letter_id: str, recipient: str | None, delivery: str
    ) -> Letter:
        """Point a letter not yet delivered at a new recipient (or the post room)."""
        async with self._sessions.begin() as session:
            letter = await session.get(Letter, letter_id)
            if letter is None:
                raise LookupError(f"no letter {letter_id}")
            if letter.status not in ("sent", "stored"):
                letter.recipient = recipient
                letter.delivery = delivery
                letter.status = "queued"
                letter.problem = None
            return letter

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
                details={
                    "letter_id": letter_id,
                    "kind": letter.kind,
                    "delivery": letter.delivery,
                    "attempts": letter.attempts,
                    "resent_after_uncertain": letter.resent_after_uncertain,
                },
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
        try:
            async with self._sessions.begin() as session:
                await _create_task_in(session, request)
        except IntegrityError:
            return

    async def record_decision(self, request: RecordDecision) -> None:
        """Close the task with who, role, when, what and why; keep the protocol current."""
        async with self._sessions.begin() as session:
            await self._record_decision_in(session, request)

    async def _record_decision_in(self, session: AsyncSession, request: RecordDecision) -> None:
        d = request.decision
        task = await session.get(Task, request.task_id)
        if task is None:
            raise LookupError(f"no task {request.task_id}")
        if task.status == "decided":
            return
        decision = decision_details(request)
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
                kind=protocol.kind,
            )
            if request.protocol_status == "in_force":
                # A new restriction replaces the one in force (one at a time).
                await session.execute(
                    sql_update(ProtocolRecord)
                    .where(
                        ProtocolRecord.case_key == request.case_key,
                        ProtocolRecord.status == "in_force",
                    )
                    .values(status="replaced", updated_at=request.at)
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
            await _supersede_task_in(session, request)

    async def escalate_task(self, request: EscalateTask) -> bool:
        """Mark an overdue task escalated (once per level); False if it is no longer open."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, request.task_id)
            if task is None:
                raise LookupError(f"no task {request.task_id}")
            if task.status != "open":
                return False
            if task.escalations >= request.level:
                return True  # a retry: recorded already (its e-mail goes again, same id)
            task.escalated_to = request.to_role
            task.escalated_at = request.at
            task.escalations = request.level
            _audit(
                session,
                event_key=f"task:{request.task_id}:escalated:{request.level}",
                case_key=request.case_key,
                actor="system",
                role="system",
                action="task_escalated",
                reason="overdue",
                details={
                    "task_id": request.task_id,
                    "kind": request.kind,
                    "to": request.to_role,
                    "level": request.level,
                },
                at=request.at,
            )
            return True

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
                    "copy_to_customer": str(s.copy_to_customer),
                },
                at=request.at,
            )

    async def get_support(self, customer_ref: str) -> CustomerSupport | None:
        """The customer's support details, if any were recorded."""
        async with self._sessions() as session:
            return await session.get(CustomerSupport, customer_ref)

    async def support_for(self, customer_refs: Sequence[str]) -> dict[str, CustomerSupport]:
        """The recorded support details of these customers, by reference, in one query;
        customers with none recorded are left out."""
        wanted = sorted(set(customer_refs))
        if not wanted:
            return {}
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CustomerSupport).where(CustomerSupport.customer_ref.in_(wanted))
            )
            return {row.customer_ref: row for row in rows}

    # equality monitoring (HS 7.1) ------------------------------------------------------
    async def record_equality(
        self, customer_ref: str, values: Mapping[str, str | None], audit: ApiCall
    ) -> CustomerEquality | None:
        """Record the customer's equality characteristics (``values``: those given, each
        already checked by ``policy.equality``; None withdraws one; the others are left
        as they are) and audit, in the same unit of work, which characteristics changed:
        their names only, never the values. Nothing left recorded: the row goes. Returns
        what is recorded now (None: nothing)."""
        unknown = sorted(set(values) - set(EQUALITY_CHARACTERISTICS))
        if unknown:
            raise ValueError(f"unknown equality characteristic(s) {unknown}")
        async with self._sessions.begin() as session:
            row = await session.get(CustomerEquality, customer_ref, with_for_update=True)
            before = {name: getattr(row, name, None) for name in EQUALITY_CHARACTERISTICS}
            after = {**before, **values}
            changed = [name for name in EQUALITY_CHARACTERISTICS if before[name] != after[name]]
            if changed and row is None:
                row = CustomerEquality(customer_ref=customer_ref)
                session.add(row)
            if changed and row is not None:
                for name in changed:
                    setattr(row, name, after[name])
                row.recorded_by = audit.actor
                row.updated_at = audit.at
            if row is not None and all(after[name] is None for name in EQUALITY_CHARACTERISTICS):
                await session.delete(row)
                row = None
            recorded = [name for name in EQUALITY_CHARACTERISTICS if after[name] is not None]
            _audit_api_call(
                session,
                replace(
                    audit,
                    details={
                        **audit.details,
                        "equality_changed": changed,
                        "equality_recorded": recorded,
                    },
                ),
            )
        return row

    async def get_equality(self, customer_ref: str) -> CustomerEquality | None:
        """The customer's equality characteristics, if any are recorded."""
        async with self._sessions() as session:
            return await session.get(CustomerEquality, customer_ref)

    async def record_event(self, request: RecordCaseEvent) -> None:
        """An audit row for a case event, once per event key."""
        try:
            async with self._sessions.begin() as session:
                await _record_event_in(session, request)
        except IntegrityError:
            return

    async def record_case_writes(
        self, writes: Sequence[CaseWrite], drafts: Mapping[str, Letter]
    ) -> list[Letter]:
        """A case pass's writes, in order, in one transaction: each as its own method
        writes it (audit rows, tasks, tasks superseded, the case row), letters stored from
        ``drafts`` (by letter id) unless stored already. Returns each letter as stored.

        Every write is idempotent on its business key, so a retry (or a concurrent attempt
        that won a race: the transaction is tried again and finds its rows) writes nothing
        twice."""
        for attempt in range(3):
            try:
                async with self._sessions.begin() as session:
                    stored: list[Letter] = []
                    for write in writes:
                        if write.decision is not None:
                            await self._record_decision_in(session, write.decision)
                        if write.event is not None:
                            await _record_event_in(session, write.event)
                        if write.task is not None:
                            await _create_task_in(session, write.task)
                        if write.supersede is not None:
                            await _supersede_task_in(session, write.supersede)
                        if write.letter is not None:
                            letter_id = write.letter.letter_id
                            letter = await session.get(Letter, letter_id)
                            if letter is None:
                                letter = drafts[letter_id]
                                session.add(letter)
                            stored.append(letter)
                        if write.case_record is not None:
                            await _update_case_in(session, write.case_record)
                return stored
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

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
        tasks = _open_tasks(roles, kind=kind, customer_ref=customer_ref)
        return await self._open_task_page(tasks, after=None, limit=limit, offset=offset)

    async def _open_task_page(
        self,
        tasks: _OpenTasks,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
        offset: int = 0,
    ) -> tuple[Sequence[Task], int]:
        """One page of ``tasks`` in (due_at, task_id) order after the ``after`` cursor; and
        how many there are in all (two statements, whatever the number of tasks).

        Each of the page's arms reads its index in order, and the database merges the arms'
        reads (``_in_due_order``) up to the page's end: nothing is sorted or read beyond."""
        arms = tasks.arms
        if not arms:
            return [], 0
        counts = [arm.with_only_columns(func.count()).scalar_subquery() for arm in tasks.counted]
        paged = arms
        if after is not None:
            moment, key = after
            # ``due_at >= moment`` lets the index start at the cursor (the OR alone would not).
            paged = [
                arm.where(Task.due_at >= moment, or_(Task.due_at > moment, Task.task_id > key))
                for arm in arms
            ]
        async with self._sessions() as session:
            total = await session.scalar(select(reduce(operator.add, counts)))
            dialect = (await session.connection()).dialect.name
            page = _in_due_order(paged, limit=limit, offset=offset, sqlite=dialect == "sqlite")
            rows = await session.scalars(page)
            return rows.all(), int(total or 0)

    async def get_task(self, task_id: str) -> Task | None:
        """One task by id."""
        async with self._sessions() as session:
            return await session.get(Task, task_id)

    async def claim_task(
        self, task_id: str, user: str, at: datetime, *, takeover: bool = False
    ) -> Task:
        """Claim an open task for ``user``; raises TaskClaimConflict if someone else has it,
        unless ``takeover`` (their claim lapsed, or ``user`` acts for a role it escalated
        to): the takeover is audited."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise LookupError(task_id)
            if task.status != "open":
                raise TaskClaimConflict(f"task {task_id} is already {task.status}")
            previous = task.claimed_by
            if previous not in (None, user):
                if not takeover:
                    raise TaskClaimConflict(f"task {task_id} is claimed by {previous}")
                _audit(
                    session,
                    event_key=f"claim:{task_id}:{at.isoformat()}",
                    case_key=task.case_key,
                    actor=user,
                    role=task.escalated_to or task.role,
                    action="task_claim_taken_over",
                    reason=None,
                    details={"task_id": task_id, "from": previous},
                    at=at,
                )
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
    async def revoke_token(self, token_id: str, by: str, at: datetime) -> None:
        """Refuse this token from now on (sign-out)."""
        try:
            async with self._sessions.begin() as session:
                session.add(TokenRevocation(token_id=token_id, revoked_by=by, revoked_at=at))
        finally:
            self._forget_revocation_answers()

    async def revoke_subject(self, subject: str, audit: ApiCall) -> None:
        """Refuse every token issued to ``subject`` until now, audited with the change."""
        try:
            async with self._sessions.begin() as session:
                session.add(
                    TokenRevocation(
                        subject=subject,
                        issued_before=int(audit.at.timestamp()),
                        revoked_by=audit.actor,
                        revoked_at=audit.at,
                    )
                )
                _audit_api_call(
                    session, replace(audit, details={**audit.details, "subject": subject})
                )
        finally:
            self._forget_revocation_answers()

    async def token_revoked(
        self, token_id: str, subject: str, issued_at: int, *, cache_seconds: float = 0
    ) -> bool:
        """Whether the token was revoked, itself or with every token of its subject.

        With ``cache_seconds`` the answer is kept that long in this process (one read per
        token per period); a revocation made through this object drops every kept answer
        at once, so only revocations made by other processes wait out the period."""
        key = (token_id, subject, issued_at)
        if cache_seconds > 0:
            kept = self._revoked_answers.get(key)
            if kept is not None and kept[1] > time.monotonic():
                return kept[0]
        made = self._revocations_made
        async with self._sessions() as session:
            found = await session.scalar(
                select(TokenRevocation.id)
                .where(
                    or_(
                        TokenRevocation.token_id == token_id,
                        (TokenRevocation.subject == subject)
                        & (TokenRevocation.issued_before >= issued_at),
                    )
                )
                .limit(1)
            )
        revoked = found is not None
        # An answer read while a revocation was being made here may predate it: not kept.
        if cache_seconds > 0 and made == self._revocations_made:
            now = time.monotonic()
            if len(self._revoked_answers) >= MAX_REVOCATION_ANSWERS:
                self._revoked_answers = {
                    k: v for k, v in self._revoked_answers.items() if v[1] > now
                }
                if len(self._revoked_answers) >= MAX_REVOCATION_ANSWERS:
                    self._revoked_answers.clear()
            self._revoked_answers[key] = (revoked, now + cache_seconds)
        return revoked

    def _forget_revocation_answers(self) -> None:
        """Drop every kept token_revoked answer (a revocation was made, or attempted)."""
        self._revocations_made += 1
        self._revoked_answers.clear()

    async def record_api_call(self, call: ApiCall) -> None:
        """Audit a call that changes something: who, role, when, what and the outcome."""
        async with self._sessions.begin() as session:
            _audit_api_call(session, call)

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

    # need-to-know ----------------------------------------------------------------
    async def case_involvement(self, case_key: str) -> Involvement:
        """Who is involved in a case episode, where its open tasks sit, and the
        break-glass reasons recorded on it (``policy.access.read_access`` decides)."""
        return (await self.case_involvements([case_key]))[case_key]

    async def case_involvements(self, case_keys: Sequence[str]) -> dict[str, Involvement]:
        """``case_involvement`` of each case episode, in four statements whatever their
        number (a page of a staff search): who is involved in it, where its open tasks
        sit, and the break-glass reasons recorded on it."""
        keys = list(dict.fromkeys(case_keys))
        if not keys:
            return {}
        async with self._sessions() as session:
            customer_of = dict(
                (
                    await session.execute(
                        select(Case.case_key, Case.customer_ref).where(Case.case_key.in_(keys))
                    )
                )
                .tuples()
                .all()
            )
            # An incident intake stored that its case has not recorded yet counts for every
            # episode of its customer (an episode not on record has no customer).
            waiting = Incident.case_key.is_(None) & Incident.customer_ref.in_(
                sorted(set(customer_of.values()))
            )
            incidents = (
                (
                    await session.execute(
                        select(
                            Incident.case_key,
                            Incident.customer_ref,
                            Incident.submitted_by,
                            Incident.reported_by,
                        )
                        .where(or_(Incident.case_key.in_(keys), waiting))
                        .order_by(Incident.incident_id)
                    )
                )
                .tuples()
                .all()
            )
            tasks = (
                (
                    await session.execute(
                        select(
                            Task.case_key,
                            Task.status,
                            Task.role,
                            Task.escalated_to,
                            Task.claimed_by,
                            Task.decided_by,
                        )
                        .where(Task.case_key.in_(keys))
                        .order_by(Task.task_id)
                    )
                )
                .tuples()
                .all()
            )
            events = (
                (
                    await session.execute(
                        select(
                            AuditEvent.case_key,
                            AuditEvent.actor,
                            AuditEvent.action,
                            AuditEvent.details,
                        )
                        .where(
                            AuditEvent.case_key.in_(keys),
                            # Reads involve no one: left in the database (a case-sensitive test,
                            # exactly the prefix NOT_INVOLVING_PREFIXES skips below).
                            func.substr(AuditEvent.action, 1, len(READ_PREFIX)) != READ_PREFIX,
                        )
                        .order_by(AuditEvent.id)
                    )
                )
                .tuples()
                .all()
            )
        keys_of: dict[str, list[str]] = {}
        for key, customer_ref in customer_of.items():
            keys_of.setdefault(customer_ref, []).append(key)
        people: dict[str, list[str | None]] = {key: [] for key in keys}
        seats: dict[str, list[OpenTaskSeat]] = {key: [] for key in keys}
        glass: dict[str, list[BreakGlass]] = {key: [] for key in keys}
        for case_key, customer_ref, submitted_by, reported_by in incidents:
            for key in [case_key] if case_key is not None else keys_of.get(customer_ref, []):
                people[key] += [submitted_by, reported_by]
        for case_key, status, role, escalated, claimed_by, decided_by in tasks:
            people[case_key] += [claimed_by, decided_by]
            if status == "open":
                seats[case_key].append(OpenTaskSeat(role, escalated))
        for case_key, actor, action, details in events:
            assert case_key is not None  # selected by case key
            if action == BREAK_GLASS:
                expires = (details or {}).get("expires_at")
                if isinstance(expires, str):
                    glass[case_key].append(BreakGlass(actor, datetime.fromisoformat(expires)))
            elif not action.startswith(NOT_INVOLVING_PREFIXES) and actor not in NOT_PEOPLE:
                people[case_key].append(actor)
        return {
            key: Involvement.of(
                (p for p in people[key] if p not in NOT_PEOPLE), seats[key], glass[key]
            )
            for key in keys
        }

    async def record_break_glass(
        self, case_key: str, call: ApiCall, reason: str, expires_at: datetime
    ) -> None:
        """The recorded reason for opening a case one is not involved in (the audit row
        is the grant: ``case_involvement`` reads it back)."""
        async with self._sessions.begin() as session:
            _audit(
                session,
                event_key=f"break_glass:{uuid.uuid4()}",
                case_key=case_key,
                actor=call.actor,
                role=call.role,
                action=BREAK_GLASS,
                reason=reason,
                details={
                    **call.details,
                    "status": call.outcome,
                    "expires_at": expires_at.isoformat(),
                },
                at=call.at,
            )

    async def customer_case_keys(self, customer_ref: str) -> list[str]:
        """Every case episode of a customer, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Case.case_key)
                .where(Case.customer_ref == customer_ref)
                .order_by(Case.episode)
            )
            return list(rows)

    async def audit_export(self, case_keys: Sequence[str]) -> Sequence[AuditEvent]:
        """Every audit row of the given case episodes, oldest first (the auditor's export)."""
        if not case_keys:
            return []
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.case_key.in_(list(case_keys)))
                .order_by(AuditEvent.id)
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

    # retention -------------------------------------------------------------------
    async def set_aside_episodes(self, before: datetime, limit: int) -> list[SetAsideEpisode]:
        """Episodes set aside (audit ``case_set_aside``) at or before ``before`` and not
        yet purged, oldest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Case.case_key, Case.workflow_id, AuditEvent.at)
                .join(AuditEvent, AuditEvent.case_key == Case.case_key)
                .where(
                    AuditEvent.action == SET_ASIDE_ACTION,
                    AuditEvent.at <= before,
                    Case.purged_at.is_(None),
                )
                .order_by(AuditEvent.at, Case.case_key)
                .limit(limit)
            )
            return [SetAsideEpisode(key, workflow_id, at) for key, workflow_id, at in rows]

    async def episode_copies(self, case_key: str) -> EpisodeCopies:
        """What identifies the episode's letters and notifications kept outside the records
        (Message-ID keys and post-room files)."""
        async with self._sessions() as session:
            letters = (
                await session.execute(
                    select(Letter.letter_id, Letter.kind).where(Letter.case_key == case_key)
                )
            ).all()
            tasks = (
                await session.execute(
                    select(Task.task_id, Task.escalations).where(Task.case_key == case_key)
                )
            ).all()
        escalations = [
            f"escalation:{task_id}:{level}"
            for task_id, count in tasks
            for level in range(1, (count or 0) + 1)
        ]
        return EpisodeCopies(
            letters=[(letter_id, kind) for letter_id, kind in letters],
            notification_keys=escalations,
        )

    async def purge_episode(
        self, case_key: str, at: datetime, set_aside_at: datetime, retention_seconds: int
    ) -> PurgedRecords:
        """In one unit of work, remove the episode's personal data and keep its
        pseudonymous skeleton (policy.retention): incident descriptions, letter bodies
        and recipients, decision reasons and terms, task context, restriction terms and
        the free text of its audit rows; the customer's contact and support details too
        once no other episode of theirs keeps them (and no incident waits for a case).
        Writes an ``episode_purged`` audit row; a second call changes nothing."""
        async with self._sessions.begin() as session:
            case = await session.get(Case, case_key, with_for_update=True)
            if case is None:
                raise LookupError(f"no case {case_key}")
            if case.purged_at is not None:
                return PurgedRecords(case_key=case_key, already_purged=True)
            incidents = list(
                await session.scalars(select(Incident).where(Incident.case_key == case_key))
            )
            for incident in incidents:
                incident.description = ""
                incident.reported_by = ""
                incident.submitted_by = None
            letters = list(await session.scalars(select(Letter).where(Letter.case_key == case_key)))
            for letter in letters:
                letter.recipient = None
                letter.body_html = ""
                letter.body_text = ""
            tasks = list(await session.scalars(select(Task).where(Task.case_key == case_key)))
            for task in tasks:
                task.context = {}
                task.reason = None
                task.decision = None
            for protocol in await session.scalars(
                select(ProtocolRecord).where(ProtocolRecord.case_key == case_key)
            ):
                protocol.terms = {}
                protocol.arrangements = []
            audit_rows = list(
                await session.scalars(select(AuditEvent).where(AuditEvent.case_key == case_key))
            )
            for row in audit_rows:
                row.reason = None
                row.details = skeleton_details(row.details or {})
            customer_removed = await self._purge_customer_if_unused(session, case)
            case.purged_at = at
            summary = PurgedRecords(
                case_key=case_key,
                already_purged=False,
                incidents=len(incidents),
                letters=len(letters),
                tasks=len(tasks),
                audit_rows=len(audit_rows),
                customer_details_removed=customer_removed,
            )
            _audit(
                session,
                event_key=f"{case_key}:purged",
                case_key=case_key,
                actor=RETENTION_ACTOR,
                role="system",
                action="episode_purged",
                reason="the retention period after the case was set aside has run out",
                details={
                    "set_aside_at": set_aside_at.isoformat(),
                    "retention_seconds": retention_seconds,
                    "incidents": summary.incidents,
                    "letters": summary.letters,
                    "tasks": summary.tasks,
                    "audit_rows": summary.audit_rows,
                    "customer_details_removed": customer_removed,
                },
                at=at,
            )
        return summary

    async def record_retention_event(
        self, event_key: str, action: str, at: datetime, details: dict[str, object]
    ) -> None:
        """An audit row of the retention schedule (a run, or the schedule set), once per
        event key."""
        await self._record_system_event(RETENTION_ACTOR, event_key, action, at, details)

    async def _record_system_event(
        self, actor: str, event_key: str, action: str, at: datetime, details: dict[str, object]
    ) -> None:
        """An audit row of a scheduled job (no case, role "system"), once per event key."""
        try:
            async with self._sessions.begin() as session:
                if await session.scalar(
                    select(AuditEvent.id).where(AuditEvent.event_key == event_key)
                ):
                    return
                _audit(
                    session,
                    event_key=event_key,
                    case_key=None,
                    actor=actor,
                    role="system",
                    action=action,
                    reason=None,
                    details=details,
                    at=at,
                )
        except IntegrityError:
            return

    @staticmethod
    async def _purge_customer_if_unused(session: AsyncSession, case: Case) -> bool:
        """Delete the customer's contact, support and equality details, and the before/after
        values of their audited detail changes, unless another episode not yet purged (or
        an incident waiting for its case) still needs them."""
        ref = case.customer_ref
        other = await session.scalar(
            select(Case.case_key)
            .where(
                Case.customer_ref == ref,
                Case.case_key != case.case_key,
                Case.purged_at.is_(None),
            )
            .limit(1)
        )
        waiting = await session.scalar(
            select(Incident.incident_id)
            .where(Incident.customer_ref == ref, Incident.case_key.is_(None))
            .limit(1)
        )
        if other is not None or waiting is not None:
            return False
        for model in (Customer, CustomerSupport, CustomerEquality):
            row = await session.get(model, ref)
            if row is not None:
                await session.delete(row)
        changes = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_key.is_(None),
                AuditEvent.action == CUSTOMER_CHANGE_ACTION,
                AuditEvent.details["path"].as_string() == f"/v1/customers/{ref}",
            )
        )
        for row in changes:
            row.details = skeleton_details(row.details or {})
        return True

    # integrator reads (the case search, paged incidents, letters and tasks, the feed) ---
    async def search_cases(
        self,
        filters: CaseFilter,
        *,
        sort: str = "opened_at",
        after: tuple[datetime | None, str] | None = None,
        limit: int = 50,
    ) -> Sequence[Case]:
        """Case episodes matching ``filters``, in a stable order: ``opened_at`` (then the
        case key) or ``next_review_at`` (soonest first, episodes without one last, then the
        case key). ``after`` is the sort key of the last row of the previous page."""
        query = select(Case)
        if filters.latest_only:
            later = aliased(Case)
            query = query.where(
                ~select(later.case_key)
                .where(later.customer_ref == Case.customer_ref, later.episode > Case.episode)
                .exists()
            )
        if filters.customer_ref is not None:
            query = query.where(Case.customer_ref == filters.customer_ref)
        if filters.stage is not None:
            query = query.where(Case.stage == filters.stage)
        if filters.risk_flag is not None:
            query = query.where(Case.risk_flag.is_(filters.risk_flag))
        if filters.review_due_before is not None:
            query = query.where(Case.next_review_at < filters.review_due_before)
        if filters.profile is not None:
            query = query.where(Case.profile == filters.profile)
        if filters.open is not None:
            query = query.where(
                Case.closed_at.is_(None) if filters.open else Case.closed_at.is_not(None)
            )
        if filters.open_task_kind is not None:
            query = query.where(
                select(Task.task_id)
                .where(
                    Task.case_key == Case.case_key,
                    Task.status == "open",
                    Task.kind == filters.open_task_kind,
                )
                .exists()
            )
        if sort == "next_review_at":
            if after is not None:
                moment, key = after
                if moment is None:
                    query = query.where(Case.next_review_at.is_(None), Case.case_key > key)
                else:
                    query = query.where(
                        or_(
                            Case.next_review_at > moment,
                            and_(Case.next_review_at == moment, Case.case_key > key),
                            Case.next_review_at.is_(None),
                        )
                    )
            query = query.order_by(Case.next_review_at.asc().nulls_last(), Case.case_key)
        elif sort == "opened_at":
            if after is not None:
                moment, key = after
                query = query.where(
                    or_(
                        Case.opened_at > moment,
                        and_(Case.opened_at == moment, Case.case_key > key),
                    )
                )
            query = query.order_by(Case.opened_at, Case.case_key)
        else:
            raise ValueError(f"unknown sort {sort!r}")
        async with self._sessions() as session:
            rows = await session.scalars(query.limit(limit))
            return rows.all()

    async def open_task_counts(self, case_keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each case episode: its open tasks counted by kind, in one query."""
        wanted = sorted(set(case_keys))
        if not wanted:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(Task.case_key, Task.kind, func.count())
                .where(Task.case_key.in_(wanted), Task.status == "open")
                .group_by(Task.case_key, Task.kind)
            )
            counts: dict[str, dict[str, int]] = {}
            for case_key, kind, count in rows:
                counts.setdefault(case_key, {})[kind] = int(count)
            return counts

    async def incidents_page(
        self, case_key: str, *, after: tuple[datetime, str] | None = None, limit: int = 50
    ) -> Sequence[Incident]:
        """A page of the episode's incidents, oldest first (``after``: the last row's
        occurred_at and id)."""
        return await self._episode_page(
            Incident, Incident.occurred_at, Incident.incident_id, case_key, after, limit
        )

    async def latest_incidents(self, case_key: str, limit: int) -> Sequence[Incident]:
        """The episode's latest ``limit`` incidents, oldest first."""
        return await self._episode_latest(
            Incident, Incident.occurred_at, Incident.incident_id, case_key, limit
        )

    async def letters_page(
        self, case_key: str, *, after: tuple[datetime, str] | None = None, limit: int = 50
    ) -> Sequence[Letter]:
        """A page of the episode's letters, oldest first (``after``: the last row's
        created_at and id)."""
        return await self._episode_page(
            Letter, Letter.created_at, Letter.letter_id, case_key, after, limit
        )

    async def latest_letters(self, case_key: str, limit: int) -> Sequence[Letter]:
        """The episode's latest ``limit`` letters, oldest first."""
        return await self._episode_latest(
            Letter, Letter.created_at, Letter.letter_id, case_key, limit
        )

    async def _episode_page(
        self,
        row: type[_EpisodeRow],
        moment: Any,
        key: Any,
        case_key: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[_EpisodeRow]:
        """Rows of an episode in (moment, key) order, after a keyset cursor."""
        query = select(row).where(row.case_key == case_key)
        if after is not None:
            at, last = after
            query = query.where(or_(moment > at, and_(moment == at, key > last)))
        async with self._sessions() as session:
            rows = await session.scalars(query.order_by(moment, key).limit(limit))
            return rows.all()

    async def _episode_latest(
        self, row: type[_EpisodeRow], moment: Any, key: Any, case_key: str, limit: int
    ) -> Sequence[_EpisodeRow]:
        """An episode's latest ``limit`` rows, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(row)
                .where(row.case_key == case_key)
                .order_by(moment.desc(), key.desc())
                .limit(limit)
            )
            return list(reversed(rows.all()))

    async def case_counts(self, case_key: str) -> tuple[int, int]:
        """How many incidents and letters the episode has."""
        async with self._sessions() as session:
            incidents = await session.scalar(
                select(func.count()).select_from(Incident).where(Incident.case_key == case_key)
            )
            letters = await session.scalar(
                select(func.count()).select_from(Letter).where(Letter.case_key == case_key)
            )
            return int(incidents or 0), int(letters or 0)

    async def open_tasks_after(
        self,
        roles: Sequence[str],
        *,
        after: tuple[datetime, str] | None,
        kind: str | None = None,
        customer_ref: str | None = None,
        limit: int = 20,
    ) -> tuple[Sequence[Task], int]:
        """Open tasks the roles may decide, oldest due first, after a (due_at, task_id)
        cursor; and how many there are in all."""
        tasks = _open_tasks(roles, kind=kind, customer_ref=customer_ref)
        return await self._open_task_page(tasks, after=after, limit=limit)

    async def change_events(self, after_id: int, limit: int) -> Sequence[ChangeEvent]:
        """Changes to case episodes recorded after audit row ``after_id``, oldest first:
        the audit rows of a case that record a change (not reads, API-call rows or
        break-glass reasons), with only their action and the episode's pseudonymous keys."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    AuditEvent.id,
                    AuditEvent.action,
                    AuditEvent.at,
                    Case.case_key,
                    Case.customer_ref,
                    Case.workflow_id,
                    Case.episode,
                )
                .join(Case, Case.case_key == AuditEvent.case_key)
                .where(
                    AuditEvent.id > after_id,
                    AuditEvent.action != BREAK_GLASS,
                    # An API call's own row ("GET /v1/...", "POST /v1/..."): who did what,
                    # not a change of its own (the change it made has its row).
                    ~AuditEvent.action.like("% /%"),
                )
                .order_by(AuditEvent.id)
                .limit(limit)
            )
            return [ChangeEvent(*row) for row in rows]

    async def release_task(
        self, task_id: str, claimant: str, by: str, role: str, at: datetime
    ) -> Task:
        """Release ``claimant``'s claim on an open task (``by``, acting in ``role``, was
        found allowed to); audited in the same unit of work. Raises TaskClaimConflict if
        the task is no longer open or the claim changed meanwhile."""
        async with self._sessions.begin() as session:
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise LookupError(task_id)
            if task.status != "open":
                raise TaskClaimConflict(f"task {task_id} is already {task.status}")
            if task.claimed_by != claimant:
                held = task.claimed_by or "nobody"
                raise TaskClaimConflict(f"task {task_id} is now claimed by {held}")
            _audit(
                session,
                event_key=f"release:{task_id}:{at.isoformat()}",
                case_key=task.case_key,
                actor=by,
                role=role,
                action="task_claim_released",
                reason=None,
                details={"task_id": task_id, "from": claimant},
                at=at,
            )
            task.claimed_by = None
            task.claimed_at = None
            return task

    async def inbox_tasks(
        self,
        roles: Sequence[str],
        *,
        kind: str | None = None,
        due_before: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[Sequence[Task], int]:
        """The inbox page's list: open tasks the roles may decide, of one kind and due
        before a moment when asked, oldest due first; and how many match in all."""
        tasks = _open_tasks(roles, kind=kind, due_before=due_before)
        return await self._open_task_page(tasks, after=None, limit=limit, offset=offset)

    # board packs (workflows.board_pack) -------------------------------------------------
    async def report(self, *, profile: str, period: ReportPeriod, now: datetime) -> Report:
        """The management report of one profile and period, as at ``now``."""
        from records.reports import build_report

        return await build_report(self._sessions, profile=profile, period=period, now=now)

    async def find_report_pack(
        self, kind: str, profile: str, period_start: datetime
    ) -> PackListed | None:
        """The pack stored for a kind, profile and period, if any (without its content)."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(*_PACK_COLUMNS).where(
                        ReportPack.kind == kind,
                        ReportPack.profile == profile,
                        ReportPack.period_start == period_start,
                    )
                )
            ).first()
            return PackListed(*row) if row is not None else None

    async def store_report_pack(
        self,
        *,
        pack_id: str,
        kind: str,
        profile: str,
        period_start: datetime,
        period_end: datetime,
        created_at: datetime,
        html: str,
        pdf: bytes,
    ) -> tuple[PackListed, bool]:
        """Store a pack, unless one of its kind, profile and period is stored already:
        returns the stored pack and whether it is new (never a second row)."""
        found = await self.find_report_pack(kind, profile, period_start)
        if found is not None:
            return found, False
        try:
            async with self._sessions.begin() as session:
                session.add(
                    ReportPack(
                        pack_id=pack_id,
                        kind=kind,
                        profile=profile,
                        period_start=period_start,
                        period_end=period_end,
                        created_at=created_at,
                        html=html,
                        pdf=pdf,
                        emailed_at=None,
                    )
                )
        except IntegrityError:
            found = await self.find_report_pack(kind, profile, period_start)
            if found is None:
                raise
            return found, False  # stored meanwhile by another attempt
        listed = PackListed(pack_id, kind, profile, period_start, period_end, created_at, None)
        return listed, True

    async def get_report_pack(self, pack_id: str) -> ReportPack | None:
        """A stored pack with its HTML and PDF."""
        async with self._sessions() as session:
            return await session.get(ReportPack, pack_id)

    async def report_packs(self, limit: int = 100) -> list[PackListed]:
        """The stored packs, newest period first (without their content)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(*_PACK_COLUMNS)
                .order_by(
                    ReportPack.period_start.desc(), ReportPack.kind, ReportPack.created_at.desc()
                )
                .limit(limit)
            )
            return [PackListed(*row) for row in rows]

    async def mark_pack_emailed(self, pack_id: str, at: datetime) -> None:
        """Note when the pack's link went to the role mailboxes (the first time only)."""
        async with self._sessions.begin() as session:
            await session.execute(
                sql_update(ReportPack)
                .where(ReportPack.pack_id == pack_id, ReportPack.emailed_at.is_(None))
                .values(emailed_at=at)
            )

    async def record_pack_event(
        self, event_key: str, action: str, at: datetime, details: dict[str, object]
    ) -> None:
        """An audit row of the pack schedules, by the system, once per event key."""
        await self._record_system_event("system", event_key, action, at, details)


# The task list's order, on the tasks table and on a union of its rows (by column name).
DUE_ORDER = (Task.due_at, Task.task_id)
MERGED_DUE_ORDER: tuple[ColumnClause[Any], ...] = (
    literal_column("due_at"),
    literal_column("task_id"),
)


def _in_due_order(
    arms: Sequence[Select[tuple[Task]]], *, limit: int, offset: int, sqlite: bool
) -> Executable:
    """A page of the union of ``arms`` (disjoint) in (due_at, task_id) order, that merges
    the arms' index reads in order instead of sorting their union: SQLite merges the arms
    of a compound select; PostgreSQL merges arms that are each ordered and limited to the
    page's end (a Merge Append of index scans: it would sort a union of unordered arms)."""
    if len(arms) == 1:
        return arms[0].order_by(*DUE_ORDER).limit(limit).offset(offset)
    if not sqlite:
        arms = [arm.order_by(*DUE_ORDER).limit(offset + limit) for arm in arms]
    merged = union_all(*arms).order_by(*MERGED_DUE_ORDER).limit(limit).offset(offset)
    return select(Task).from_statement(merged)


@dataclass(frozen=True)
class _OpenTasks:
    """Open tasks as disjoint selects: ``arms`` to page (each matches an index of the task
    list exactly: equality columns, then due_at, task_id), ``counted`` to count (fewer
    arms: a count needs no order)."""

    arms: list[Select[tuple[Task]]]
    counted: list[Select[tuple[Task]]]


def _open_tasks(
    roles: Sequence[str],
    *,
    kind: str | None = None,
    customer_ref: str | None = None,
    due_before: datetime | None = None,
) -> _OpenTasks:
    """The open tasks ``roles`` may decide: the task's role, or the role it escalated to,
    is one of them; of ``kind``, of ``customer_ref`` and due before ``due_before`` when
    given. Paged as one arm per role for the tasks of that role and one per role for the
    tasks escalated to it from a role not held; one customer's open tasks are one arm."""
    held = sorted(set(roles))
    if not held:
        return _OpenTasks([], [])
    open_ = [Task.status == "open"]
    if kind:
        open_.append(Task.kind == kind)
    if due_before is not None:
        open_.append(Task.due_at < due_before)
    if customer_ref:
        mine = or_(Task.role.in_(held), Task.escalated_to.in_(held))
        one = [select(Task).where(Task.customer_ref == customer_ref, mine, *open_)]
        return _OpenTasks(one, one)
    not_own = Task.role.not_in(held)
    return _OpenTasks(
        arms=[select(Task).where(Task.role == r, *open_) for r in held]
        + [select(Task).where(Task.escalated_to == r, not_own, *open_) for r in held],
        counted=[
            select(Task).where(Task.role.in_(held), *open_),
            select(Task).where(Task.escalated_to.in_(held), not_own, *open_),
        ],
    )


@dataclass(frozen=True)
class ApiCall:
    """An API call to audit: who, in what role, did what, with what outcome, when."""

    actor: str
    role: str
    action: str
    outcome: int
    details: dict[str, object]
    at: datetime
    # The case episode the call read or changed, when the route knows it.
    case_key: str | None = None


# The most token_revoked answers a Records object keeps (each is a few hundred bytes).
MAX_REVOCATION_ANSWERS = 10_000

# The audit action of a recorded break-glass reason.
BREAK_GLASS = "break_glass"
# Audit rows that do not make their actor involved in a case: reads (and exports) of it.
READ_PREFIX = "GET "
NOT_INVOLVING_PREFIXES = (READ_PREFIX, BREAK_GLASS)


def _audit_api_call(session: AsyncSession, call: ApiCall) -> None:
    _audit(
        session,
        event_key=f"api:{uuid.uuid4()}",
        case_key=call.case_key,
        actor=call.actor,
        role=call.role,
        action=call.action,
        reason=None,
        details={**call.details, "status": call.outcome},
        at=call.at,
    )


def _incident_row(
    incident: IncidentReport, *, case_key: str | None, batch_key: str | None
) -> Incident:
    return Incident(
        incident_id=incident.incident_id,
        case_key=case_key,
        customer_ref=incident.customer_ref,
        category=str(incident.category),
        channel=str(incident.channel),
        occurred_at=incident.occurred_at,
        reported_at=incident.reported_at,
        reported_by=incident.reported_by,
        submitted_by=incident.submitted_by,
        submitted_role=incident.submitted_role,
        description=incident.description,
        batch_key=batch_key,
    )


# The audit action of a case episode set aside after the 12-month rule (workflows.case).
SET_ASIDE_ACTION = "case_set_aside"
# The audit action of a change to a customer's details (before and after values).
CUSTOMER_CHANGE_ACTION = "PUT /v1/customers/{customer_ref}"


@dataclass(frozen=True)
class EpisodeCopies:
    """The keys of an episode's letters (id, kind) and staff notifications, by which the
    copies outside the records are found."""

    letters: list[tuple[str, str]]
    notification_keys: list[str]


# The details of a customer that intake and PUT /v1/customers may set.
CUSTOMER_FIELDS = frozenset({"name", "email", "postal_address", "tenancy"})

# The actor of an incident that reached its case without passing the API (no token).
UNAUTHENTICATED = "temporal-signal"
# Audit actors that are not people (never involved in a case by their rows).
NOT_PEOPLE = frozenset({"system", "anonymous", UNAUTHENTICATED})


def _audit_incident(session: AsyncSession, case_key: str, row: Incident) -> None:
    _audit(
        session,
        event_key=f"incident:{row.incident_id}",
        case_key=case_key,
        # The identity from the submitter's token; a signal sent to Temporal directly has
        # none, and says so. Who the body says reported it is data.
        actor=row.submitted_by or UNAUTHENTICATED,
        role=row.submitted_role or UNAUTHENTICATED,
        action="incident_reported",
        reason=None,
        details={"category": row.category, "channel": row.channel, "reported_by": row.reported_by},
        at=row.reported_at,
    )


def _audit(session: AsyncSession, *, event_key: str, **values: Any) -> None:
    """Append an audit row inside the caller's unit of work (its key makes it once-only)."""
    session.add(AuditEvent(event_key=event_key, **values))


@dataclass(frozen=True)
class CaseFilter:
    """What the integrator search matches on (None: any)."""

    customer_ref: str | None = None
    stage: str | None = None
    risk_flag: bool | None = None
    # Episodes whose next review is due before this moment (none without a review date).
    review_due_before: datetime | None = None
    # Episodes with an open task of this kind.
    open_task_kind: str | None = None
    profile: str | None = None
    # True: open episodes only; False: closed ones only.
    open: bool | None = None
    # Only each customer's latest episode (the case GET /v1/cases/{ref} shows).
    latest_only: bool = True


@dataclass(frozen=True)
class ChangeEvent:
    """One change to a case episode, as the change feed gives it: no reasons or details."""

    id: int
    action: str
    at: datetime
    case_key: str
    customer_ref: str
    workflow_id: str
    episode: int


@dataclass(frozen=True)
class PackListed:
    """A stored Board pack or annual review pack, without its HTML and PDF."""

    pack_id: str
    kind: str
    profile: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    emailed_at: datetime | None


# The columns a pack is listed by (its content is read only when it is shown).
_PACK_COLUMNS = (
    ReportPack.pack_id,
    ReportPack.kind,
    ReportPack.profile,
    ReportPack.period_start,
    ReportPack.period_end,
    ReportPack.created_at,
    ReportPack.emailed_at,
)


async def _update_case_in(session: AsyncSession, update: UpdateCaseRecord) -> None:
    case = await session.get(Case, update.case_key)
    if case is None:
        raise LookupError(f"no case {update.case_key}")
    case.stage = update.stage
    case.risk_flag = update.risk_flag
    case.next_review_at = update.next_review_at
    case.closed_at = update.closed_at
    case.direct_contact_ended = update.direct_contact_ended
    case.interim_measures = update.interim_measures
    case.updated_at = update.at


def decision_details(request: RecordDecision) -> dict[str, object]:
    """What a decided task keeps of its decision (and its audit row shows): every field
    given, but the task id."""
    return {k: v for k, v in asdict(request.decision).items() if v is not None and k != "task_id"}


async def _create_task_in(session: AsyncSession, request: CreateTask) -> None:
    """Write an open task and its audit row, unless the task is on record."""
    task = request.task
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


async def _supersede_task_in(session: AsyncSession, request: SupersedeTask) -> None:
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


async def _open_case_in(session: AsyncSession, request: OpenCase) -> OpenedCase:
    """This run chain's case row, or the customer's next case episode, added."""
    existing = await session.scalar(select(Case).where(Case.run_key == request.run_key))
    if existing is not None:
        return OpenedCase(case_key=existing.case_key, episode=existing.episode)
    last = await session.scalar(
        select(func.max(Case.episode)).where(Case.workflow_id == request.workflow_id)
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
    await session.flush()  # the incidents below refer to it
    return OpenedCase(case_key=case.case_key, episode=episode)


async def _record_event_in(session: AsyncSession, request: RecordCaseEvent) -> None:
    """An audit row for a case event, unless one with its event key is on record."""
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
