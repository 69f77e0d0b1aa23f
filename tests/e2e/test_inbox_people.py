"""The inbox for people, in a real headless Chromium: find a case (in full, or only that
it exists and then by breaking glass), claim and release a task, open a letter as sent,
filter the list, and read times in England's own zone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from tests.e2e.browser import CHROMIUM_ARGS
from tests.support import eventually
from tests.workflows.helpers import climb_to_assessment, new_ref, open_task

LONDON_TIME = re.compile(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} (GMT|BST)\b")


async def test_staff_find_claim_release_read_letters_and_filter(
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

    ref = new_ref("PEOPLE")
    await stack_records.upsert_customer(ref, datetime.now(UTC), email=f"{ref.lower()}@example.org")
    handle = await climb_to_assessment(client, settings, ref)
    task = await open_task(handle, "behaviour_assessment")

    async def stored() -> bool:
        case = await stack_records.latest_case(ref)
        return (
            case is not None
            and await stack_records.get_task(task.task_id) is not None
            and len(await stack_records.letters(case.case_key)) >= 1
        )

    await eventually(stored)
    case = await stack_records.latest_case(ref)
    assert case is not None
    letter = (await stack_records.letters(case.case_key))[0]

    # The release rules, through the API: the claimant may, a colleague in the task's own
    # role may not; nothing claimed, nothing to release.
    def bearer(user: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(role, user=user)}"}

    async with httpx.AsyncClient(base_url=api_url) as http:
        release = f"/v1/tasks/{task.task_id}/release"
        assert (
            await http.post(release, headers=bearer("manager-mo", "manager"))
        ).status_code == 409
        claimed = await http.post(
            f"/v1/tasks/{task.task_id}/claim", headers=bearer("manager-al", "manager")
        )
        assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "manager-al"
        other = await http.post(release, headers=bearer("manager-mo", "manager"))
        assert other.status_code == 403 and "manager-al" in other.text
        officer = await http.post(release, headers=bearer("officer-9", "officer"))
        assert officer.status_code == 403  # not a role that decides the task at all
        mine = await http.post(release, headers=bearer("manager-al", "manager"))
        assert mine.status_code == 200 and mine.json()["claimed_by"] is None
    trail = await stack_records.audit_trail(case.case_key)
    assert any(e.action == "task_claim_released" and e.actor == "manager-al" for e in trail)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(base_url=api_url)
            page = await context.new_page()

            async def sign_in(token: str) -> None:
                await page.goto("/inbox/sign-in")
                await page.get_by_label("Your access token").fill(token)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url(f"{api_url}/inbox")

            await sign_in(token_for("manager", user="manager-mo"))

            # Times are shown in England's zone, named.
            row = page.locator("tr", has_text=ref)
            assert LONDON_TIME.search(await row.inner_text())
            assert "UTC" not in await row.inner_text()

            # Filter by kind, with the keyboard: the task stays for its kind...
            await page.get_by_label("Kind of task").select_option(
                label="Unacceptable behaviour assessment"
            )
            await page.get_by_label("Due before").focus()
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r".*kind=behaviour_assessment.*"))
            assert await page.locator("tr", has_text=ref).count() == 1
            # ...and goes for another kind, or a due date before it is due.
            await page.get_by_label("Kind of task").select_option(label="Appeal decision")
            await page.get_by_role("button", name="Filter tasks").click()
            await page.wait_for_url(re.compile(r".*kind=appeal_decision.*"))
            assert await page.locator("tr", has_text=ref).count() == 0
            assert await page.get_by_label("Kind of task").input_value() == "appeal_decision"
            await page.goto(f"/inbox?due_before={(task.due_at - timedelta(days=2)):%Y-%m-%d}")
            assert await page.locator("tr", has_text=ref).count() == 0
            await page.goto(f"/inbox?due_before={(task.due_at + timedelta(days=2)):%Y-%m-%d}")
            assert await page.locator("tr", has_text=ref).count() == 1
            bad = await page.goto("/inbox?due_before=someday")
            assert bad is not None and bad.status == 400
            assert "Enter a date" in await page.get_by_role("alert").inner_text()

            # Find the case by reference: the manager's open task lets them read it in full.
            await page.goto("/inbox")
            await page.get_by_label("Find a case by customer reference").fill(ref)
            await page.get_by_role("button", name="Find case").click()
            await page.wait_for_url(f"{api_url}/inbox/cases?ref={ref}")
            main = await page.inner_text("main")
            assert "Sixth email today about the same closed repair" in main
            assert "Unacceptable behaviour assessment" in main  # its open task
            assert LONDON_TIME.search(main)

            # Open a letter as sent.
            letters = page.get_by_role("region", name="Letters")
            await letters.get_by_role("link").first.click()
            await page.wait_for_url(re.compile(r".*/inbox/letters/.*"))
            main = await page.inner_text("main")
            assert letter.subject in main
            first_line = next(line for line in letter.body_text.splitlines() if line.strip())
            assert first_line.strip() in main
            frame = page.frame_locator("iframe.letter-frame")
            assert first_line.strip()[:20] in await frame.locator("body").inner_text()
            assert await page.locator("iframe.letter-frame").get_attribute("sandbox") == ""
            await page.screenshot(path=str(tmp_path / "inbox-letter.png"), full_page=True)

            # Claim, then release, the task on its page.
            await page.goto(f"/inbox/tasks/{task.task_id}")
            await page.get_by_role("button", name="Claim task").click()
            await page.wait_for_url(re.compile(r".*claimed=1"))
            assert "You have claimed this task" in await page.get_by_role("status").inner_text()
            assert "Claimed by you" in await page.inner_text("main")
            held = await stack_records.get_task(task.task_id)
            assert held is not None and held.claimed_by == "manager-mo"
            await page.get_by_role("button", name="Release task").click()
            await page.wait_for_url(re.compile(r".*released=1"))
            assert "Nobody has claimed this task" in await page.inner_text("main")
            freed = await stack_records.get_task(task.task_id)
            assert freed is not None and freed.claimed_by is None
            trail = await stack_records.audit_trail(case.case_key)
            actions = {(e.actor, e.action) for e in trail}
            assert ("manager-mo", "POST /inbox/tasks/{task_id}/claim") in actions
            assert ("manager-mo", "POST /inbox/tasks/{task_id}/release") in actions
            assert ("manager-mo", "task_claim_released") in actions

            # An officer not involved sees only that the case exists, and breaks glass.
            await page.get_by_role("button", name="Sign out").click()
            await sign_in(token_for("officer", user="officer-outsider"))
            await page.goto(f"/inbox/cases?ref={ref}")
            main = await page.inner_text("main")
            assert "A case exists for this customer" in main
            assert "Sixth email today" not in main
            blocked = await page.goto(f"/inbox/letters/{letter.letter_id}")
            assert blocked is not None and blocked.status == 403
            await page.goto(f"/inbox/cases?ref={ref}")
            reason = page.get_by_label("Why you need to open this case")
            await reason.fill("too short")
            await page.get_by_role("button", name="Record my reason and open the case").click()
            assert "at least 15 characters" in await page.get_by_role("alert").inner_text()
            assert await reason.input_value() == "too short"
            await reason.fill("Covering for the manager on leave; customer phoned today")
            await page.get_by_role("button", name="Record my reason and open the case").click()
            await page.wait_for_url(f"{api_url}/inbox/cases?ref={ref}")
            main = await page.inner_text("main")
            assert "Sixth email today about the same closed repair" in main
            assert "You opened this case with a recorded reason" in main
            await page.screenshot(path=str(tmp_path / "inbox-case.png"), full_page=True)
        finally:
            await browser.close()

    trail = await stack_records.audit_trail(case.case_key)
    glass = [e for e in trail if e.action == "break_glass"]
    assert [(e.actor, e.reason) for e in glass] == [
        ("officer-outsider", "Covering for the manager on leave; customer phoned today")
    ]
    reads = [e for e in trail if e.action == "GET /inbox/cases" and e.actor == "officer-outsider"]
    assert [e.details.get("basis") for e in reads] == [
        "not_involved",
        "not_involved",
        "break_glass",
    ]
