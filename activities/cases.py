"""Case activities: records and letters. Each is safe to run more than once.

Every activity sorts its errors: a database or mail server that is down (or a lock
timeout) raises as it is, so Temporal retries with backoff; a write the records refuse,
a letter that cannot be built or an address that cannot be used raises a non-retryable
``ApplicationError`` (workflows.errors.ErrorType) that the workflow turns into a task.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
from temporalio import activity

from activities.errors import records_errors
from letters.deliver import (
    MailConfig,
    SendOutcome,
    build_notification,
    deliver_email,
    post_room_path,
    send_message,
    store_for_post_room,
)
from letters.render import (
    DEFAULT_CONTACTS,
    DEFAULT_RETENTION_PERIOD,
    LandlordContacts,
    RenderedLetter,
    letter_context,
    render_letter,
)
from records.models import Customer, CustomerSupport, Letter
from records.repository import Records
from workflows.activity_api import CaseActivityApi
from workflows.errors import ErrorType, case_error
from workflows.ids import customer_ref_of
from workflows.messages import (
    CreateTask,
    DeliveredLetter,
    DeliverLetter,
    DraftedLetter,
    DraftLetter,
    EscalateTask,
    OpenCase,
    OpenedCase,
    ReaddressedLetter,
    ReaddressLetter,
    RecordCaseEvent,
    RecordCaseWrites,
    RecordDecision,
    RecordedCaseWrites,
    RecordedIncidents,
    RecordIncidents,
    StoreSupport,
    SupersedeTask,
    UpdateCaseRecord,
)


class CaseActivities(CaseActivityApi):
    """Activities bound to the records store and mail configuration."""

    def __init__(
        self,
        records: Records,
        mail: MailConfig,
        landlord_name: str,
        contacts: LandlordContacts = DEFAULT_CONTACTS,
        retention_period: str = DEFAULT_RETENTION_PERIOD,
    ) -> None:
        self._retention_period = retention_period
        self._records = records
        self._mail = mail
        self._landlord_name = landlord_name
        self._contacts = contacts

    @activity.defn(name="open_case")
    async def open_case(self, request: OpenCase) -> OpenedCase:
        """Open the records row for a case episode (or find it on a retry)."""
        with records_errors():
            return await self._records.open_case(request)

    @activity.defn(name="record_incidents")
    async def record_incidents(self, request: RecordIncidents) -> RecordedIncidents:
        """Write (or attach) a batch of incidents and their audit rows, each once."""
        with records_errors():
            created = await self._records.record_incidents(
                request.case_key, request.batch_key, request.incidents
            )
        return RecordedIncidents(created_ids=created)

    @activity.defn(name="update_case_record")
    async def update_case_record(self, request: UpdateCaseRecord) -> None:
        """Mirror the case's stage, risk flag and dates into the records."""
        with records_errors():
            await self._records.update_case(request)

    @activity.defn(name="create_task")
    async def create_task(self, request: CreateTask) -> None:
        """Write an open task for a person to decide."""
        with records_errors():
            await self._records.create_task(request)

    @activity.defn(name="record_decision")
    async def record_decision(self, request: RecordDecision) -> None:
        """Record a decision with who, role, when, what and why."""
        with records_errors():
            await self._records.record_decision(request)

    @activity.defn(name="escalate_task")
    async def escalate_task(self, request: EscalateTask) -> None:
        """Escalate an overdue task to the next role up and tell its shared mailbox."""
        with records_errors():
            still_open = await self._records.escalate_task(request)
        activity.logger.warning(
            "task %s (%s) overdue: escalated to %s (level %d)",
            request.task_id,
            request.kind,
            request.to_role,
            request.level,
        )
        mailbox = self._mail.role_mailboxes.get(request.to_role)
        if mailbox and still_open:
            reference = customer_ref_of(request.case_key)
            again = "" if request.level == 1 else f" (reminder {request.level})"
            text = (
                f"A {request.kind.replace('_', ' ')} task on case {reference} is overdue and has "
                f"been escalated to you ({request.to_role.replace('_', ' ')}){again}.\n\n"
                f"Open it: {self._mail.inbox_url}/tasks/{request.task_id}\n"
            )
            notification = build_notification(
                f"escalation:{request.task_id}:{request.level}",
                self._mail.sender,
                mailbox,
                f"Overdue task escalated: {request.kind.replace('_', ' ')}{again}",
                text,
            )
            try:
                await send_message(self._mail, notification)
            except (aiosmtplib.SMTPException, OSError) as error:
                # The escalation is on record and in the role's task list; the e-mail is a
                # courtesy that must not hold the case while the mail server is down (the
                # next level or reminder e-mails again).
                activity.logger.warning(
                    "escalation e-mail for task %s not sent (%s)",
                    request.task_id,
                    type(error).__name__,
                )

    @activity.defn(name="supersede_task")
    async def supersede_task(self, request: SupersedeTask) -> None:
        """Close an open task the case has moved past."""
        with records_errors():
            await self._records.supersede_task(request)

    @activity.defn(name="record_case_event")
    async def record_case_event(self, request: RecordCaseEvent) -> None:
        """Append an audit row for a case event."""
        with records_errors():
            await self._records.record_event(request)

    @activity.defn(name="record_case_writes")
    async def record_case_writes(self, request: RecordCaseWrites) -> RecordedCaseWrites:
        """Audit rows, tasks, letters drafted and the case record of one pass, in one
        transaction; answers with the letters as stored (to start their delivery).

        Letters not stored yet are rendered first (a template fault fails the whole batch
        as LetterNotRendered, nothing written); every write is skipped if already on
        record, so a retry writes nothing twice."""
        drafts = [w.letter for w in request.writes if w.letter is not None]
        now = datetime.now(UTC)
        rendered: dict[str, Letter] = {}
        with records_errors():
            for draft in drafts:
                if draft.letter_id in rendered:
                    continue
                if await self._records.get_letter(draft.letter_id) is None:
                    customer = await self._records.get_customer(draft.customer_ref)
                    support = await self._records.get_support(draft.customer_ref)
                    rendered[draft.letter_id] = self._render(draft, customer, support, now)
            stored = await self._records.record_case_writes(request.writes, rendered)
        return RecordedCaseWrites(
            letters=[DraftedLetter(x.letter_id, x.delivery, x.status) for x in stored]
        )

    @activity.defn(name="record_support")
    async def record_support(self, request: StoreSupport) -> None:
        """Keep a customer's support needs, advocate and adjustments."""
        with records_errors():
            await self._records.store_support(request)

    @activity.defn(name="draft_letter")
    async def draft_letter(self, request: DraftLetter) -> DraftedLetter:
        """Render and store a letter once per letter id; sending is the letter workflow's."""
        with records_errors():
            stored = await self._records.get_letter(request.letter_id)
            if stored is None:
                customer = await self._records.get_customer(request.customer_ref)
                support = await self._records.get_support(request.customer_ref)
                stored = await self._records.save_letter(
                    self._render(request, customer, support, datetime.now(UTC))
                )
        return DraftedLetter(stored.letter_id, stored.delivery, stored.status)

    def _render(
        self,
        request: DraftLetter,
        customer: Customer | None,
        support: CustomerSupport | None,
        now: datetime,
    ) -> Letter:
        copy = request.copy_for_customer
        recipient, delivery = _recipient(customer, None if copy else support)
        via_advocate = bool(support and support.contact_via_advocate) and not copy
        try:
            rendered = render_letter(
                request.kind,
                letter_context(
                    request.context,
                    customer_ref=request.customer_ref,
                    customer_name=_addressee(customer, None if copy else support),
                    postal_address=(
                        None if via_advocate else customer.postal_address if customer else None
                    ),
                    landlord_name=self._landlord_name,
                    contacts=self._contacts,
                    now=now,
                    copy_sent_to=_advocate_words(support) if copy else None,
                    retention_period=self._retention_period,
                ),
            )
        except Exception as exc:  # a template fault: retrying cannot help
            raise case_error(
                ErrorType.LETTER_NOT_RENDERED,
                f"the {request.kind} letter could not be built ({type(exc).__name__})",
            ) from None
        return Letter(
            letter_id=request.letter_id,
            case_key=request.case_key,
            kind=request.kind,
            delivery=delivery,
            status="queued",
            recipient=recipient,
            subject=rendered.subject,
            body_html=rendered.html,
            body_text=rendered.text,
            created_at=now,
            sent_at=None,
        )

    @activity.defn(name="deliver_letter")
    async def deliver_letter(self, request: DeliverLetter) -> DeliveredLetter:
        """Send (or store for the post room) one stored letter.

        The attempt is recorded before the letter is handed to SMTP and marked sent at
        once after, so only a crash between those two can leave its outcome unknown; the
        retry then sends it again with the same Message-ID and the record says so."""
        now = datetime.now(UTC)
        with records_errors():
            stored, uncertain = await self._records.begin_letter_attempt(request.letter_id, now)
        if stored.status in ("sent", "stored"):
            return DeliveredLetter(stored.letter_id, stored.status, stored.resent_after_uncertain)
        letter = RenderedLetter(stored.kind, stored.subject, stored.body_html, stored.body_text)
        if stored.delivery == "none":
            await self._unaddressed(stored, now)
        if stored.delivery != "email" or not stored.recipient:
            store_for_post_room(
                post_room_path(
                    self._mail.post_room,
                    customer_ref_of(stored.case_key),
                    stored.kind,
                    stored.letter_id,
                ),
                letter,
            )
            status = "stored"
        else:
            outcome = await deliver_email(self._mail, stored.letter_id, stored.recipient, letter)
            if outcome is not SendOutcome.SENT:
                await self._failed(stored, outcome, now)
            status = "sent"
        with records_errors():
            await self._records.mark_letter_delivered(stored.letter_id, status, datetime.now(UTC))
        return DeliveredLetter(stored.letter_id, status, uncertain or stored.resent_after_uncertain)

    async def _unaddressed(self, stored: Letter, at: datetime) -> None:
        """No e-mail and no postal address to use: staff must add one (or post it by hand)."""
        with records_errors():
            await self._records.mark_letter_undeliverable(stored.letter_id, "no_address", at)
        raise case_error(
            ErrorType.LETTER_UNDELIVERABLE,
            f"the {stored.kind.replace('_', ' ')} letter of {stored.created_at:%d %b %Y} has "
            "no address: add an e-mail or postal address for the customer (or their "
            "advocate's e-mail), then resend (or send it by post)",
        )

    async def _failed(self, stored: Letter, outcome: SendOutcome, at: datetime) -> None:
        """Sort a failed attempt: permanent ones stop here; transient ones retry."""
        date = stored.created_at.strftime("%d %b %Y")
        if outcome is SendOutcome.ADDRESS_INVALID or outcome is SendOutcome.REFUSED:
            with records_errors():
                await self._records.mark_letter_undeliverable(stored.letter_id, str(outcome), at)
            what = (
                "the e-mail address on file is not valid"
                if outcome is SendOutcome.ADDRESS_INVALID
                else "the mail server refused the address"
            )
            raise case_error(
                ErrorType.LETTER_UNDELIVERABLE,
                f"the {stored.kind.replace('_', ' ')} letter of {date} could not be sent: "
                f"{what} — correct the customer's contact details, then resend "
                "(or send it by post)",
            )
        if outcome is SendOutcome.NOT_SENT:
            with records_errors():
                await self._records.letter_not_sent(stored.letter_id)
        raise RuntimeError(f"letter not delivered yet ({outcome}): will retry")

    @activity.defn(name="readdress_letter")
    async def readdress_letter(self, request: ReaddressLetter) -> ReaddressedLetter:
        """Point a stored letter at the customer's current address (or the post room)."""
        with records_errors():
            customer = await self._records.get_customer(request.customer_ref)
            support = await self._records.get_support(request.customer_ref)
            recipient, delivery = _recipient(customer, support)
            if request.by_post:
                recipient, delivery = None, "post"
            letter = await self._records.readdress_letter(request.letter_id, recipient, delivery)
        return ReaddressedLetter(letter.letter_id, letter.delivery)


def _recipient(
    customer: Customer | None, support: CustomerSupport | None
) -> tuple[str | None, str]:
    """Who the letter goes to now, and how (HS 6.3.2 / 6.4.1: through an advocate):
    e-mail, the post room (a postal address is on file), or "none" (no way to address
    it: delivery turns it into a task for staff)."""
    if support is not None and support.contact_via_advocate:
        # Only the advocate's e-mail is kept: without it the letter cannot be addressed.
        return support.advocate_email, "email" if support.advocate_email else "none"
    email = customer.email if customer else None
    if email:
        return email, "email"
    return None, "post" if customer is not None and customer.postal_address else "none"


def _advocate_words(support: CustomerSupport | None) -> str:
    """How a customer's copy names the advocate the letter went to."""
    name = support.advocate_name if support is not None else None
    return name or "the person who contacts us for you"


def _addressee(customer: Customer | None, support: CustomerSupport | None) -> str:
    if support is not None and support.contact_via_advocate and support.advocate_name:
        return support.advocate_name
    return customer.name if customer is not None and customer.name else "Customer"
