"""Deliver rendered letters: by email through SMTP, or print-ready for the post room."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiosmtplib

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


async def send_email(
    config: MailConfig, letter_id: str, recipient: str, letter: RenderedLetter
) -> None:
    """Send the letter by SMTP; raises on failure so the activity retries."""
    await send_message(config, build_email(letter_id, config.sender, recipient, letter))


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
