"""Tasks, decisions, appeals, support, arrangements and audit over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from tests.support import eventually
from tests.workflows.helpers import FACTORS, decide, incident, open_task, report

TERMS = {
    "contact_methods": ["letter"],
    "single_point_of_contact": "Jo, Customer Relations",
    "contact_times": "one letter a week",
    "topics": "the repair only",
}
SECRET_WORDS = [
    "Zebra-crossing-4471",  # incident description
    "Marmalade-assessment-note",  # assessment factors / reason
    "Appeal-grounds-Pelican",  # appeal grounds
    "Reason-Kestrel-9",  # authorisation reason
]


def new_ref() -> str:
    return f"T-{uuid.uuid4().hex[:10]}"


async def _open_task_via_api(http: httpx.AsyncClient, ref: str, kind: str) -> dict[str, Any]:
    async def listed() -> dict[str, Any] | None:
        page = (await http.get("/v1/tasks", params={"customer_ref": ref, "kind": kind})).json()
        return page["items"][0] if page.get("items") else None

    return await eventually(listed)


async def test_officer_lists_claims_and_completes_a_task(
    api_url: str, worker: Worker, auth_for: Any
) -> None:
    ref = new_ref()
    intake = auth_for("case_system", user="crm")
    officer = auth_for("officer", user="olu")
    async with httpx.AsyncClient(base_url=api_url) as http:
        body = {
            "customer_ref": ref,
            "category": "unreasonable_persistence",
            "channel": "phone",
            "occurred_at": "2026-11-20T10:00:00Z",
            "description": "Ninth call today",
            "reported_by": "olu",
        }
        assert (await http.post("/v1/incidents", json=body, headers=intake)).status_code == 202
        http.headers.update(officer)
        task = await _open_task_via_api(http, ref, "initial_warning")
        assert task["role"] == "officer" and task["case_id"] == f"ucb-case-{ref}"

        claimed = await http.post(f"/v1/tasks/{task['task_id']}/claim")
        assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "olu"
        other = await http.post(
            f"/v1/tasks/{task['task_id']}/claim", headers=auth_for("officer", user="kim")
        )
        assert other.status_code == 409 and "claimed by olu" in other.text

        wrong_role = await http.post(
            f"/v1/tasks/{task['task_id']}/complete",
            json={"outcome": "issued", "reason": "x", "method": "letter", "customer_reason": "y"},
            headers=auth_for("manager", user="mo"),
        )
        assert wrong_role.status_code == 403
        bad_outcome = await http.post(
            f"/v1/tasks/{task['task_id']}/complete", json={"outcome": "banned", "reason": "x"}
        )
        assert bad_outcome.status_code == 422
        assert bad_outcome.json()["detail"][0]["loc"] == ["body", "outcome"]
        no_method = await http.post(
            f"/v1/tasks/{task['task_id']}/complete", json={"outcome": "issued", "reason": "x"}
        )
        assert no_method.status_code == 422 and "method" in no_method.text

        decision = {
            "outcome": "issued",
            "reason": "Ninth call after advice",
            "customer_reason": "You called us nine times after our advice.",
            "method": "phone",
        }
        done = await http.post(f"/v1/tasks/{task['task_id']}/complete", json=decision)
        assert done.status_code == 200, done.text
        assert done.json()["stage"] == "initial_warning" and done.json()["open_tasks"] == []
        again = await http.post(f"/v1/tasks/{task['task_id']}/complete", json=decision)
        assert again.status_code == 409

        case = (await http.get(f"/v1/cases/{ref}")).json()
        actions = [h["action"] for h in case["history"]]
        assert "initial_warning:issued" in actions
        decided = next(h for h in case["history"] if h["action"] == "initial_warning:issued")
        assert (decided["actor"], decided["role"], decided["reason"]) == (
            "olu",
            "officer",
            "Ninth call after advice",
        )

        audit = await http.get("/v1/audit", headers=auth_for("auditor"), params={"actor": "olu"})
        rows = [
            (r["action"], r["details"]["status"])
            for r in audit.json()["items"]
            if r["action"].startswith("POST ")
        ]
        assert ("POST /v1/tasks/{task_id}/complete", 200) in rows
        assert ("POST /v1/tasks/{task_id}/complete", 409) in rows
        assert ("POST /v1/tasks/{task_id}/claim", 200) in rows


async def test_contractor_sees_arrangements_never_reasons(
    api_url: str,
    worker: Worker,
    client: Client,
    settings: Settings,
    auth_for: Any,
) -> None:
    ref = new_ref()
    handle = await report(
        client, settings, _described(incident(ref), f"{SECRET_WORDS[0]} shouted at reception")
    )
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    await report(client, settings, _described(incident(ref), SECRET_WORDS[0]))
    await decide(handle, "formal_warning", "issued", "officer")
    await report(client, settings, _described(incident(ref), SECRET_WORDS[0]))
    await report(client, settings, _described(incident(ref), SECRET_WORDS[0]))
    notes = FACTORS.__class__(3, SECRET_WORDS[1], SECRET_WORDS[1], SECRET_WORDS[1])
    await decide(handle, "behaviour_assessment", "unacceptable", "manager", factors=notes)
    async with httpx.AsyncClient(base_url=api_url) as http:
        task = await _authorisation_task(http, ref, auth_for)
        done = await http.post(
            f"/v1/tasks/{task}/complete",
            headers=auth_for("head_of_service", user="hana"),
            json={
                "outcome": "authorised",
                "reason": SECRET_WORDS[3],
                "customer_reason": "You contacted us many times after our formal warning.",
                "terms": TERMS,
                "reasonable_adjustments": "Large print",
            },
        )
        assert done.status_code == 200, done.text
        appeal = await http.post(
            f"/v1/cases/{ref}/appeals",
            headers=auth_for("case_system"),
            json={"grounds": SECRET_WORDS[2]},
        )
        assert appeal.status_code == 201, appeal.text
        await open_task(handle, "appeal_decision")

        view = await http.get(
            f"/v1/customers/{ref}/arrangements", headers=auth_for("contractor", user="acme")
        )
    assert view.status_code == 200
    raw = view.text
    assert "Contact only by letter" in raw and view.json()["risk_flag"] is False
    for secret in SECRET_WORDS:
        assert secret not in raw
    for internal in ("description", "reason", "grounds", "factors", "incident"):
        assert internal not in raw


async def _authorisation_task(http: httpx.AsyncClient, ref: str, auth_for: Any) -> str:
    async def listed() -> str | None:
        page = await http.get(
            "/v1/tasks",
            params={"customer_ref": ref},
            headers=auth_for("head_of_service", user="hana"),
        )
        items = page.json()["items"]
        return items[0]["task_id"] if items else None

    return await eventually(listed)


def _described(report_: Any, description: str) -> Any:
    report_.description = description
    return report_


async def test_completing_while_the_worker_is_down_is_a_clear_503(
    api_url: str, client: Client, settings: Settings, stack_records: Any, auth_for: Any
) -> None:
    from worker import build_worker

    ref = new_ref()
    async with build_worker(client, settings, stack_records):
        handle = await report(client, settings, incident(ref))
        task = await open_task(handle, "initial_warning")
        # The case shows the task as its pass opens it; the pass's one records activity
        # puts it on record a moment later: stop the worker only once it is there.
        assert await eventually(lambda: stack_records.get_task(task.task_id))
    # the worker has stopped: nobody can apply the decision
    settings.update_timeout_seconds = 2
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        response = await http.post(
            f"/v1/tasks/{task.task_id}/complete",
            headers=auth_for("officer"),
            json={
                "outcome": "issued",
                "reason": "after warnings",
                "customer_reason": "You called us again after our letter.",
                "method": "letter",
            },
        )
    assert response.status_code == 503
    assert "retry" in response.json()["detail"]


async def test_appeal_without_a_protocol_is_refused_with_the_reason(
    api_url: str, worker: Worker, client: Client, settings: Settings, auth_for: Any
) -> None:
    ref = new_ref()
    handle = await report(client, settings, incident(ref))
    await open_task(handle, "initial_warning")
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.post(
            f"/v1/cases/{ref}/appeals", headers=auth_for("officer"), json={"grounds": "unfair"}
        )
        support = await http.post(
            f"/v1/cases/{ref}/support",
            headers=auth_for("officer", user="olu"),
            json={"reasonable_adjustments": "Large print", "mediation_offered": True},
        )
    assert response.status_code == 409 and "nothing to appeal" in response.text
    # HS 6.5.4 names "support mechanisms, mediation or advocacy": HS records mediation too.
    assert support.status_code == 200, support.text


async def test_a_claim_lapses_and_the_role_a_task_escalated_to_may_take_it_over(
    api_url: str, worker: Worker, auth_for: Any, settings: Settings, stack_records: Records
) -> None:
    settings.durations = {"task_due": 2}  # escalates to a manager after two seconds
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url) as http:
        body = {
            "customer_ref": ref,
            "category": "unreasonable_persistence",
            "channel": "phone",
            "occurred_at": "2026-11-20T10:00:00Z",
            "description": "Tenth call today",
            "reported_by": "olu",
        }
        intake = auth_for("case_system", user="crm")
        assert (await http.post("/v1/incidents", json=body, headers=intake)).status_code == 202
        http.headers.update(auth_for("officer", user="olu"))
        task = await _open_task_via_api(http, ref, "initial_warning")
        assert (await http.post(f"/v1/tasks/{task['task_id']}/claim")).status_code == 200

        async def escalated() -> bool:
            row = await stack_records.get_task(task["task_id"])
            return row is not None and row.escalated_to == "manager"

        await eventually(escalated)
        # Another officer still cannot take it; the manager it escalated to can.
        kim = await http.post(
            f"/v1/tasks/{task['task_id']}/claim", headers=auth_for("officer", user="kim")
        )
        assert kim.status_code == 409 and "claimed by olu" in kim.text
        manager = auth_for("manager", user="Mo")
        taken = await http.post(f"/v1/tasks/{task['task_id']}/claim", headers=manager)
        assert taken.status_code == 200 and taken.json()["claimed_by"] == "Mo"
        case = await stack_records.latest_case(ref)
        assert case is not None
        [row] = [
            a
            for a in await stack_records.audit_trail(case.case_key)
            if a.action == "task_claim_taken_over"
        ]
        assert (row.actor, row.details["from"]) == ("Mo", "olu")
