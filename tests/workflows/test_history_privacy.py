"""Temporal's history holds no plaintext case content; the codec endpoint reveals it to operators.

Read with the real ``temporal`` CLI, as an operator (or anyone with access to Temporal)
would: without the codec the history is ciphertext; with the codec endpoint and an
operator's token the incident is readable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from policy.categories import Category
from records.repository import Records
from settings import Settings
from tests.workflows.helpers import incident, new_ref, report, state_when
from tokens import create_token

DESCRIPTION = "Zanzibar-quokka-7731 shouted at the repairs team"
NAME = "Quentin Zyxwv"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"


def walk(value: Any) -> list[Any]:
    """Every dict, list and scalar inside a JSON document."""
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found.extend(walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(walk(item))
    return found


def payload_dicts(document: Any) -> list[dict[str, Any]]:
    """Every Payload (an object with ``metadata`` and ``data``) in the history's JSON."""
    return [
        node
        for node in walk(document)
        if isinstance(node, dict) and "metadata" in node and isinstance(node.get("data"), str)
    ]


def b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def decoded_strings(document: Any) -> list[bytes]:
    """Every string in the document that is base64, decoded (every payload's data among them)."""
    return [
        raw
        for node in walk(document)
        if isinstance(node, str) and (raw := b64decode(node)) is not None
    ]


async def show_history(address: str, workflow_id: str, *codec: str) -> str:
    """``temporal workflow show --output json``, ignoring any local CLI configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    command = [
        str(TEMPORAL_CLI),
        "workflow",
        "show",
        "--address",
        address,
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--disable-config-file",
        "--disable-config-env",
        *codec,
    ]
    # In a thread: the codec endpoint this may call is served on this event loop.
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_history_holds_only_ciphertext_and_the_codec_decodes_it_for_operators(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    temporal_address: str,
    api_url: str,
) -> None:
    ref = new_ref()
    address = f"{ref.lower()}@example.org"
    await stack_records.upsert_customer(ref, datetime.now(UTC), name=NAME, email=address)
    abuse = replace(incident(ref, category=Category.VERBAL_ABUSE), description=DESCRIPTION)
    handle = await report(client, settings, abuse)
    # Recorded, and the warning letter (which addresses the customer by name) has gone out.
    state = await state_when(handle, lambda s: s.incident_count == 1 and s.letters)
    assert state.incident_count == 1

    raw = await show_history(temporal_address, handle.id)
    history = json.loads(raw)
    assert history["events"], "the CLI returned no history"
    payloads = payload_dicts(history)
    encrypted = [
        p for p in payloads if b64decode(p["metadata"].get("encoding", "")) == b"binary/encrypted"
    ]
    # Workflow input, the incident signal, activity inputs and results at the least.
    assert len(encrypted) >= 4, payloads
    for payload in encrypted:
        assert b64decode(payload["metadata"]["encryption-key-id"]) == b"dev-2"
        # ...each bound to this case (the letter's own workflow binds to itself)
        binding = b64decode(payload["metadata"]["encryption-binding"])
        assert binding is not None and ref.encode() in binding, payload["metadata"]
    secrets = [DESCRIPTION, "Zanzibar-quokka-7731", NAME, "Zyxwv", address]
    decoded = decoded_strings(history)
    assert len(decoded) >= len(encrypted)
    for secret in secrets:
        assert secret not in raw
        assert all(secret.encode() not in data for data in decoded), secret

    token = create_token(settings.secret_key, "ops-1", ["operator"], 600)
    readable = await show_history(
        temporal_address,
        handle.id,
        "--codec-endpoint",
        f"{api_url}/codec",
        "--codec-auth",
        f"Bearer {token}",
    )
    revealed = [readable.encode(), *decoded_strings(json.loads(readable))]
    assert any(DESCRIPTION.encode() in text for text in revealed)
    still_sealed = [
        p
        for p in payload_dicts(json.loads(readable))
        if b64decode(p["metadata"].get("encoding", "")) == b"binary/encrypted"
    ]
    assert not still_sealed
