"""Case activities: records and letters. Each is safe to run more than once."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from temporalio import activity

from letters.deliver import (
    MailConfig,
    build_notification,
    post_room_path,
    send_email,
    send_message,
    store_for_post_room,
)
from letters.render import RenderedLetter, render_letter
from records.models import Customer, CustomerSupport, Letter
from records.repository import Records
from workflows.messages import (
    CreateTask,
    EscalateTask,
    OpenCase,
    OpenedCase,
    RecordCaseEvent,
    RecordDecision,
    RecordedIncidents,
    RecordIncidents,
    SendLetter,
    SentLetter,
    StoreSupport,
    SupersedeTask,
    UpdateCaseRecord,
)


class CaseActivities:
    """Activities bound to the records store and mail configuration."""

    def __init__(self, records: Records, mail: MailConfig, landlord_name: str) -> None:
        self._records = records
        self._mail = mail
        self._landlord_name = landlord_name

    @activity.defn(name="open_case")
    async def open_case(self, request: OpenCase) -> OpenedCase:
        """Open the records row for a case episode (or find it on a retry)."""
        return await self._records.open_case(request)

    @activity.defn(name="record_incidents")
    async def record_incidents(self, request: RecordIncidents) -> RecordedIncidents:
        """Write a batch of incidents and their audit rows, each once."""
        created = await self._records.record_incidents(
            request.case_key, request.batch_key, request.incidents
        )
        return RecordedIncidents(created_ids=created)

    @activity.defn(name="update_case_record")
    async def update_case_record(self, request: UpdateCaseRecord) -> None:
        """Mirror the case's stage, risk flag and dates into the records."""
        await self._records.update_case(request)

    @activity.defn(name="create_task")
    async def create_task(self, request: CreateTask) -> None:
        """Write an open task for a person to decide."""
        await self._records.create_task(request)

    @activity.defn(name="record_decision")
    async def record_decision(self, request: RecordDecision) -> None:
        """Record a decision with who, role, when, what and why."""
        decision = {
            k: v for k, v in asdict(request.decision).items() if v is not None and k != "task_id"
        }
        await self._records.record_decision(request, decision)

    @activity.defn(name="escalate_task")
    async def escalate_task(self, request: EscalateTask) -> None:
        """Escalate an overdue task to the next role up."""
        await self._records.escalate_task(request)
        activity.logger.warning(
            "task %s (%s) overdue: escalated to %s", request.task_id, request.kind, request.to_role
        )
        mailbox = self._mail.role_mailboxes.get(request.to_role)
        if mailbox:
            reference = request.case_key.split("/")[0].removeprefix("ucb-case-")
            text = (
                f"A {request.kind.replace('_', ' ')} task on case {reference} is overdue and has "
                f"been escalated to you ({request.to_role.replace('_', ' ')}).\n\n"
                f"Open it: {self._mail.inbox_url}/tasks/{request.task_id}\n"
            )
            await send_message(
                self._mail,
                build_notification(
                    f"escalation:{request.task_id}",
                    self._mail.sender,
                    mailbox,
                    f"Overdue task escalated: {request.kind.replace('_', ' ')}",
                    text,
                ),
            )

    @activity.defn(name="supersede_task")
    async def supersede_task(self, request: SupersedeTask) -> None:
        """Close an open task the case has moved past."""
        await self._records.supersede_task(request)

    @activity.defn(name="record_case_event")
    async def record_case_event(self, request: RecordCaseEvent) -> None:
        """Append an audit row for a case event."""
        await self._records.record_event(request)

    @activity.defn(name="record_support")
    async def record_support(self, request: StoreSupport) -> None:
        """Keep a customer's support needs, advocate and adjustments."""
        await self._records.store_support(request)

    @activity.defn(name="send_letter")
    async def send_letter(self, request: SendLetter) -> SentLetter:
        """Render, record and deliver a letter exactly once per letter id."""
        stored = await self._records.get_letter(request.letter_id)
        if stored is not None and stored.status in ("sent", "stored"):
            return SentLetter(request.letter_id, stored.delivery, already_sent=True)
        customer = await self._records.get_customer(request.customer_ref)
        support = await self._records.get_support(request.customer_ref)
        email = customer.email if customer else None
        via_advocate = bool(support and support.contact_via_advocate)
        if via_advocate:
            # HS 6.3.2 / 6.4.1: contact through a third party or advocate.
            assert support is not None
            email = support.advocate_email
        now = datetime.now(UTC)
        if stored is None:
            rendered = render_letter(
                request.kind,
                {
                    "customer_ref": request.customer_ref,
                    "customer_name": _addressee(customer, support),
                    "postal_address": (
                        None if via_advocate else customer.postal_address if customer else None
                    ),
                    "landlord_name": self._landlord_name,
                    "letter_date": now.strftime("%d %B %Y"),
                    **request.context,
                },
            )
            stored = await self._records.save_letter(
                Letter(
                    letter_id=request.letter_id,
                    case_key=request.case_key,
                    kind=request.kind,
                    delivery="email" if email else "post",
                    status="drafted",
                    recipient=email,
                    subject=rendered.subject,
                    body_html=rendered.html,
                    body_text=rendered.text,
                    created_at=now,
                    sent_at=None,
                )
            )
        letter = RenderedLetter(stored.kind, stored.subject, stored.body_html, stored.body_text)
        if stored.delivery == "email" and stored.recipient:
            await send_email(self._mail, stored.letter_id, stored.recipient, letter)
            status = "sent"
        else:
            path = post_room_path(
                self._mail.post_room, request.customer_ref, stored.kind, stored.letter_id
            )
            store_for_post_room(path, letter)
            status = "stored"
        await self._records.mark_letter_delivered(stored.letter_id, status, datetime.now(UTC))
        return SentLetter(request.letter_id, stored.delivery, already_sent=False)


def _addressee(customer: Customer | None, support: CustomerSupport | None) -> str:
    if support is not None and support.contact_via_advocate and support.advocate_name:
        return support.advocate_name
    return customer.name if customer is not None and customer.name else "Customer"
