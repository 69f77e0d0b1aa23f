"""Board pack activities: build the report, render its HTML and PDF, store the pack once
per kind, profile and period, and tell the heads of service's and directors' shared
mailboxes it is ready, with a link and nothing else. Each is safe to run more than once.

Errors are sorted like the case activities': a database or mail server that is down
raises as it is (Temporal retries with backoff); the records refusing a write, a role
with no mailbox or a mailbox the mail server refuses for good raise non-retryable
``ApplicationError``s. Logs carry pack ids, kinds and roles only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import aiosmtplib
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import records_errors
from letters.deliver import MailConfig, build_notification, send_message
from policy.reporting import Report, ReportPeriod
from records.repository import Records
from reports.pdf import render_pdf
from reports.render import render_report
from workflows.board_pack_api import (
    BOARD_PACK_MADE,
    PACK_READERS_TOLD,
    BoardPackActivityApi,
    ComposedPack,
    ComposePack,
    EmailedPackLink,
    EmailPackLink,
    PackErrorType,
    PackMade,
    PackSettings,
    pack_id_for,
    pack_title,
)
from workflows.errors import ErrorType, case_error


@dataclass(frozen=True)
class PackConfig:
    """What the pack activities need of the settings (read at the worker's edge)."""

    profile: str
    annual_review_month: int
    # Where staff reach the API ("https://ucb.landlord.example"): the e-mail's links.
    public_url: str


def pack_page_url(public_url: str, pack_id: str) -> str:
    """The stored pack's page (its HTML) for signed-in staff."""
    return f"{public_url.rstrip('/')}/inbox/reports/packs/{quote(pack_id)}"


def pack_email_text(kind: str, title: str, pack_id: str, public_url: str) -> str:
    """The e-mail's words: the pack is ready, and where to read it. No figures, no
    customers, no names: the pack itself is behind the sign-in."""
    page = pack_page_url(public_url, pack_id)
    what = "annual policy review pack" if kind == "annual" else "monthly Board pack"
    return (
        f"The {what} is ready: {title}.\n\n"
        f"Read it (sign in first): {page}\n"
        f"Download the PDF: {page}.pdf\n\n"
        "This message was sent automatically to the shared mailboxes of the Heads of "
        "Service and the Directors. The pack is kept in the case system: please do not "
        "forward it outside the organisation.\n"
    )


class BoardPackActivities(BoardPackActivityApi):
    """Bound to the records, the mail settings and the deployment's pack settings."""

    def __init__(self, records: Records, mail: MailConfig, config: PackConfig) -> None:
        self._records = records
        self._mail = mail
        self._config = config

    @activity.defn(name="board_pack_settings")
    async def board_pack_settings(self) -> PackSettings:
        """The deployment's profile and its annual review month (settings at the edge)."""
        return PackSettings(self._config.profile, self._config.annual_review_month)

    @activity.defn(name="compose_pack")
    async def compose_pack(self, request: ComposePack) -> ComposedPack:
        """Build the report, render its HTML (standalone) and PDF, and store the pack;
        a pack already stored for the kind, profile and period is returned as it is."""
        with records_errors():
            found = await self._records.find_report_pack(
                request.kind, request.profile, request.period_start
            )
        if found is not None:
            activity.logger.info("board pack %s already stored", found.pack_id)
            return ComposedPack(found.pack_id, found.emailed_at is not None, created=False)
        period = ReportPeriod(request.period_start, request.period_end)
        with records_errors():
            report = await self._records.report(
                profile=request.profile, period=period, now=request.at
            )
        title = pack_title(request.kind, request.period_start, request.period_end)
        html, pdf = await asyncio.to_thread(self._render, report, title)
        with records_errors():
            stored, created = await self._records.store_report_pack(
                pack_id=pack_id_for(request.kind, request.profile, request.period_start),
                kind=request.kind,
                profile=request.profile,
                period_start=request.period_start,
                period_end=request.period_end,
                created_at=request.at,
                html=html,
                pdf=pdf,
            )
        activity.logger.info(
            "board pack %s %s (%d bytes of PDF)",
            stored.pack_id,
            "stored" if created else "already stored",
            len(pdf),
        )
        return ComposedPack(stored.pack_id, stored.emailed_at is not None, created=created)

    def _render(self, report: Report, title: str) -> tuple[str, bytes]:
        """The pack's HTML document and PDF (CPU-bound: run in a thread)."""
        base = self._config.public_url.rstrip("/")
        html = render_report(
            report,
            standalone=True,
            case_link=lambda ref: f"{base}/inbox/cases?ref={quote(ref)}",
        )
        return html, render_pdf(report, title=title)

    @activity.defn(name="email_pack_link")
    async def email_pack_link(self, request: EmailPackLink) -> EmailedPackLink:
        """E-mail each of the heads of service's and directors' shared mailboxes a link
        to the pack, once: the Message-ID comes from the pack and role, so a mail system
        sees a resend after an uncertain attempt as the same message; then note it."""
        mailboxes = {role: self._mail.role_mailboxes.get(role) for role in PACK_READERS_TOLD}
        missing = [role for role, mailbox in mailboxes.items() if not mailbox]
        if missing:
            raise ApplicationError(
                f"no shared mailbox for {', '.join(missing)} (UCB_ROLE_MAILBOXES): "
                f"pack {request.pack_id} is stored but nobody was told",
                {"roles": missing, "pack_id": request.pack_id},
                type=str(PackErrorType.NO_ROLE_MAILBOX),
                non_retryable=True,
            )
        with records_errors():
            stored = await self._records.get_report_pack(request.pack_id)
        if stored is None:
            raise case_error(ErrorType.RECORDS_REJECTED, f"pack {request.pack_id} is not stored")
        if stored.emailed_at is not None:
            return EmailedPackLink([], already_emailed=True)
        title = pack_title(request.kind, request.period_start, request.period_end)
        text = pack_email_text(request.kind, title, request.pack_id, self._config.public_url)
        sent_to: set[str] = set()
        told: list[str] = []
        for role, mailbox in mailboxes.items():
            assert mailbox is not None
            told.append(role)
            if mailbox.casefold() in sent_to:
                continue  # both roles share one mailbox: one message
            sent_to.add(mailbox.casefold())
            message = build_notification(
                f"board-pack:{request.pack_id}:{role}",
                self._mail.sender,
                mailbox,
                f"{title} is ready",
                text,
            )
            try:
                await send_message(self._mail, message)
            except aiosmtplib.SMTPRecipientsRefused as refused:
                if all(error.code >= 500 for error in refused.recipients):
                    raise _refused(role, request.pack_id) from None
                raise  # 4xx: try again later
            except aiosmtplib.SMTPResponseException as response:
                if response.code >= 500:
                    raise _refused(role, request.pack_id) from None
                raise
        with records_errors():
            await self._records.mark_pack_emailed(request.pack_id, datetime.now(UTC))
        activity.logger.info("board pack %s: link e-mailed to %s", request.pack_id, told)
        return EmailedPackLink(told)

    @activity.defn(name="record_pack_made")
    async def record_pack_made(self, request: PackMade) -> None:
        """The audit row of a pack made and sent (once per pack): kind, period, pack id."""
        with records_errors():
            await self._records.record_pack_event(
                f"board-pack-made:{request.pack_id}",
                BOARD_PACK_MADE,
                request.at,
                {
                    "kind": request.kind,
                    "profile": request.profile,
                    "period_start": request.period_start.isoformat(),
                    "period_end": request.period_end.isoformat(),
                    "pack_id": request.pack_id,
                    "emailed_roles": list(request.emailed_roles),
                    "run": request.run,
                },
            )


def _refused(role: str, pack_id: str) -> ApplicationError:
    """The mail server refused a role's mailbox for good: mend UCB_ROLE_MAILBOXES."""
    return ApplicationError(
        f"the mail server refused the {role} mailbox: pack {pack_id} is stored but the "
        "role was not told",
        {"role": role, "pack_id": pack_id},
        type=str(PackErrorType.ROLE_MAILBOX_REFUSED),
        non_retryable=True,
    )
