"""/docs (Swagger UI) and /redoc in a real headless Chromium that may reach nothing but
the API: every asset comes from the API itself, and the operations are listed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.browser import CHROMIUM_ARGS

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


async def test_swagger_ui_and_redoc_work_with_no_network_but_the_api(
    chromium: Path, api_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import Route, async_playwright

    blocked: list[str] = []
    served: list[str] = []

    async def local_only(route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            served.append(url)
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(base_url=api_url)
            await context.route("**/*", local_only)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # Swagger UI: every operation is listed, by method and path
            await page.goto("/docs")
            incidents = page.locator(
                ".opblock-post .opblock-summary-path", has_text="/v1/incidents"
            )
            await incidents.first.wait_for(timeout=30_000)
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert "/v1/tasks/{task_id}/complete" in {
                p.strip().replace("\u200b", "") for p in paths
            }
            assert len(paths) > 20
            await page.screenshot(path=str(tmp_path / "swagger-ui.png"), full_page=False)

            # ReDoc: the operations by their summaries, and the method and path of one
            await page.goto("/redoc")
            heading = page.locator("h2", has_text="Post Incident").first
            await heading.wait_for(timeout=30_000)
            headings = {h.strip() for h in await page.locator("h2").all_inner_texts()}
            for summary in ("Post Incident", "Complete", "List Tasks", "Get Case"):
                assert summary in headings, summary
            text = await page.inner_text("body")
            assert "/v1/incidents" in text
            await page.screenshot(path=str(tmp_path / "redoc.png"), full_page=False)
            assert not errors, errors
        finally:
            await browser.close()

    assert not blocked, f"the docs pages tried to reach beyond the API: {blocked}"
    assert any("/docs-assets/swagger-ui-bundle.js" in url for url in served)
    assert any("/docs-assets/redoc.standalone.js" in url for url in served)
