"""Payload encryption: nothing a case carries reaches Temporal's history in plaintext.

Every payload (workflow and activity inputs and results, signals, updates, queries, and
failure messages) is serialised and encrypted with AES-256-GCM under the active key. The
encrypted payload names its key in the ``encryption-key-id`` header, so rotation is: add
a new key, make it active, keep the old keys for reading older histories. Payloads that
are not encrypted pass through ``decode`` unchanged, so histories written before
encryption was turned on still read.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_HEADER = "encryption-key-id"
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


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole serialised payloads, with key ids for rotation."""

    def __init__(self, keys: Mapping[str, str], active_key_id: str) -> None:
        """``keys`` maps key id to the base64 of 32 random bytes; ``active_key_id`` encrypts."""
        if not keys:
            raise CodecError("at least one payload key is needed")
        if active_key_id not in keys:
            raise CodecError(f"the active payload key {active_key_id!r} is not among the keys")
        self._ciphers = {key_id: _key_from_base64(key_id, k) for key_id, k in keys.items()}
        self.active_key_id = active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass any other payload through unchanged."""
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted under the active key with a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_HEADER: self.active_key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted with the key its header names (unencrypted: as is)."""
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
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag as error:
            raise CodecError(
                f"payload encrypted with key {key_id!r} could not be decrypted "
                "(wrong key material or tampered data)"
            ) from error
        except DecodeError as error:
            raise CodecError(
                f"payload decrypted with key {key_id!r} is not a serialised payload"
            ) from error


def codec_from_settings(settings: Settings) -> EncryptionCodec:
    """The deployment's codec: its keys, encrypting with the active one."""
    return EncryptionCodec(settings.codec_keys, settings.codec_active_key)


def data_converter(settings: Settings) -> DataConverter:
    """The default converter with payloads encrypted.

    Failure messages and stack traces are moved into an encoded (so encrypted) attribute
    as well: they may quote what a payload held.
    """
    return dataclasses.replace(
        temporalio.converter.default(),
        payload_codec=codec_from_settings(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
