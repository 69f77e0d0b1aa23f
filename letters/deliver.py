"""Deliver rendered letters: by email through SMTP, or print-ready for the post room."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from enum import StrEnum
from pathlib import Path

import aiosmtplib

from letters.addresses import usable_address
from letters.render import RenderedLetter


@dataclass(frozen=True)
class MailConfig:
    """Where and how to send letters (built from settings at the worker's edge)."""

    smtp_host: str
    smtp_port: int
    sender: str
    post_room: Path
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 20.0
    # Internal notifications (e.g. overdue tasks): role -> shared mailbox; inbox link base.
    role_mailboxes: dict[str, str] = field(default_factory=dict)
    inbox_url: str = "http://127.0.0.1:8000/inbox"


def message_id(letter_id: str) -> str:
    """A stable Message-ID, so a mail system can spot a resent duplicate."""
    digest = hashlib.sha256(letter_id.encode()).hexdigest()[:32]
    return f"<{digest}@ucb-cases.letters>"


def build_email(
    letter_id: str, sender: str, recipient: str, letter: RenderedLetter
) -> EmailMessage:
    """A multipart (text + HTML) email carrying the letter."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(letter_id)
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


class SendOutcome(StrEnum):
    """What became of one attempt to hand a letter to the mail server."""

    SENT = "sent"
    ADDRESS_INVALID = "address_invalid"  # permanent: staff must correct the address
    REFUSED = "refused"  # permanent: the server refused the recipient or the message (5xx)
    NOT_SENT = "not_sent"  # transient, certainly not handed over (server down, 4xx)
    UNKNOWN = "unknown"  # transient, maybe handed over (the connection broke mid-way)


async def deliver_email(
    config: MailConfig, letter_id: str, recipient: str, letter: RenderedLetter
) -> SendOutcome:
    """Hand the letter to SMTP once and sort the outcome; logs never show the address."""
    if not usable_address(recipient):
        return SendOutcome.ADDRESS_INVALID
    try:
        message = build_email(letter_id, config.sender, recipient, letter)
    except (ValueError, TypeError):
        return SendOutcome.ADDRESS_INVALID
    try:
        await send_message(config, message)
    except aiosmtplib.SMTPRecipientsRefused as refused:
        codes = [error.code for error in refused.recipients]
        return SendOutcome.REFUSED if all(c >= 500 for c in codes) else SendOutcome.NOT_SENT
    except (aiosmtplib.SMTPConnectError, ConnectionRefusedError):
        _log.warning("letter %s: mail server unreachable", letter_id)
        return SendOutcome.NOT_SENT
    except aiosmtplib.SMTPResponseException as response:
        _log.warning("letter %s: mail server answered %d", letter_id, response.code)
        if response.code >= 500:
            return SendOutcome.REFUSED
        return SendOutcome.NOT_SENT
    except (aiosmtplib.SMTPException, OSError) as error:
        _log.warning("letter %s: outcome unknown (%s)", letter_id, type(error).__name__)
        return SendOutcome.UNKNOWN
    return SendOutcome.SENT


_log = logging.getLogger(__name__)


async def send_message(config: MailConfig, message: EmailMessage) -> None:
    """Send any message through the configured SMTP server."""
    await aiosmtplib.send(
        message,
        hostname=config.smtp_host,
        port=config.smtp_port,
        username=config.username,
        password=config.password,
        start_tls=config.starttls,
        timeout=config.timeout_seconds,
    )


def post_room_path(post_room: Path, customer_ref: str, kind: str, letter_id: str) -> Path:
    """Where the print-ready copy of a posted letter is kept."""
    digest = hashlib.sha256(letter_id.encode()).hexdigest()[:12]
    return post_room / f"{customer_ref}-{kind}-{digest}.html"


def store_for_post_room(path: Path, letter: RenderedLetter) -> None:
    """Write the print-ready letter atomically (a retry overwrites the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(letter.html, encoding="utf-8")
    tmp.replace(path)


def build_notification(
    key: str, sender: str, recipient: str, subject: str, text: str
) -> EmailMessage:
    """A plain internal notification to staff (no personal data: references only)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(key)
    message.set_content(text)
    return message
