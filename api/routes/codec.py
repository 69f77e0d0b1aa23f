"""Remote payload codec for the Temporal UI and CLI (Temporal's codec server protocol).

``POST /codec/encode`` and ``POST /codec/decode`` take and return the protobuf JSON of
``temporal.api.common.v1.Payloads``: ``{"payloads": [{"metadata": {k: b64}, "data": b64}]}``.
Only operators and auditors may call them: decoding shows what customers' cases hold.
Encoding is closed: only the API makes payloads a case accepts, with the identity from
the caller's token, so a codec that encrypted anything on request would be a way round
every control. ``/codec/encode`` answers an empty list (the UI's argument-less queries)
and refuses any payload.
Point the tools at it with ``temporal ... --codec-endpoint http://host:port/codec
--codec-auth "Bearer <token>"`` or ``temporal server start-dev --ui-codec-endpoint``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from temporalio.api.common.v1 import Payloads

from api.auth import CodecUser
from settings import Settings
from starter.codec import CodecError, EncryptionCodec, codec_from_settings

router = APIRouter(prefix="/codec", tags=["codec"])

# Protobuf JSON writes bytes as standard base64; readers also accept URL-safe and no padding.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$"
_BASE64 = re.compile(BASE64_PATTERN)


def _is_base64(value: str) -> str:
    if not _BASE64.fullmatch(value):
        raise ValueError("must be base64 (protobuf JSON encodes bytes as base64)")
    return value


Base64 = Annotated[
    str,
    AfterValidator(_is_base64),
    Field(json_schema_extra={"pattern": BASE64_PATTERN, "contentEncoding": "base64"}),
]


Int64String = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,19}$")]


class ExternalPayloadJson(BaseModel):
    """``Payload.ExternalPayloadDetails``: where a payload's data is stored elsewhere."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # int64: protobuf JSON writes it as a decimal string and reads either form.
    size_bytes: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | Int64String = Field(
        default=0, alias="sizeBytes", description="Size of the externally stored data"
    )


class PayloadJson(BaseModel):
    """One ``temporal.api.common.v1.Payload`` as protobuf JSON (bytes as base64)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    metadata: dict[str, Base64] = Field(
        default_factory=dict, description='Headers such as "encoding", each value base64'
    )
    data: Base64 = Field(default="", description="The payload bytes, base64")
    external_payloads: list[ExternalPayloadJson] | None = Field(
        default=None, alias="externalPayloads", description="Details of externally stored data"
    )


class PayloadsJson(BaseModel):
    """``temporal.api.common.v1.Payloads`` as protobuf JSON."""

    model_config = ConfigDict(extra="forbid")

    payloads: list[PayloadJson] = Field(default_factory=list, description="The payloads, in order.")


class CodecProblem(BaseModel):
    """Why payloads could not be decoded (names a key id, never payload data)."""

    detail: str = Field(description="Why, naming a key id at most.")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {
        "model": CodecProblem,
        "description": "A payload cannot be decrypted (unknown key id, wrong key, tampered)",
    },
    status.HTTP_401_UNAUTHORIZED: {"model": CodecProblem, "description": "No valid token"},
    status.HTTP_403_FORBIDDEN: {
        "model": CodecProblem,
        "description": "The token holds neither the operator nor the auditor role, "
        "or payloads were sent to the closed encoder",
    },
}


def _codec(request: Request) -> EncryptionCodec:
    """The app's codec, built from its settings on first use."""
    state = request.app.state
    codec: EncryptionCodec | None = getattr(state, "codec", None)
    if codec is None:
        settings: Settings = state.settings
        try:
            codec = codec_from_settings(settings)
        except CodecError as error:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR, f"payload codec is misconfigured: {error}"
            ) from error
        state.codec = codec
    return codec


def _to_proto(body: PayloadsJson) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(by_alias=True, exclude_none=True), Payloads())
    except (json_format.ParseError, ValueError, TypeError) as error:
        # Shaped like FastAPI's own 422s; the protobuf message may quote the data, so not it.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body",),
                    "msg": "not temporal.api.common.v1.Payloads protobuf JSON "
                    "(a field or map key is invalid)",
                    "input": None,
                }
            ]
        ) from error


def _to_json(payloads: Payloads) -> JSONResponse:
    return JSONResponse(json_format.MessageToDict(payloads))


@router.post("/encode", response_model=PayloadsJson, responses=_RESPONSES)
async def encode(body: PayloadsJson, _user: CodecUser) -> JSONResponse:
    """Closed: payloads a case accepts are made only by the API (an empty list is answered)."""
    payloads = _to_proto(body)
    if payloads.payloads:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "encoding is closed: cases accept only payloads the API makes, with the "
            "identity from the caller's token; signal and update cases through the API",
        )
    return _to_json(payloads)


@router.post("/decode", response_model=PayloadsJson, responses=_RESPONSES)
async def decode(body: PayloadsJson, request: Request, _user: CodecUser) -> JSONResponse:
    """Decrypt payloads with the key each names; unencrypted payloads come back unchanged."""
    payloads = _to_proto(body)
    try:
        await _codec(request).decode_wrapper(payloads)
    except CodecError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from error
    return _to_json(payloads)
