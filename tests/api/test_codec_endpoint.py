"""The remote codec endpoint over real HTTP: Temporal's protocol, for operators only."""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from settings import Settings
from starter.codec import codec_from_settings
from tokens import create_token

SECRET = "Zanzibar-quokka-7731 shouted"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def auth(settings: Settings, *roles: str) -> dict[str, str]:
    token = create_token(settings.secret_key, "codec-test", list(roles), 600)
    return {"Authorization": f"Bearer {token}"}


def json_payloads(*texts: str) -> dict[str, Any]:
    return {
        "payloads": [
            {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(f'"{t}"'.encode())}
            for t in texts
        ]
    }


@pytest.mark.parametrize("role", ["operator", "auditor"])
async def test_decode_shows_what_a_case_holds_and_encoding_is_closed(
    api_url: str, settings: Settings, role: str
) -> None:
    plain = json_payloads(SECRET, "second")
    case = WorkflowSerializationContext(namespace="default", workflow_id="ucb-case-C-1")
    sealed = (
        await codec_from_settings(settings)
        .with_context(case)
        .encode([json_format.ParseDict(p, Payload()) for p in plain["payloads"]])
    )
    for payload in sealed:
        assert payload.metadata["encoding"] == b"binary/encrypted"
        assert payload.metadata["encryption-key-id"] == settings.codec_active_key.encode()
        assert payload.metadata["encryption-binding"] == b"ucb-case-C-1"
        assert b"Zanzibar" not in payload.data
    encoded = {"payloads": [json_format.MessageToDict(p) for p in sealed]}
    async with httpx.AsyncClient(base_url=api_url, headers=auth(settings, role)) as http:
        decoded = await http.post("/codec/decode", json=encoded, headers={"X-Namespace": "default"})
        refused = await http.post("/codec/encode", json=plain)
        nothing = await http.post("/codec/encode", json={"payloads": []})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == plain
    # Nobody may have the codec encrypt a payload a case would accept.
    assert refused.status_code == 403
    assert "encoding is closed" in refused.json()["detail"]
    assert SECRET not in refused.text
    assert nothing.status_code == 200 and nothing.json() == {}


async def test_decode_passes_unencrypted_payloads_through(api_url: str, settings: Settings) -> None:
    plain = json_payloads("never encrypted")
    plain["payloads"].append({})  # an empty payload is valid protobuf JSON
    async with httpx.AsyncClient(base_url=api_url, headers=auth(settings, "operator")) as http:
        decoded = await http.post("/codec/decode", json=plain)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == plain


async def test_an_undecryptable_payload_is_a_400_naming_the_key_not_the_data(
    api_url: str, settings: Settings
) -> None:
    data = b64(os.urandom(40))
    foreign: dict[str, Any] = {
        "payloads": [
            {
                "metadata": {
                    "encoding": b64(b"binary/encrypted"),
                    "encryption-key-id": b64(b"retired-2019"),
                },
                "data": data,
            }
        ]
    }
    async with httpx.AsyncClient(base_url=api_url, headers=auth(settings, "operator")) as http:
        unknown_key = await http.post("/codec/decode", json=foreign)
        foreign["payloads"][0]["metadata"]["encryption-key-id"] = b64(b"dev-2")
        wrong_bytes = await http.post("/codec/decode", json=foreign)
    assert unknown_key.status_code == 400
    assert "retired-2019" in unknown_key.json()["detail"]
    assert wrong_bytes.status_code == 400
    assert "'dev-2' could not be decrypted" in wrong_bytes.json()["detail"]
    for response in (unknown_key, wrong_bytes):
        assert data not in response.text


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_a_token_is_required(api_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.post(path, json=json_payloads(SECRET))
    assert response.status_code == 401
    assert SECRET not in response.text


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_case_officers_may_not_use_the_codec(
    api_url: str, settings: Settings, path: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth(settings, "officer")) as http:
        response = await http.post(path, json=json_payloads(SECRET))
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"payloads": [{"data": "not base64!"}]}, "data"),
        ({"payloads": [{"metadata": {"encoding": "json plain"}, "data": ""}]}, "metadata"),
        ({"payloads": "everything"}, "payloads"),
        ({"payloads": [{"data": "", "colour": "blue"}]}, "colour"),
        ([1, 2, 3], "body"),
    ],
)
@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_a_body_that_is_not_payloads_json_is_a_422(
    api_url: str, settings: Settings, path: str, body: Any, where: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth(settings, "operator")) as http:
        response = await http.post(path, json=body)
    assert response.status_code == 422, response.text
    assert where in response.text


async def test_the_codec_routes_are_in_the_openapi_schema(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        schema = (await http.get("/openapi.json")).json()
    for path in ("/codec/encode", "/codec/decode"):
        post = schema["paths"][path]["post"]
        assert "requestBody" in post
        assert {"200", "400", "401", "403", "422"} <= set(post["responses"])
