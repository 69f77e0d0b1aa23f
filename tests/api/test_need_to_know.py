"""Need-to-know reads, break glass and the auditor's export (HS 8.1), over real HTTP."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
from temporalio.worker import Worker

from tests.support import eventually

REASON = "Customer rang the front desk; need the history to answer safely"


def new_ref() -> str:
    return f"N-{uuid.uuid4().hex[:10]}"


async def _case_decided_by_olu(http: httpx.AsyncClient, ref: str, auth_for: Any) -> str:
    """A case reported by the case system (naming nobody on the staff), whose initial
    warning the officer olu decided: then no task of it is open."""
    body = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "phone",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Ninth call today about the fence",
        "reported_by": "front-desk",
        "customer": {"name": "Pat", "email": f"{ref.lower()}@example.org"},
    }
    intake = auth_for("case_system", user="crm")
    assert (await http.post("/v1/incidents", json=body, headers=intake)).status_code == 202
    olu = auth_for("officer", user="olu")

    async def listed() -> str | None:
        page = await http.get("/v1/tasks", params={"customer_ref": ref}, headers=olu)
        items = page.json()["items"]
        return items[0]["task_id"] if items else None

    task_id = await eventually(listed)
    decision = {
        "outcome": "issued",
        "method": "phone",
        "reason": "Ninth call after advice",
        "customer_reason": "You called us nine times after our advice.",
    }
    done = await http.post(f"/v1/tasks/{task_id}/complete", json=decision, headers=olu)
    assert done.status_code == 200 and done.json()["open_tasks"] == [], done.text
    return str(task_id)


async def test_uninvolved_staff_break_glass_with_a_reason_and_the_auditor_sees_it(
    api_url: str, worker: Worker, auth_for: Any, token_for: Any
) -> None:
    ref = new_ref()
    kim = auth_for("officer", user="kim")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        task_id = await _case_decided_by_olu(http, ref, auth_for)

        # The officer who decided reads the case, under any spelling of their user id.
        for user in ("olu", "OLU"):
            mine = await http.get(f"/v1/cases/{ref}", headers=auth_for("officer", user=user))
            assert mine.status_code == 200, (user, mine.text)

        async def letter_id() -> str | None:
            case = await http.get(f"/v1/cases/{ref}", headers=auth_for("officer", user="olu"))
            letters = case.json()["letters"]
            return str(letters[0]["letter_id"]) if letters else None

        letter = await eventually(letter_id)

        # An officer not involved: 403 saying how to break glass, on every case read.
        refused = await http.get(f"/v1/cases/{ref}", headers=kim)
        assert refused.status_code == 403
        assert f"POST /v1/cases/{ref}/access" in refused.json()["detail"]
        assert "Ninth call" not in refused.text
        for path in (f"/v1/cases/{ref}/state", f"/v1/letters/{letter}"):
            assert (await http.get(path, headers=kim)).status_code == 403, path
        # The inbox page of the decided task shows the case: not to kim.
        cookie = {"ucb_token": token_for("officer", user="kim")}
        async with httpx.AsyncClient(base_url=api_url, cookies=cookie) as browser:
            page = await browser.get(f"/inbox/tasks/{task_id}")
        assert page.status_code == 403 and "not involved" in page.text
        assert "Ninth call" not in page.text
        # A search shows that the case exists, and nothing of it.
        found = await http.get("/v1/cases", params={"customer_ref": ref}, headers=kim)
        [item] = found.json()["items"]
        assert item["access"] == "exists_only" and item["stage"] is None
        assert "/access" in item["how_to_open"]
        # Arrangements stay open to every member of staff (need to know: what, not why).
        arrangements = await http.get(f"/v1/customers/{ref}/arrangements", headers=kim)
        assert arrangements.status_code == 200

        # Breaking glass needs a reason of substance.
        for bad in ({}, {"reason": "because"}, {"reason": " " * 40}, {"reason": "x" * 1001}):
            short = await http.post(f"/v1/cases/{ref}/access", json=bad, headers=kim)
            assert short.status_code == 422, bad
        granted = await http.post(f"/v1/cases/{ref}/access", json={"reason": REASON}, headers=kim)
        assert granted.status_code == 201, granted.text
        assert granted.json()["basis"] == "break_glass" and granted.json()["until"]

        # Now the reads are allowed (for kim, under any spelling), and audited as such.
        case = await http.get(f"/v1/cases/{ref}", headers=auth_for("officer", user="Kim"))
        assert case.status_code == 200 and case.json()["incidents"]
        assert (await http.get(f"/v1/letters/{letter}", headers=kim)).status_code == 200
        # Another officer still cannot; a contractor stays on the arrangements.
        sam = auth_for("officer", user="sam")
        assert (await http.get(f"/v1/cases/{ref}", headers=sam)).status_code == 403
        acme = auth_for("contractor", user="kim")
        assert (await http.get(f"/v1/cases/{ref}", headers=acme)).status_code == 403
        view = await http.get(f"/v1/customers/{ref}/arrangements", headers=acme)
        assert view.status_code == 200 and "Ninth call" not in view.text

        # The auditor exports the case's trail: the break-glass reason with the token's
        # identity and roles, the refusals and the reads it allowed.
        auditor = auth_for("auditor", user="aud")
        exported = await http.get(f"/v1/cases/{ref}/audit/export", headers=auditor)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        [glass] = [r for r in rows if r["action"] == "break_glass"]
        assert (glass["actor"], glass["role"], glass["reason"]) == ("kim", "officer", REASON)
        reads = [
            (r["actor"], json.loads(r["details"]).get("basis"), json.loads(r["details"])["status"])
            for r in rows
            if r["action"] == "GET /v1/cases/{customer_ref}"
        ]
        assert ("kim", "not_involved", 403) in reads
        assert ("Kim", "break_glass", 200) in reads
        assert ("olu", "involved", 200) in reads
        assert "initial_warning:issued" in [r["action"] for r in rows]

        lines = await http.get(
            f"/v1/cases/{ref}/audit/export", params={"format": "jsonl"}, headers=auditor
        )
        assert lines.headers["content-type"].startswith("application/x-ndjson")
        entries = [json.loads(line) for line in lines.text.splitlines()]
        # The first export is itself on the trail.
        exports = [e for e in entries if e["action"] == "GET /v1/cases/{customer_ref}/audit/export"]
        assert exports and exports[0]["actor"] == "aud" and exports[0]["role"] == "auditor"
        assert any(e["action"] == "break_glass" for e in entries)

        # Only the auditor exports; an unknown customer is a 404.
        denied = await http.get(f"/v1/cases/{ref}/audit/export", headers=kim)
        assert denied.status_code == 403
        missing = await http.get(f"/v1/cases/{new_ref()}/audit/export", headers=auditor)
        assert missing.status_code == 404


async def test_the_roles_an_open_task_sits_with_read_the_case(
    api_url: str, worker: Worker, auth_for: Any
) -> None:
    ref = new_ref()
    body = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "phone",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Eleventh call",
        "reported_by": "front-desk",
    }
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        intake = auth_for("case_system", user="crm")
        assert (await http.post("/v1/incidents", json=body, headers=intake)).status_code == 202

        async def readable() -> bool:
            any_officer = auth_for("officer", user=f"o-{uuid.uuid4().hex[:4]}")
            response = await http.get(f"/v1/cases/{ref}", headers=any_officer)
            return response.status_code == 200

        # The initial warning sits with the officers: any officer may pick it up.
        await eventually(readable)
        director = await http.get(f"/v1/cases/{ref}", headers=auth_for("director", user="dee"))
        assert director.status_code == 403
