"""Helpers shared by the tests: free ports, outbox reading, polling."""

from __future__ import annotations

import asyncio
import email
import socket
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def outbox_messages(outbox: Path) -> list[Message]:
    """Every message the SMTP sink has stored, oldest first."""
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(outbox.glob("*.eml"))]


def messages_to(outbox: Path, recipient: str) -> list[Message]:
    return [m for m in outbox_messages(outbox) if m["To"] == recipient]


def text_body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 20.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value {last!r})")
