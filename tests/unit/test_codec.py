"""The payload codec: AES-256-GCM with key ids, rotation and pass-through."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from settings import DEV_CODEC_KEYS, Settings
from starter.codec import (
    ENCODING,
    KEY_ID_HEADER,
    CodecError,
    EncryptionCodec,
    codec_from_settings,
    data_converter,
)

SECRET = "Zanzibar-quokka-7731 shouted at Quentin Zyxwv"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


KEY_A, KEY_B = new_key(), new_key()


def plain(text: str = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_round_trip_restores_the_payload_exactly() -> None:
    codec = EncryptionCodec({"a": KEY_A}, "a")
    payloads = [plain(), plain("second"), Payload()]
    encoded = await codec.encode(payloads)
    assert len(encoded) == 3
    assert await codec.decode(encoded) == payloads


async def test_encrypted_payload_holds_no_plaintext_and_names_its_key() -> None:
    codec = EncryptionCodec({"a": KEY_A}, "a")
    [encoded] = await codec.encode([plain()])
    assert encoded.metadata["encoding"] == ENCODING == b"binary/encrypted"
    assert encoded.metadata[KEY_ID_HEADER] == b"a"
    assert set(encoded.metadata) == {"encoding", KEY_ID_HEADER}  # json/plain is hidden too
    serialised = encoded.SerializeToString()
    for fragment in (b"Zanzibar", b"quokka", b"Zyxwv", b"json/plain"):
        assert fragment not in serialised


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec({"a": KEY_A}, "a")
    first, second = await codec.encode([plain(), plain()])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_rotation_reads_old_payloads_and_writes_with_the_new_key() -> None:
    before = EncryptionCodec({"a": KEY_A}, "a")
    [old] = await before.encode([plain("old")])
    after = EncryptionCodec({"a": KEY_A, "b": KEY_B}, "b")
    [new] = await after.encode([plain("new")])
    assert old.metadata[KEY_ID_HEADER] == b"a"
    assert new.metadata[KEY_ID_HEADER] == b"b"
    assert await after.decode([old, new]) == [plain("old"), plain("new")]
    with pytest.raises(CodecError, match="'b'"):
        await before.decode([new])


async def test_unknown_key_id_is_named_and_the_data_is_not() -> None:
    [encoded] = await EncryptionCodec({"retired": KEY_A}, "retired").encode([plain()])
    with pytest.raises(ValueError, match=r"key 'retired'.*not configured") as raised:
        await EncryptionCodec({"b": KEY_B}, "b").decode([encoded])
    assert "Zanzibar" not in str(raised.value)
    assert encoded.data.hex() not in str(raised.value)


async def test_wrong_key_material_or_tampering_is_refused() -> None:
    [encoded] = await EncryptionCodec({"a": KEY_A}, "a").encode([plain()])
    with pytest.raises(CodecError, match="key 'a' could not be decrypted"):
        await EncryptionCodec({"a": KEY_B}, "a").decode([encoded])
    tampered = Payload()
    tampered.CopyFrom(encoded)
    tampered.data = encoded.data[:-1] + bytes([encoded.data[-1] ^ 1])
    with pytest.raises(CodecError, match="could not be decrypted"):
        await EncryptionCodec({"a": KEY_A}, "a").decode([tampered])
    truncated = Payload(metadata=dict(encoded.metadata), data=encoded.data[:5])
    with pytest.raises(CodecError, match="truncated"):
        await EncryptionCodec({"a": KEY_A}, "a").decode([truncated])


@pytest.mark.parametrize(
    ("key", "match"),
    [
        (base64.b64encode(os.urandom(16)).decode(), "'short' must decode to exactly 32 bytes"),
        (base64.b64encode(os.urandom(33)).decode(), "'short' must decode to exactly 32 bytes"),
        ("not base64 at all!", "'short' is not valid base64"),
    ],
)
def test_keys_must_be_32_bytes_of_base64(key: str, match: str) -> None:
    with pytest.raises(CodecError, match=match) as raised:
        EncryptionCodec({"ok": KEY_A, "short": key}, "ok")
    assert key not in str(raised.value)


def test_the_active_key_must_be_one_of_the_keys() -> None:
    with pytest.raises(CodecError, match="'missing'"):
        EncryptionCodec({"a": KEY_A}, "missing")


async def test_unencrypted_payloads_pass_through_decode() -> None:
    codec = EncryptionCodec({"a": KEY_A}, "a")
    legacy = [plain("written before encryption"), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(legacy) == legacy


async def test_the_data_converter_encrypts_values_and_failure_messages() -> None:
    settings = Settings(environment="test")
    assert codec_from_settings(settings).active_key_id in DEV_CODEC_KEYS
    converter = data_converter(settings)
    [payload] = await converter.encode([{"description": SECRET}])
    assert payload.metadata["encoding"] == ENCODING
    assert b"Zanzibar" not in payload.data
    assert await converter.decode([payload]) == [{"description": SECRET}]

    failure = Failure()
    await converter.encode_failure(ValueError(SECRET), failure)
    assert b"Zanzibar" not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert SECRET in str(decoded)
