"""The API's outer edge: request-body limits and CORS, before any route or token check.

Both are plain ASGI wrappers so they act before FastAPI reads a body or checks a token:
a 150 MB body is refused from its Content-Length (or as soon as a chunked one passes the
limit) with 413, never read into memory first; CORS answers only on the codec paths the
Temporal Web UI calls, never on the case API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODEC_PREFIX = "/codec"
# A refused body is read and discarded up to this size so the client can read the 413.
DRAIN_BYTES = 32 * 1024 * 1024
DRAIN_SECONDS = 2.0


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (per path prefix) with 413."""

    def __init__(self, app: ASGIApp, limit: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.limits = dict(limits)

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _drain(receive)  # so the client can read the answer (nothing is kept)
            await _too_large(send, limit)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 now; the app sees the client gone and what it sends is
                    # dropped (FastAPI would turn an exception here into a 400).
                    refused = True
                    if message.get("more_body", False):
                        await _drain(receive)
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, unless_refused)
        except Exception:
            if not refused:
                raise


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of a refused body (up to DRAIN_BYTES), so the client,
    still sending, gets to read the 413 instead of a reset connection. Beyond that the
    connection is simply closed: nothing is held in memory either way."""
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return  # a client that stops sending mid-body gets its answer now


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CodecCORS:
    """CORS for the codec endpoint only (the Temporal Web UI's origin), nowhere else."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CODEC_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
