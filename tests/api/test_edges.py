"""The API's edge: oversized bodies refused before authentication, CORS on the codec only."""

from __future__ import annotations

import asyncio

import httpx

from api.app import create_app
from settings import Settings

UI = "http://temporal-ui.example.org"


async def test_an_oversized_body_is_refused_before_any_token_check(
    api_url: str, settings: Settings
) -> None:
    too_big = b"x" * (settings.max_body_bytes + 1)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        declared = await http.post(
            "/v1/incidents", content=too_big, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413, declared.text  # not 401: no token was read
        assert "larger than" in declared.json()["detail"]

        streamed = await _chunked_post(api_url, "/v1/tasks/x/complete", settings.max_body_bytes)
        assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
        small = await http.post("/v1/incidents", json={})
        assert small.status_code == 401  # an ordinary body still reaches the token check


async def _chunked_post(api_url: str, path: str, limit: int) -> bytes:
    """POST a chunked body (no Content-Length) just over ``limit``; the raw answer."""
    url = httpx.URL(api_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b" " * 65_536
    for _ in range(limit // len(chunk) + 1):  # just over the limit, then wait
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    writer.close()
    return answer


async def test_cors_answers_for_the_codec_only(settings: Settings) -> None:
    settings.codec_cors_origins = [UI]
    app = create_app(settings)
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        codec = await http.options("/codec/decode", headers=preflight)
        assert codec.status_code == 200
        assert codec.headers["access-control-allow-origin"] == UI
        assert codec.headers["access-control-allow-credentials"] == "true"
        case_api = await http.options("/v1/incidents", headers=preflight)
        assert "access-control-allow-origin" not in case_api.headers
        other = await http.options("/codec/decode", headers={**preflight, "Origin": "http://evil"})
        assert "access-control-allow-origin" not in other.headers
