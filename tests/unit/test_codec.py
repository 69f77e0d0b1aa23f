"""The payload codec: AES-256-GCM with key ids, rotation and pass-through."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    ActivitySerializationContext,
    WorkflowSerializationContext,
    default,
)

from settings import DEV_CODEC_KEYS, Settings
from starter.codec import (
    BINDING_HEADER,
    ENCODING,
    KEY_ID_HEADER,
    REFUSED,
    BoundaryPayloadConverter,
    CodecError,
    EncryptionCodec,
    codec_from_settings,
    data_converter,
    is_refused,
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


# Temporal as a boundary: binding to the workflow, refusing what the API did not make.

CASE_A = WorkflowSerializationContext(namespace="default", workflow_id="ucb-case-A")
CASE_B = WorkflowSerializationContext(namespace="default", workflow_id="ucb-case-B")


def boundary(active: str = "a", **keys: str) -> EncryptionCodec:
    return EncryptionCodec(keys or {"a": KEY_A}, active, boundary=True)


async def test_a_payload_is_bound_to_its_workflow_and_read_there() -> None:
    codec = boundary()
    [sealed] = await codec.with_context(CASE_A).encode([plain()])
    assert sealed.metadata[BINDING_HEADER] == b"ucb-case-A"
    assert await codec.with_context(CASE_A).decode([sealed]) == [plain()]
    # An activity of the same workflow reads it too (same workflow id).
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="record_incidents",
        activity_task_queue="q",
        workflow_id="ucb-case-A",
        workflow_type="CaseWorkflow",
        is_local=False,
    )
    assert await codec.with_context(activity).decode([sealed]) == [plain()]


async def test_at_the_boundary_a_moved_plaintext_or_forged_payload_is_refused_never_raised() -> (
    None
):
    codec = boundary()
    [for_a] = await codec.with_context(CASE_A).encode([plain()])
    relabelled = Payload()
    relabelled.CopyFrom(for_a)
    relabelled.metadata[BINDING_HEADER] = b"ucb-case-B"  # authenticated: fails
    unknown_key = Payload()
    unknown_key.CopyFrom(for_a)
    unknown_key.metadata[KEY_ID_HEADER] = b"nobody-has-this"
    before = REFUSED.total()
    refused = await codec.with_context(CASE_B).decode([for_a, relabelled, plain(), unknown_key])
    assert all(is_refused(p) for p in refused)
    assert all(SECRET.encode() not in p.SerializeToString() for p in refused)
    assert REFUSED.total() - before == 4
    assert REFUSED["bound to another workflow"] >= 1 and REFUSED["not encrypted"] >= 1
    # Refused payloads cannot be read as anything; the boundary's converter says why.
    with pytest.raises(KeyError, match="ucb-refused"):
        default().payload_converter.from_payload(refused[0], str)
    with pytest.raises(ValueError, match=r"refused at the Temporal boundary \(bound to another"):
        BoundaryPayloadConverter().from_payload(refused[0], str)
    assert BoundaryPayloadConverter().from_payload(plain(), str) == SECRET


def run_of(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


async def test_a_scheduled_run_reads_its_predecessors_result_and_nothing_else_moves() -> None:
    """A Schedule hands each run the previous run's result, bound to that run's id: read
    without a refusal; a result moved to another schedule's run or a case is refused."""
    codec = boundary()
    earlier = run_of("ucb-board-pack-run-2026-10-01T05:00:00Z")
    [result] = await codec.with_context(earlier).encode([plain()])
    before = REFUSED.total()
    later = run_of("ucb-board-pack-run-2026-11-01T06:00:00Z")
    assert await codec.with_context(later).decode([result]) == [plain()]
    assert REFUSED.total() == before
    for elsewhere in ("ucb-retention-run-2026-11-01T06:00:00Z", "ucb-case-A", "ucb-board-pack"):
        [moved] = await codec.with_context(run_of(elsewhere)).decode([result])
        assert is_refused(moved), elsewhere
    [retention] = await codec.with_context(run_of("ucb-retention-run-1")).encode([plain()])
    [read] = await codec.with_context(run_of("ucb-retention-run-2")).decode([retention])
    assert read == plain()


async def test_the_lenient_codec_for_people_shows_plaintext_and_reports_errors() -> None:
    lenient = EncryptionCodec({"a": KEY_A}, "a")
    assert await lenient.decode([plain()]) == [plain()]
    [sealed] = await lenient.with_context(CASE_A).encode([plain()])
    assert await lenient.decode([sealed]) == [plain()]  # no context: its own binding
    sealed.metadata[BINDING_HEADER] = b"ucb-case-B"
    with pytest.raises(CodecError, match="changed binding"):
        await lenient.decode([sealed])


async def test_unbound_payloads_are_read_only_under_a_retired_key() -> None:
    # Made before binding existed (no context), under the key then active.
    [old] = await EncryptionCodec({"old": KEY_A}, "old").encode([plain()])
    assert BINDING_HEADER not in old.metadata
    upgraded = boundary("new", old=KEY_A, new=KEY_B).with_context(CASE_A)
    assert await upgraded.decode([old]) == [plain()]
    not_rotated = boundary("old", old=KEY_A).with_context(CASE_A)
    [refused] = await not_rotated.decode([old])
    assert is_refused(refused)
