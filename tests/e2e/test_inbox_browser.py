"""The inbox page in a real headless Chromium: sign in, open a task, decide it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from tests.e2e.browser import CHROMIUM_ARGS
from tests.support import eventually
from tests.workflows.helpers import (
    Handle,
    climb_to_assessment,
    incident,
    new_ref,
    open_task,
    state_when,
)
from workflows.case import CaseWorkflow

# Markup in a description must reach the page as text, never as markup.
MARKED_UP = "Called 12 times <b>shouting</b> & swearing about the same repair"


async def case_awaiting_assessment(client: Client, settings: Settings, ref: str) -> Handle:
    """Initial warning, formal warning, then two more incidents: a manager's assessment."""
    last = replace(incident(ref), description=MARKED_UP)
    return await climb_to_assessment(client, settings, ref, last)


async def test_a_manager_decides_an_assessment_in_the_browser(
    chromium: Path,
    api_url: str,
    worker: Worker,
    client: Client,
    settings: Settings,
    stack_records: Records,
    token_for: Callable[..., str],
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    ref = new_ref("INBOX")
    # The customer's details are on file, so every warning letter can be addressed.
    await stack_records.upsert_customer(ref, datetime.now(UTC), email=f"{ref.lower()}@example.org")
    handle = await case_awaiting_assessment(client, settings, ref)
    task = await open_task(handle, "behaviour_assessment")

    async def stored_with_incidents() -> bool:
        case = await stack_records.latest_case(ref)
        return (
            await stack_records.get_task(task.task_id) is not None
            and case is not None
            and len(await stack_records.incidents(case.case_key)) == 4
        )

    await eventually(stored_with_incidents)

    # an officer may not decide a manager's task, on the page or by posting the form
    officer = {"ucb_token": token_for("officer", user="officer-7")}
    async with httpx.AsyncClient(base_url=api_url, cookies=officer) as http:
        assert (await http.get(f"/inbox/tasks/{task.task_id}")).status_code == 403
        posted = await http.post(
            f"/inbox/tasks/{task.task_id}", data={"outcome": "unacceptable", "reason": "x"}
        )
        assert posted.status_code == 403

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await (await browser.new_context(base_url=api_url)).new_page()

            # not signed in: the inbox sends us to sign in
            await page.goto("/inbox")
            assert page.url == f"{api_url}/inbox/sign-in"
            await page.get_by_label("Your access token").fill("not-a-token")
            async with page.expect_navigation() as refused:
                await page.get_by_role("button", name="Sign in").click()
            response = await refused.value
            assert response is not None and response.status == 400
            assert "That token cannot be used" in await page.inner_text("main")

            await page.get_by_label("Your access token").fill(
                token_for("manager", user="manager-mo")
            )
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{api_url}/inbox")
            assert "Signed in as manager-mo" in await page.inner_text("header")
            cookie = next(c for c in await page.context.cookies() if c["name"] == "ucb_token")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"

            # the task is listed; open it
            row = page.locator("tr", has_text=ref)
            assert "Unacceptable behaviour assessment" in await row.inner_text()
            await row.get_by_role("link").click()
            await page.wait_for_url(f"{api_url}/inbox/tasks/{task.task_id}")
            main = await page.inner_text("main")
            assert ref in main
            assert MARKED_UP in main  # escaped, shown as typed
            assert "Sixth email today about the same closed repair" in main
            assert await page.locator("td b").count() == 0
            assert "Formal warning" in main  # the letters sent so far
            assert "raising the same matter again and again" in main  # behaviour summary
            outcomes = page.get_by_role("group", name="Outcome").get_by_role("radio")
            assert await outcomes.count() == 3

            # submitted without a reason or the factors: the errors are shown, input kept
            await page.get_by_label("Unacceptable", exact=True).check()
            await page.get_by_label("Number of instances").fill("14")
            async with page.expect_navigation() as invalid:
                await page.get_by_role("button", name="Record decision").click()
            response = await invalid.value
            assert response is not None and response.status == 422
            summary = await page.get_by_role("alert").inner_text()
            assert (
                "There is a problem" in summary
                and "Internal note (reason): this cannot be empty" in summary
            )
            assert "Levels of contact: this cannot be empty" in summary
            assert "this cannot be empty" in await page.locator("#reason-error").inner_text()
            assert await page.locator("#factors-language-error").is_visible()
            assert await page.get_by_label("Unacceptable", exact=True).is_checked()
            assert await page.get_by_label("Number of instances").input_value() == "14"
            assert (await stack_records.get_task(task.task_id)).status == "open"  # type: ignore[union-attr]
            await page.screenshot(path=str(tmp_path / "inbox-invalid-decision.png"), full_page=True)

            # filled in properly: recorded, confirmed, gone from the list
            await page.get_by_label("Levels of contact").fill("40 emails in two weeks")
            await page.get_by_label("Language used").fill("demanding, not abusive")
            await page.get_by_label("The customer's needs and circumstances").fill(
                "no known support needs; asked and none disclosed"
            )
            await page.get_by_label("Internal note (reason)").fill(
                "Persistent despite two warnings."
            )
            await page.get_by_role("button", name="Record decision").click()
            await page.wait_for_url(f"{api_url}/inbox?done={task.task_id}")
            confirmation = await page.get_by_role("status").inner_text()
            assert f"assessment task for customer {ref} was recorded" in confirmation
            assert await page.locator("tr", has_text=ref).count() == 0
            await page.screenshot(path=str(tmp_path / "inbox-after-decision.png"), full_page=True)
        finally:
            await browser.close()

    state = await state_when(handle, lambda s: s.stage == "protocol_authorisation")
    assert [t.kind for t in state.open_tasks] == ["protocol_authorisation"]
    assert (await handle.query(CaseWorkflow.state)).stage == "protocol_authorisation"
    decided = await stack_records.get_task(task.task_id)
    assert decided is not None and decided.status == "decided"
    assert (decided.outcome, decided.decided_by, decided.decided_role) == (
        "unacceptable",
        "manager-mo",
        "manager",
    )
    assert decided.decision is not None and decided.decision["factors"]["instances"] == 14  # type: ignore[index]


async def test_without_a_cookie_the_inbox_sends_you_to_sign_in(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        for path in ("/inbox", "/inbox/tasks/anything"):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/inbox/sign-in"
    async with httpx.AsyncClient(base_url=api_url, cookies={"ucb_token": "forged.x.y"}) as http:
        forged = await http.get("/inbox")
        assert forged.status_code == 303
        assert 'ucb_token=""' in forged.headers["set-cookie"]  # the bad cookie is dropped
    async with httpx.AsyncClient(base_url=api_url) as http:
        sign_in = await http.get("/inbox/sign-in")
        assert sign_in.status_code == 200 and 'name="token"' in sign_in.text


async def test_signing_in_sets_the_cookie_and_signing_out_clears_it(
    api_url: str, token_for: Callable[..., str]
) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        bad = await http.post("/inbox/sign-in", data={"token": "nope"})
        assert bad.status_code == 400 and "That token cannot be used" in bad.text
        assert "ucb_token" not in http.cookies
        good = await http.post("/inbox/sign-in", data={"token": token_for("director")})
        assert good.status_code == 303 and good.headers["location"] == "/inbox"
        set_cookie = good.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/" in set_cookie
        assert (await http.get("/inbox")).status_code == 200
        token = http.cookies["ucb_token"]
        out = await http.post("/inbox/sign-out")
        assert out.status_code == 303 and "ucb_token" not in http.cookies
        assert (await http.get("/inbox")).status_code == 303
        # Signing out revoked the token itself: a copy of it opens nothing.
        copied = await http.get("/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        assert copied.status_code == 401 and "revoked" in copied.text
        http.cookies.set("ucb_token", token)
        assert (await http.get("/inbox")).status_code == 303


async def test_a_contractor_gets_403(api_url: str, token_for: Callable[..., str]) -> None:
    contractor = {"ucb_token": token_for("contractor", user="gas-co")}
    async with httpx.AsyncClient(base_url=api_url, cookies=contractor) as http:
        for path in ("/inbox", "/inbox/tasks/anything"):
            response = await http.get(path)
            assert response.status_code == 403, path
            assert "text/html" in response.headers["content-type"]
            assert "You cannot use the inbox" in response.text


async def test_a_form_posted_from_elsewhere_decides_nothing_and_the_cookie_is_no_api_key(
    api_url: str,
    worker: Worker,
    client: Client,
    settings: Settings,
    stack_records: Records,
    token_for: Callable[..., str],
) -> None:
    ref = new_ref("CSRF")
    await stack_records.upsert_customer(ref, datetime.now(UTC), email=f"{ref.lower()}@example.org")
    handle = await case_awaiting_assessment(client, settings, ref)
    task = await open_task(handle, "behaviour_assessment")

    async def stored() -> bool:
        return await stack_records.get_task(task.task_id) is not None

    await eventually(stored)
    manager = {"ucb_token": token_for("manager", user="manager-mo")}
    decision = {
        "outcome": "unacceptable",
        "reason": "Forged",
        "factors.instances": "3",
        "factors.contact_levels": "x",
        "factors.language": "x",
        "factors.needs_and_circumstances": "x",
    }
    async with httpx.AsyncClient(base_url=api_url, cookies=manager) as http:
        # A page on another site can make the browser post the form with the cookie...
        forged = await http.post(f"/inbox/tasks/{task.task_id}", data=decision)
        assert forged.status_code == 403 and "cannot be used" in forged.text
        wrong = await http.post(f"/inbox/tasks/{task.task_id}", data={**decision, "csrf": "0" * 64})
        assert wrong.status_code == 403
        # ...and the cookie opens no door to the case API.
        api = await http.get("/v1/tasks")
        assert api.status_code == 401
    row = await stack_records.get_task(task.task_id)
    assert row is not None and row.status == "open"  # nothing was decided
