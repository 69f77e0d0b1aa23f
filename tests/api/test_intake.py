"""Incident intake and case reading over real HTTP, with a real worker behind it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.schemas import MAX_DESCRIPTION_CHARS
from tests.support import eventually, messages_to


def body(ref: str, **changes: Any) -> dict[str, Any]:
    incident: dict[str, Any] = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "email",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Tenth call this week about the same closed repair",
        "reported_by": "officer-3",
    }
    incident.update(changes)
    return {k: v for k, v in incident.items() if v is not None}


def new_ref() -> str:
    return f"API-{uuid.uuid4().hex[:10]}"


async def test_reported_incident_opens_a_case_and_sends_the_letter(
    auth_for: Any, api_url: str, worker: Worker, smtp_outbox: tuple[Path, int]
) -> None:
    ref = new_ref()
    address = f"{ref.lower()}@example.org"
    abusive_email = body(ref, category="verbal_abuse", customer={"name": "Pat", "email": address})
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        accepted = await http.post("/v1/incidents", json=abusive_email)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["case_id"] == f"ucb-case-{ref}"

        async def case_with_letter() -> dict[str, Any] | None:
            response = await http.get(f"/v1/cases/{ref}")
            if response.status_code != 200:
                return None
            case: dict[str, Any] = response.json()
            return case if case["letters"] and case["letters"][0]["status"] == "sent" else None

        case = await eventually(case_with_letter)
    assert case["stage"] == "open" and case["risk_flag"] is True
    assert case["letters"][0]["kind"] == "abusive_correspondence"
    assert case["workflow_status"] == "RUNNING"
    assert [i["incident_id"] for i in case["incidents"]] == [accepted.json()["incident_id"]]
    assert case["opened_at"].endswith(("Z", "+00:00"))
    outbox, _ = smtp_outbox
    assert len(messages_to(outbox, address)) == 1


async def test_resending_with_the_same_source_reference_is_idempotent(
    auth_for: Any, api_url: str, worker: Worker
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        first = await http.post("/v1/incidents", json=body(ref, source_reference="CRM-77"))
        again = await http.post("/v1/incidents", json=body(ref, source_reference="CRM-77"))
        assert first.json()["incident_id"] == again.json()["incident_id"]

        async def recorded() -> list[Any] | None:
            response = await http.get(f"/v1/cases/{ref}")
            return response.json()["incidents"] if response.status_code == 200 else None

        assert len(await eventually(recorded)) == 1


async def test_customer_details_registered_beforehand_are_used(
    auth_for: Any, api_url: str, worker: Worker, smtp_outbox: tuple[Path, int]
) -> None:
    ref = new_ref()
    address = f"{ref.lower()}@example.org"
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        put = await http.put(f"/v1/customers/{ref}", json={"name": "Lee", "email": address})
        assert put.status_code == 200
        abusive = body(ref, category="discriminatory_abuse", channel="social_media")
        assert put.json() == {
            "customer_ref": ref,
            "has_name": True,
            "has_email": True,
            "has_postal_address": False,
        }
        assert (await http.post("/v1/incidents", json=abusive)).status_code == 202
    outbox, _ = smtp_outbox

    async def delivered() -> bool:
        return bool(messages_to(outbox, address))

    assert await eventually(delivered)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (lambda ref: body(ref, category="shouting"), "category"),
        (lambda ref: body(ref, customer_ref=None), "customer_ref"),
        (lambda ref: body(ref, customer_ref="has spaces/and slashes"), "customer_ref"),
        (lambda ref: body(ref, description="x" * (MAX_DESCRIPTION_CHARS + 1)), "description"),
        (lambda ref: body(ref, description="   "), "description"),
        (lambda ref: body(ref, occurred_at="2026-11-20T10:00:00"), "occurred_at"),
        (lambda ref: body(ref, channel="carrier pigeon"), "channel"),
        (lambda ref: body(ref, customer={"email": "not-an-address"}), "email"),
        (lambda ref: body(ref, surprise="field"), "surprise"),
        (lambda ref: body(ref, occurred_at="2999-01-01T00:00:00Z"), "occurred_at"),
        (lambda ref: body(ref, occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at"),
    ],
)
async def test_bad_intake_is_422_naming_the_field_and_starts_nothing(
    auth_for: Any, api_url: str, client: Client, payload: Any, field: str
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        response = await http.post("/v1/incidents", json=payload(ref))
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(field in loc for loc in locations), locations
    assert [wf async for wf in client.list_workflows(f"WorkflowId = 'ucb-case-{ref}'")] == []


async def test_malformed_json_is_422_and_starts_nothing(
    auth_for: Any, api_url: str, client: Client
) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        response = await http.post(
            "/v1/incidents",
            content=b'{"customer_ref": "X1", "category": ',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert [wf async for wf in client.list_workflows("WorkflowId = 'ucb-case-X1'")] == []


async def test_unknown_customer_has_no_case(auth_for: Any, api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        assert (await http.get(f"/v1/cases/{new_ref()}")).status_code == 404
        assert (await http.get("/v1/cases/bad%20ref")).status_code == 422


async def test_healthz_reports_database_and_temporal(auth_for: Any, api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "temporal": "ok"}


async def test_warning_given_by_phone_is_recorded_as_the_initial_warning(
    auth_for: Any, api_url: str, worker: Worker
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        accepted = await http.post("/v1/incidents", json=body(ref, warned_by_officer="phone"))
        assert accepted.status_code == 202

        async def warned() -> dict[str, Any] | None:
            response = await http.get(f"/v1/cases/{ref}")
            case: dict[str, Any] = response.json()
            return case if response.status_code == 200 and case["stage"] != "open" else None

        assert (await eventually(warned))["stage"] == "initial_warning"
        bad = await http.post("/v1/incidents", json=body(ref, warned_by_officer="telepathy"))
        assert bad.status_code == 422 and "warned_by_officer" in bad.text


async def test_control_characters_are_refused_naming_the_field(
    auth_for: Any, api_url: str, client: Client
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        response = await http.post("/v1/incidents", json=body(ref, description="nul\x00byte"))
    assert response.status_code == 422
    assert "description: text must not contain control characters" in response.text
    assert [wf async for wf in client.list_workflows(f"WorkflowId = 'ucb-case-{ref}'")] == []
