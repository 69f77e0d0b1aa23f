"""A local SMTP server that keeps every message it receives as an .eml file."""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class OutboxHandler:
    """aiosmtpd handler: writes each message to ``outbox`` (atomically)."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        outbox.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.replace(path)
        return "250 Message accepted for delivery"


def start_sink(outbox: Path, host: str, port: int) -> Controller:
    """Start the SMTP sink in a background thread; call ``.stop()`` to end it."""
    controller = Controller(OutboxHandler(outbox), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    """Run the sink until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    controller = start_sink(args.outbox, args.host, args.port)
    print(f"smtp sink listening on {args.host}:{args.port}, outbox {args.outbox}", flush=True)

    async def wait_for_stop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_stop())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
