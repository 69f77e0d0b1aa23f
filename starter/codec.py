"""Payload encryption: nothing a case carries reaches Temporal's history in plaintext.

Every payload (workflow and activity inputs and results, signals, updates, queries, and
failure messages) is serialised and encrypted with AES-256-GCM under the active key. The
encrypted payload names its key in the ``encryption-key-id`` header, so rotation is: add
a new key, make it active, keep the old keys for reading older histories.

Temporal is a trust boundary, not a back door:

- Each payload is **bound to its workflow**: the workflow id it was made for travels
  in the ``encryption-binding`` header and are the cipher's authenticated
  data, so the header cannot be changed without the payload failing to decrypt, and a
  payload copied into another case is refused there.
- At the boundary (the worker and the API's client) a payload that is not encrypted with
  a configured key, fails to decrypt, or is bound to another workflow is **refused**:
  it becomes an empty "refused" payload that no handler can read (the signal is dropped,
  the update rejected), and it is counted and logged with the workflow id, never data.
  It never fails the workflow task, so a forged payload cannot wedge a case either.
- Payloads made before binding (no header) are accepted only under keys that are no
  longer active: rotating to a new key when upgrading closes that door.

The remote codec for people (``/codec/decode``) is lenient instead: it shows plaintext as
it is and reports errors.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from settings import Settings
from workflows.board_pack_api import ANNUAL_REVIEW_WORKFLOW_ID, BOARD_PACK_WORKFLOW_ID
from workflows.retention_api import RETENTION_WORKFLOW_ID

ENCODING = b"binary/encrypted"
KEY_ID_HEADER = "encryption-key-id"
BINDING_HEADER = "encryption-binding"
REFUSED_ENCODING = b"binary/ucb-refused"
REFUSED_HEADER = "ucb-refused"
KEY_BYTES = 32
NONCE_BYTES = 12


class CodecError(ValueError):
    """A key or payload the codec cannot use; the message names the key id, never data."""


def _key_from_base64(key_id: str, encoded: str) -> AESGCM:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise CodecError(f"payload key {key_id!r} is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise CodecError(
            f"payload key {key_id!r} must decode to exactly {KEY_BYTES} bytes, not {len(key)}"
        )
    return AESGCM(key)


log = logging.getLogger(__name__)

# Payloads refused at the boundary since the process started, by reason (for operators).
REFUSED: Counter[str] = Counter()


def binding_for(context: SerializationContext | None) -> str | None:
    """The workflow a payload is made for or read in: its workflow id.

    Not the namespace: a replay runs in a namespace of its own, and a history must replay
    where it is investigated (a deployment's namespaces share its keys anyway)."""
    if isinstance(context, WorkflowSerializationContext):
        return context.workflow_id
    if isinstance(context, ActivitySerializationContext) and context.workflow_id:
        return context.workflow_id
    return None


# A Temporal Schedule starts each run as "<action id>-<time>" and hands it the previous
# run's result, which the previous run's worker bound to that run's id.
SCHEDULED_RUNS = (RETENTION_WORKFLOW_ID, BOARD_PACK_WORKFLOW_ID, ANNUAL_REVIEW_WORKFLOW_ID)


def same_schedule(made_for: str, reader: str) -> bool:
    """Whether two workflow ids are runs of the same one of our schedules (a run may read
    its predecessor's result; a case never reads another case's payloads)."""
    return any(
        made_for.startswith(f"{run}-") and reader.startswith(f"{run}-") for run in SCHEDULED_RUNS
    )


def is_refused(payload: Payload) -> bool:
    """Whether the boundary refused this payload (no handler can read it)."""
    return payload.metadata.get("encoding") == REFUSED_ENCODING


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over whole serialised payloads, with key ids for rotation, each payload
    bound to its workflow; at the boundary, anything else is refused (see the module)."""

    def __init__(
        self,
        keys: Mapping[str, str],
        active_key_id: str,
        *,
        boundary: bool = False,
        binding: str | None = None,
    ) -> None:
        """``keys`` maps key id to the base64 of 32 random bytes; ``active_key_id`` encrypts.

        ``boundary``: refuse (rather than pass or raise on) any payload that is not
        encrypted with a configured key for this workflow. ``binding``: the workflow this
        codec works for, set by Temporal's serialization context."""
        if not keys:
            raise CodecError("at least one payload key is needed")
        if active_key_id not in keys:
            raise CodecError(f"the active payload key {active_key_id!r} is not among the keys")
        self._keys = dict(keys)
        self._ciphers = {key_id: _key_from_base64(key_id, k) for key_id, k in keys.items()}
        self.active_key_id = active_key_id
        self.boundary = boundary
        self.binding = binding

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """This codec bound to the workflow the context names."""
        bound = EncryptionCodec.__new__(EncryptionCodec)
        bound.__dict__.update(self.__dict__)
        bound.binding = binding_for(context)
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key, bound to this codec's workflow."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads. At the boundary anything unusable is refused;
        otherwise plaintext passes through unchanged and problems raise CodecError."""
        if not self.boundary:
            return [self.decrypt(payload) for payload in payloads]
        return [self._decrypt_or_refuse(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted under the active key with a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        metadata = {"encoding": ENCODING, KEY_ID_HEADER: self.active_key_id.encode()}
        aad = None
        if self.binding is not None:
            metadata[BINDING_HEADER] = self.binding.encode()
            aad = _aad(self.binding)
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, payload.SerializeToString(), aad)
        return Payload(metadata=metadata, data=nonce + sealed)

    def _decrypt_or_refuse(self, payload: Payload) -> Payload:
        if is_refused(payload):
            return payload
        if payload.metadata.get("encoding") != ENCODING:
            return self._refuse(payload, "not encrypted")
        try:
            decrypted = self.decrypt(payload)
        except CodecError as error:
            return self._refuse(payload, str(error))
        if self.binding is None:
            return decrypted  # read outside any workflow: encrypted with our key suffices
        raw_binding = payload.metadata.get(BINDING_HEADER)
        if raw_binding is None:
            if self._key_id(payload) == self.active_key_id:
                return self._refuse(payload, "not bound to a workflow, under the active key")
            return decrypted  # made before binding, under a retired key
        made_for = raw_binding.decode("utf-8", "replace")
        if made_for != self.binding and not same_schedule(made_for, self.binding):
            return self._refuse(payload, "bound to another workflow")
        return decrypted

    def _refuse(self, payload: Payload, reason: str) -> Payload:
        """The empty payload handlers cannot read, in place of one refused."""
        del payload  # never logged or kept: it may hold allegations about a person
        REFUSED[reason] += 1
        log.warning(
            "payload refused at the Temporal boundary for workflow %s: %s",
            self.binding or "(no workflow context)",
            reason,
        )
        return Payload(metadata={"encoding": REFUSED_ENCODING, REFUSED_HEADER: reason.encode()})

    @staticmethod
    def _key_id(payload: Payload) -> str:
        return payload.metadata.get(KEY_ID_HEADER, b"").decode("utf-8", errors="replace")

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted with the key its header names under the binding its
        header names (unencrypted: as is)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_HEADER)
        if raw_id is None:
            raise CodecError(f"encrypted payload has no {KEY_ID_HEADER} header")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(
                f"payload is encrypted with key {key_id!r}, which is not configured "
                "(add it to UCB_CODEC_KEYS)"
            )
        if len(payload.data) <= NONCE_BYTES:
            raise CodecError(f"payload encrypted with key {key_id!r} is truncated")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        raw_binding = payload.metadata.get(BINDING_HEADER)
        aad = None if raw_binding is None else _aad(raw_binding.decode("utf-8", "replace"))
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, aad))
        except InvalidTag as error:
            raise CodecError(
                f"payload encrypted with key {key_id!r} could not be decrypted "
                "(wrong key material, tampered data or a changed binding)"
            ) from error
        except DecodeError as error:
            raise CodecError(
                f"payload decrypted with key {key_id!r} is not a serialised payload"
            ) from error


def _aad(binding: str) -> bytes:
    return b"ucb-cases payload for " + binding.encode()


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads a refused payload as a clear error naming the reason (never as a value)."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None  # nothing is ever written as refused

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        reason = payload.metadata.get(REFUSED_HEADER, b"").decode("utf-8", "replace")
        raise ValueError(
            f"payload refused at the Temporal boundary ({reason}): a case accepts only "
            "what the API makes for it"
        )


class BoundaryPayloadConverter(CompositePayloadConverter):
    """Temporal's default converters, plus a clear error for a refused payload."""

    def __init__(self) -> None:
        super().__init__(
            *DefaultPayloadConverter.default_encoding_payload_converters,
            RefusedPayloadConverter(),
        )


def codec_from_settings(settings: Settings, *, boundary: bool = False) -> EncryptionCodec:
    """The deployment's codec: its keys, encrypting with the active one."""
    return EncryptionCodec(settings.codec_keys, settings.codec_active_key, boundary=boundary)


def data_converter(settings: Settings) -> DataConverter:
    """The default converter with payloads encrypted and refused at the boundary.

    Failure messages and stack traces are moved into an encoded (so encrypted) attribute
    as well: they may quote what a payload held.
    """
    return dataclasses.replace(
        temporalio.converter.default(),
        payload_converter_class=BoundaryPayloadConverter,
        payload_codec=codec_from_settings(settings, boundary=True),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
