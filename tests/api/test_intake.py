"""Incident intake and case reading over real HTTP, with a real worker behind it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from api.routes import cases as cases_route
from api.schemas import MAX_DESCRIPTION_CHARS
from records.repository import Records
from settings import Settings
from tests.support import eventually, messages_to
from worker import build_worker


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
            sent = case["letters"] and case["letters"][0]["status"] == "sent"
            # The letter workflow may finish before the case mirrors its stage to the
            # records at the end of the same pass: wait for both.
            return case if sent and case["stage"] == "initial_warning" else None

        case = await eventually(case_with_letter)
    # HS 6.5.1: the written notice is the initial warning; a manager decides the risk flag.
    assert case["stage"] == "initial_warning" and case["risk_flag"] is False
    assert sorted(t["kind"] for t in case["open_tasks"]) == ["police_report", "risk_flag_decision"]
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
        assert (first.json()["status"], again.json()["status"]) == ("accepted", "already_received")

        async def recorded() -> list[Any] | None:
            response = await http.get(f"/v1/cases/{ref}")
            return response.json()["incidents"] if response.status_code == 200 else None

        assert len(await eventually(recorded)) == 1


async def test_the_case_view_answers_from_the_records_while_the_worker_is_away(
    auth_for: Any,
    api_url: str,
    client: Client,
    settings: Settings,
    stack_records: Records,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy or stopped worker cannot hold the case view past its live-status budget."""
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        async with build_worker(client, settings, stack_records, strict=True):
            assert (await http.post("/v1/incidents", json=body(ref))).status_code == 202

            async def recorded() -> bool:
                return (await http.get(f"/v1/cases/{ref}")).status_code == 200

            assert await eventually(recorded)
        # With no worker polling, a query waits for its whole deadline: the view must not.
        monkeypatch.setattr(cases_route, "LIVE_STATUS_BUDGET", timedelta(seconds=0.5))
        response = await http.get(f"/v1/cases/{ref}", timeout=2.5)
    assert response.status_code == 200
    view = response.json()
    assert view["workflow_status"] == "RUNNING" and view["malformed_signals"] is None
    assert len(view["incidents"]) == 1


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


async def test_tenancy_and_an_affected_colleague_bring_their_tasks(
    auth_for: Any, api_url: str, worker: Worker
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, headers=auth_for("case_system")) as http:
        registered = await http.put(f"/v1/customers/{ref}", json={"tenancy": "assured"})
        assert registered.status_code == 200, registered.text
        bad = await http.put(f"/v1/customers/{ref}", json={"tenancy": "council"})
        assert bad.status_code == 422 and "tenancy" in bad.text
        abuse = body(ref, category="verbal_abuse", channel="phone", affected_colleague="officer-9")
        assert (await http.post("/v1/incidents", json=abuse)).status_code == 202

        async def kinds() -> list[str] | None:
            response = await http.get(f"/v1/cases/{ref}")
            if response.status_code != 200:
                return None
            found = sorted(t["kind"] for t in response.json()["open_tasks"])
            return found if len(found) == 5 else None  # each task row is written in turn

        found = await eventually(kinds)
    # HS 6.3.6: an assured tenancy; Magna / HS 2.2: the colleague's manager follows up.
    assert found == [
        "colleague_support",
        "initial_warning",
        "police_report",
        "risk_flag_decision",
        "tenancy_action",
    ]


async def test_the_audit_trail_names_the_token_not_the_body(
    token_for: Any, api_url: str, worker: Worker, stack_records: Any
) -> None:
    """`reported_by` is data: the actor is who the token says, in all its roles."""
    ref = new_ref()
    every_role = [
        "officer",
        "manager",
        "head_of_service",
        "director",
        "contractor",
        "case_system",
        "auditor",
        "operator",
    ]
    long_user = "officer-" + "x" * 180
    headers = {"Authorization": f"Bearer {token_for(*every_role, user=long_user)}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as http:
        accepted = await http.post("/v1/incidents", json=body(ref, reported_by="director-1"))
        assert accepted.status_code == 202, accepted.text
        updated = await http.put(f"/v1/customers/{ref}", json={"name": "Pat"})
        assert updated.status_code == 200, updated.text

    async def incident_row() -> Any:
        case = await stack_records.latest_case(ref)
        if case is None:
            return None
        trail = await stack_records.audit_trail(case.case_key)
        return next((a for a in trail if a.action == "incident_reported"), None)

    row = await eventually(incident_row)
    assert row.actor == long_user and row.role == ",".join(sorted(every_role))
    assert row.details["reported_by"] == "director-1"
    # The change of contact details is audited with what changed, before and after.
    rows, _ = await stack_records.audit_events(actor=long_user, limit=20)
    [put] = [a for a in rows if a.action == "PUT /v1/customers/{customer_ref}"]
    assert put.role == ",".join(sorted(every_role)) and put.case_key is None
    assert put.details["changed"] == {"name": {"before": None, "after": "Pat"}}


async def test_reading_a_case_or_decoding_payloads_leaves_an_audit_row(
    token_for: Any, api_url: str, worker: Worker, stack_records: Any
) -> None:
    ref = new_ref()
    reader = "officer-reads-" + uuid.uuid4().hex[:6]
    operator = "operator-" + uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=api_url) as http:
        intake = {"Authorization": f"Bearer {token_for('case_system', user='crm')}"}
        assert (await http.post("/v1/incidents", json=body(ref), headers=intake)).status_code == 202
        officer = {"Authorization": f"Bearer {token_for('officer', user=reader)}"}

        async def read() -> bool:
            return (await http.get(f"/v1/cases/{ref}", headers=officer)).status_code == 200

        await eventually(read)
        ops = {"Authorization": f"Bearer {token_for('operator', user=operator)}"}
        decoded = await http.post("/codec/decode", json={"payloads": []}, headers=ops)
        assert decoded.status_code == 200
    rows, _ = await stack_records.audit_events(actor=reader, limit=50)
    reads = [a for a in rows if a.action == "GET /v1/cases/{customer_ref}"]
    assert reads and reads[0].role == "officer" and reads[0].details["status"] == 200
    rows, _ = await stack_records.audit_events(actor=operator, limit=5)
    assert [a.action for a in rows] == ["POST /codec/decode"]
