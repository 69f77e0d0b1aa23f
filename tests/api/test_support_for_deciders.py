"""Support needs reach the deciders: the task list, the claim and the inbox page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from tests.support import eventually
from tests.workflows.helpers import climb_to_assessment, incident, new_ref, open_task, report

# Markup in what staff typed must reach the page as text, never as markup.
VULNERABILITY = "Severe anxiety <i>after</i> bereavement & sleep loss"
SUPPORT = {
    "vulnerabilities": [VULNERABILITY, "Hearing loss"],
    "advocate_name": "Pat Advocate",
    "advocate_email": "pat.advocate@example.org",
    "contact_via_advocate": True,
    "reasonable_adjustments": "Large-print letters; calls in the morning only",
    "referral_consent": True,
    "mediation_offered": True,
}


async def _listed(
    http: httpx.AsyncClient, ref: str, kind: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    async def listed() -> dict[str, Any] | None:
        params = {"customer_ref": ref, "kind": kind}
        response = await http.get("/v1/tasks", params=params, headers=headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items[0] if items else None

    return await eventually(listed)


async def test_recorded_support_reaches_the_managers_task_list_claim_and_inbox_page(
    api_url: str,
    worker: Worker,
    client: Client,
    settings: Settings,
    stack_records: Records,
    auth_for: Callable[..., dict[str, str]],
    token_for: Callable[..., str],
) -> None:
    ref, other = new_ref("SUP"), new_ref("NOSUP")
    await climb_to_assessment(client, settings, ref)
    await open_task(await report(client, settings, incident(other)), "initial_warning")
    manager = auth_for("manager", user="manager-mo")
    async with httpx.AsyncClient(base_url=api_url, headers=manager) as http:
        before = await _listed(http, ref, "behaviour_assessment")
        assert before["support"] is None

        recorded = await http.post(
            f"/v1/cases/{ref}/support", json=SUPPORT, headers=auth_for("officer", user="olu")
        )
        assert recorded.status_code == 200, recorded.text

        task = await _listed(http, ref, "behaviour_assessment")
        support = task["support"]
        assert support is not None
        assert {k: support[k] for k in SUPPORT} == SUPPORT
        assert support["updated_at"]

        # an officer's task of a customer with nothing recorded says so
        plain = await _listed(http, other, "initial_warning", auth_for("officer", user="olu"))
        assert plain["customer_ref"] == other and plain["support"] is None

        # one page of several customers' tasks: each carries its own customer's support
        both = auth_for("officer", "manager", user="duo")
        page = (await http.get("/v1/tasks", params={"limit": 100}, headers=both)).json()
        by_ref = {t["customer_ref"]: t["support"] for t in page["items"]}
        assert set(by_ref) == {ref, other}
        assert by_ref[ref]["vulnerabilities"] == SUPPORT["vulnerabilities"]
        assert by_ref[other] is None

        claimed = await http.post(f"/v1/tasks/{task['task_id']}/claim")
        assert claimed.status_code == 200, claimed.text
        assert (
            claimed.json()["support"]["reasonable_adjustments"] == SUPPORT["reasonable_adjustments"]
        )

        # the case view (the case system reads it too) never carries the support details
        case = await http.get(f"/v1/cases/{ref}", headers=auth_for("case_system", user="crm"))
        assert case.status_code == 200, case.text
        assert case.json()["open_tasks"] and "support" not in case.json()["open_tasks"][0]
        assert "Pat Advocate" not in case.text and "Hearing loss" not in case.text

        # contractors never reach tasks
        contractor = await http.get("/v1/tasks", headers=auth_for("contractor", user="gas-co"))
        assert contractor.status_code == 403 and "Hearing loss" not in contractor.text

    cookies = {"ucb_token": token_for("manager", user="manager-mo")}
    async with httpx.AsyncClient(base_url=api_url, cookies=cookies) as inbox:
        listing = await inbox.get("/inbox")
        assert listing.status_code == 200
        row = next(line for line in listing.text.split("<tr>") if ref in line)
        assert "Support needs" in row

        page_html = (await inbox.get(f"/inbox/tasks/{task['task_id']}")).text
        assert '<h2 id="support-heading">Support needs and reasonable adjustments</h2>' in page_html
        assert "Severe anxiety &lt;i&gt;after&lt;/i&gt; bereavement &amp; sleep loss" in page_html
        assert "<i>after</i>" not in page_html
        assert "Hearing loss" in page_html
        assert "Large-print letters; calls in the morning only" in page_html
        assert "Pat Advocate" in page_html and "pat.advocate@example.org" in page_html
        assert "contact the customer through their advocate" in page_html
        assert "No support needs recorded" not in page_html

    officer_cookies = {"ucb_token": token_for("officer", user="olu")}
    async with httpx.AsyncClient(base_url=api_url, cookies=officer_cookies) as inbox:
        plain_html = (await inbox.get(f"/inbox/tasks/{plain['task_id']}")).text
        assert "Support needs and reasonable adjustments" in plain_html
        assert "No support needs recorded" in plain_html
        assert "Hearing loss" not in plain_html
