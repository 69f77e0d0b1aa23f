"""Case activities: records and letters. Each is safe to run more than once."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from letters.deliver import MailConfig, post_room_path, send_email, store_for_post_room
from letters.render import RenderedLetter, render_letter
from records.models import Letter
from records.repository import Records
from workflows.messages import (
    OpenCase,
    OpenedCase,
    RecordedIncident,
    RecordIncident,
    SendLetter,
    SentLetter,
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

    @activity.defn(name="record_incident")
    async def record_incident(self, request: RecordIncident) -> RecordedIncident:
        """Write an incident and its audit row, once."""
        created = await self._records.record_incident(request.case_key, request.incident)
        return RecordedIncident(incident_id=request.incident.incident_id, created=created)

    @activity.defn(name="update_case_record")
    async def update_case_record(self, request: UpdateCaseRecord) -> None:
        """Mirror the case's stage and risk flag into the records."""
        await self._records.update_case(
            request.case_key, request.stage, request.risk_flag, request.at
        )

    @activity.defn(name="send_letter")
    async def send_letter(self, request: SendLetter) -> SentLetter:
        """Render, record and deliver a letter exactly once per letter id."""
        stored = await self._records.get_letter(request.letter_id)
        if stored is not None and stored.status in ("sent", "stored"):
            return SentLetter(request.letter_id, stored.delivery, already_sent=True)
        customer = await self._records.get_customer(request.customer_ref)
        email = customer.email if customer else None
        now = datetime.now(UTC)
        if stored is None:
            rendered = render_letter(
                request.kind,
                {
                    "customer_ref": request.customer_ref,
                    "customer_name": (customer.name if customer and customer.name else "Customer"),
                    "postal_address": customer.postal_address if customer else None,
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
