"""The Temporal Web UI of `make run` in a real headless Chromium: it decodes a case's
payloads for an operator signed in at the API, and for no one else.

The case's payloads are encrypted (starter/codec.py); the UI decodes them by calling the
API's ``/codec/decode`` from the browser, with the ``ucb_token`` cookie the inbox sign-in
set (the UI includes cross-origin credentials; the API's CORS admits the UI's origin).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM_ARGS
from tests.e2e.stack import Stack, request_json

pytestmark = pytest.mark.slow

REF = "WEBUI-1"
WORKFLOW_ID = f"ucb-case-{REF}"
# Who reported the incident: in the encrypted signal payload only (not in the workflow id or
# a search attribute), so the UI can show it only once the payload is decoded. (The
# description is no use here: the API keeps it in the records and out of Temporal.)
MARKER = "caretaker-marker-7f3c"
CODEC_ERROR = "Codec Server could not connect"
# The UI is a large single-page app on a shared machine: generous but bounded waits.
UI_WAIT_MS = 60_000


def _open_case(stack: Stack) -> None:
    status, accepted = request_json(
        "POST",
        f"{stack.api}/v1/incidents",
        {
            "customer_ref": REF,
            "category": "verbal_abuse",
            "channel": "phone",
            "occurred_at": "2026-11-20T10:00:00Z",
            "description": "Shouted at the caretaker about the lift",
            "reported_by": MARKER,
            "customer": {"name": "Pat Example", "email": "pat@example.org"},
        },
        token=stack.token("case_system"),
    )
    assert status == 202, accepted
    officer = stack.token("officer")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, case = request_json("GET", f"{stack.api}/v1/cases/{REF}", token=officer)
        if status == 200 and case.get("incidents"):
            return
        time.sleep(0.5)
    raise AssertionError(f"case {REF} was never opened: {status} {case}")


async def test_the_web_ui_decodes_a_case_for_a_signed_in_operator_only(
    stack: Stack,
    chromium: Path,
    tmp_path: Path,
) -> None:
    from playwright.async_api import Page, async_playwright, expect

    stack.start()
    try:
        _open_case(stack)
        ui = f"http://127.0.0.1:{stack.ports['TEMPORAL_UI']}"
        workflow_page = f"{ui}/namespaces/default/workflows/{WORKFLOW_ID}"

        async def signal_event_expanded(page: Page, decodes: list[int]) -> None:
            """The case's workflow page, its history, the incident signal opened."""
            page.on(
                "response",
                lambda r: (
                    decodes.append(r.status) if r.url.startswith(f"{stack.api}/codec/") else None
                ),
            )
            await page.goto(workflow_page)
            await page.get_by_test_id("history-tab").click(timeout=UI_WAIT_MS)
            signaled = page.get_by_test_id("event-summary-row").filter(
                has_text="Workflow Execution Signaled"
            )
            await signaled.first.click(timeout=UI_WAIT_MS)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            try:
                # An operator signs in at the API (the inbox's sign-in page), then opens the UI.
                operator = await (await browser.new_context()).new_page()
                await operator.goto(f"{stack.api}/inbox/sign-in")
                await operator.get_by_label("Your access token").fill(
                    stack.token("operator", user="operator-1")
                )
                await operator.get_by_role("button", name="Sign in").click()
                await operator.wait_for_url(f"{stack.api}/inbox")
                assert any(c["name"] == "ucb_token" for c in await operator.context.cookies())
                decoded: list[int] = []
                await signal_event_expanded(operator, decoded)
                await expect(operator.get_by_text(MARKER).first).to_be_visible(timeout=UI_WAIT_MS)
                await expect(operator.get_by_text(CODEC_ERROR)).to_have_count(0)
                await operator.screenshot(path=str(tmp_path / "webui-decoded.png"), full_page=True)
                assert decoded and set(decoded) == {200}, decoded

                # A browser that has not signed in: the codec refuses it, the UI says so and
                # shows the payloads as they are stored (encrypted).
                stranger = await (await browser.new_context()).new_page()
                refused: list[int] = []
                await signal_event_expanded(stranger, refused)
                # The UI records the codec's refusal (its codec status reads this).
                await expect(stranger.get_by_text(CODEC_ERROR).first).to_be_attached(
                    timeout=UI_WAIT_MS
                )
                await stranger.wait_for_timeout(3_000)  # any late decode would have landed
                await stranger.screenshot(path=str(tmp_path / "webui-refused.png"), full_page=True)
                assert refused and set(refused) == {401}, refused
                assert await stranger.get_by_text(MARKER).count() == 0
                assert MARKER not in await stranger.content()
                assert REF in await stranger.inner_text("body")  # the page itself did load
            finally:
                await browser.close()
    finally:
        # In order (SIGINT): the stack's children have sessions of their own.
        stopped = stack.stop()
        print("".join(stack.output[-60:]))  # shown by pytest when the test fails
    assert stopped == 0
