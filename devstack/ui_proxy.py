"""The Temporal Web UI of `make run`, with its codec calls carrying the sign-in cookie.

`temporal server start-dev` serves the UI with a codec endpoint (``--ui-codec-endpoint``)
but has no setting for the UI's "include cross-origin credentials" (the UI server's
``codec.includeCredentials``, ``TEMPORAL_CODEC_INCLUDE_CREDENTIALS`` in its container).
Without it the browser calls ``/codec/decode`` with no cookie and gets 401. So the dev
server's UI listens on a private port and this proxy serves it on the public one,
unchanged except for the UI's settings (``GET /api/v1/settings``), where it sets
``Codec.IncludeCredentials``: the operator's browser then sends the API's ``ucb_token``
cookie (set by signing in at ``/inbox/sign-in``) with each codec call, and the API's CORS
admits exactly this origin. Development only: docker-compose.yml configures the UI's own
server instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

SETTINGS_PATH = "/api/v1/settings"
# Hop-by-hop headers (RFC 9110 7.6.1) and those the server recomputes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def with_credentials(body: bytes, endpoint: str) -> bytes:
    """The UI's settings with its codec calls sent with credentials to ``endpoint``."""
    settings = json.loads(body)
    codec = settings.get("Codec") or {}
    codec.update({"Endpoint": endpoint, "IncludeCredentials": True, "PassAccessToken": False})
    settings["Codec"] = codec
    return json.dumps(settings).encode()


class UIProxy:
    """ASGI app forwarding every request to the dev server's UI (``upstream``)."""

    def __init__(self, upstream: str, codec_endpoint: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.codec_endpoint = codec_endpoint
        # No read timeout: the UI long-polls some calls; the browser decides when to give up.
        self.client = httpx.AsyncClient(
            base_url=self.upstream, timeout=httpx.Timeout(10.0, read=None)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return  # the UI uses no websockets
        request = Request(scope, receive)
        response = await self.forward(request)
        await response(scope, receive, send)

    async def forward(self, request: Request) -> Response:
        headers = [
            (name, value) for name, value in request.headers.items() if name not in HOP_BY_HOP
        ]
        upstream_request = self.client.build_request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=request.stream(),
        )
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.TransportError as error:
            return Response(f"Temporal UI unavailable: {error}", status_code=502)
        if request.url.path == SETTINGS_PATH and upstream.status_code == 200:
            body = await upstream.aread()  # decompressed by httpx
            await upstream.aclose()
            response = Response(with_credentials(body, self.codec_endpoint), upstream.status_code)
            _copy_headers(response, upstream, skip={"content-encoding"})
            return response
        response = StreamingResponse(
            _raw(upstream),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
        _copy_headers(response, upstream, skip=set())
        return response


async def _raw(upstream: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in upstream.aiter_raw():
        yield chunk


def _copy_headers(response: Response, upstream: httpx.Response, skip: set[str]) -> None:
    """Upstream's headers (Set-Cookie included, each kept), less hop-by-hop ones."""
    kept = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.headers.multi_items()
        if name not in HOP_BY_HOP and name not in skip
    ]
    own = [(n, v) for n, v in response.raw_headers if n.decode("latin-1") == "content-length"]
    response.raw_headers = own + kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="the UI's public port")
    parser.add_argument("--upstream", required=True, help="the dev server's UI, http://host:port")
    parser.add_argument("--codec-endpoint", required=True, help="the API's codec URL")
    args = parser.parse_args()
    uvicorn.run(
        UIProxy(args.upstream, args.codec_endpoint),
        host=args.host,
        port=args.port,
        log_level="warning",
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
