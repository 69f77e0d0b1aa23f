"""The reports page in a real headless Chromium: a manager opens /reports over a seeded set
of cases and sees every chart and table, with figures computed here independently (plain
Python over the seed, never the report's SQL), and downloads a section's CSV; a contractor
and an officer are refused."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from policy.reporting import EQUALITY_CHARACTERISTICS, default_period, suppress
from records.db import make_engine, make_sessionmaker
from records.models import (
    Case,
    Customer,
    CustomerEquality,
    Incident,
    Letter,
    ProtocolRecord,
    Task,
)
from records.reports import build_report
from records.repository import Records
from reports.charts import charts_for
from reports.tables import label_for
from settings import Settings
from tests.conftest import UNTHROTTLED
from tests.e2e.browser import CHROMIUM_ARGS

PROFILE: Literal["housing_solutions"] = "housing_solutions"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The page needs only the records: no Temporal, no SMTP server."""
    return Settings(
        environment="test",
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        temporal_address="127.0.0.1:1",
        task_queue=f"ucb-test-{uuid.uuid4().hex[:8]}",
        policy_profile=PROFILE,
        rate_limit_intake=UNTHROTTLED,
        rate_limit_intake_per_address=UNTHROTTLED,
        rate_limit_sign_in=UNTHROTTLED,
        rate_limit_sign_in_per_address=UNTHROTTLED,
    )


@dataclass
class Seed:
    """What was put in the records, and the figures expected from it."""

    now: datetime
    refs: list[str]
    rows: list[Any] = field(default_factory=list)
    in_force: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    overdue_refs: list[str] = field(default_factory=list)
    by_category: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    letter_kinds: Counter[str] = field(default_factory=Counter)
    letter_delivery: Counter[str] = field(default_factory=Counter)
    letters_sent: int = 0
    undeliverable: int = 0
    police_reports: int = 0
    ethnicity: dict[str, str] = field(default_factory=dict)
    restricted: set[str] = field(default_factory=set)


def seeded(now: datetime) -> Seed:
    """Fourteen customers of the profile (and one of another profile, and records outside
    the period, which must not count): restrictions, reviews, tasks, incidents, letters and
    equality monitoring. The expectations are worked out alongside, by hand."""
    run = uuid.uuid4().hex[:6].upper()
    refs = [f"RPT-{run}-{n:02d}" for n in range(14)]
    seed = Seed(now, refs)

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    add = seed.rows.append

    def case_key(n: int) -> str:
        return f"{refs[n]}:1"

    ethnicity = ["white_british"] * 7 + ["asian_indian"] * 5 + ["black_caribbean"] * 2
    for n, ref in enumerate(refs):
        add(Customer(customer_ref=ref, name=f"Customer {n}", updated_at=ago(30)))
        add(
            Case(
                case_key=case_key(n),
                workflow_id=f"case-{ref}",
                run_key=f"run-{ref}",
                episode=1,
                customer_ref=ref,
                profile=PROFILE,
                stage="warnings",
                opened_at=ago(25),
                updated_at=ago(1),
            )
        )
        add(
            CustomerEquality(
                customer_ref=ref,
                ethnicity=ethnicity[n],
                disability="yes" if n < 6 else "no",
                recorded_by="officer-eq",
                updated_at=ago(20),
            )
        )
    # Another landlord's case: none of its records count.
    other = f"RPT-{run}-MAGNA"
    add(Customer(customer_ref=other, updated_at=ago(30)))
    add(
        Case(
            case_key=f"{other}:1",
            workflow_id=f"case-{other}",
            run_key=f"run-{other}",
            episode=1,
            customer_ref=other,
            profile="magna",
            stage="protocol",
            opened_at=ago(25),
            updated_at=ago(1),
        )
    )

    def protocol(
        n: int | None,
        kind: str,
        status: str,
        authorised: datetime,
        review: datetime,
        updated: datetime,
    ) -> None:
        ref, key = (refs[n], case_key(n)) if n is not None else (other, f"{other}:1")
        add(
            ProtocolRecord(
                protocol_id=f"p-{uuid.uuid4().hex[:12]}",
                case_key=key,
                customer_ref=ref,
                status=status,
                kind=kind,
                terms={"contact_methods": ["letter"]},
                arrangements=[],
                authorised_by="hos-1",
                authorised_at=authorised,
                next_review_at=review,
                immediate=kind == "immediate_action",
                updated_at=updated,
            )
        )
        if n is None:
            return
        if status == "in_force":
            seed.in_force[kind] += 1
        if authorised >= ago(20):
            seed.started[kind] += 1
        if status != "in_force":
            seed.ended[status] += 1
        seed.restricted.add(ref)

    protocol(0, "protocol", "in_force", ago(10), now + timedelta(days=10), ago(10))
    protocol(1, "protocol", "in_force", ago(100), now + timedelta(days=60), ago(100))
    protocol(2, "protocol", "in_force", ago(200), ago(3), ago(200))  # its review is overdue
    protocol(7, "immediate_action", "in_force", ago(5), now + timedelta(days=40), ago(5))
    protocol(8, "protocol", "ended", ago(190), ago(8), ago(6))
    protocol(None, "protocol", "in_force", ago(9), now + timedelta(days=90), ago(9))

    def task(
        n: int, kind: str, role: str, created: datetime, due: datetime, **decided: Any
    ) -> None:
        add(
            Task(
                task_id=f"t-{uuid.uuid4().hex[:12]}",
                case_key=case_key(n),
                customer_ref=refs[n],
                kind=kind,
                role=role,
                status="decided" if decided else "open",
                created_at=created,
                due_at=due,
                context={},
                **decided,
            )
        )

    task(2, "protocol_review", "head_of_service", ago(4), ago(3))
    seed.overdue_refs.append(refs[2])
    task(3, "initial_warning", "officer", ago(1), now + timedelta(days=4))
    task(4, "behaviour_assessment", "manager", ago(2), now + timedelta(days=3))
    decided = {"decided_by": "someone", "decided_role": "officer"}
    task(
        5,
        "initial_warning",
        "officer",
        ago(9),
        ago(4),
        outcome="issued",
        decided_at=ago(8),
        **decided,
    )
    task(
        6,
        "police_report",
        "manager",
        ago(8),
        ago(3),
        outcome="reported",
        decided_at=ago(7),
        **decided,
    )
    seed.police_reports += 1
    task(
        0,
        "appeal_decision",
        "director",
        ago(12),
        ago(7),
        outcome="upheld",
        decided_at=ago(5),
        **decided,
    )

    incidents = [
        *[(n, "verbal_abuse", "phone") for n in (0, 1)],
        *[(n, "verbal_abuse", "email") for n in (3, 4)],
        *[(n, "physical_violence", "in_person") for n in (5, 6)],
        (7, "threat_of_violence", "phone"),
        *[(n, "threat_of_violence", "in_person") for n in (8, 9)],
        *[(n, "unreasonable_persistence", "email") for n in (10, 11, 12)],
        *[(n, "unreasonable_persistence", "phone") for n in (13, 2)],
    ]
    for i, (n, category, channel) in enumerate(incidents):
        add(incident(refs[n], case_key(n), category, channel, ago(1 + i)))
        seed.by_category[category] += 1
        seed.by_channel[channel] += 1
    # Not counted: before the period, not yet under a case, another landlord's.
    add(incident(refs[0], case_key(0), "verbal_abuse", "phone", ago(45)))
    add(incident(refs[1], None, "verbal_abuse", "phone", ago(2)))
    add(incident(other, f"{other}:1", "physical_violence", "phone", ago(2)))

    letters = [
        (0, "initial_warning", "email", "sent"),
        (1, "initial_warning", "email", "sent"),
        (3, "initial_warning", "email", "sent"),
        (4, "formal_warning", "post", "stored"),
        (5, "formal_warning", "post", "stored"),
        (6, "protocol", "email", "undeliverable"),
    ]
    for i, (n, kind, delivery, status) in enumerate(letters):
        add(letter(case_key(n), kind, delivery, status, ago(2 + i)))
        seed.letter_kinds[kind] += 1
        seed.letter_delivery[delivery] += 1
        seed.letters_sent += status in ("sent", "stored")
        seed.undeliverable += status == "undeliverable"
    add(letter(case_key(0), "initial_warning", "email", "sent", ago(50)))
    seed.ethnicity = dict(zip(refs, ethnicity, strict=True))
    return seed


def incident(ref: str, key: str | None, category: str, channel: str, at: datetime) -> Incident:
    return Incident(
        incident_id=f"i-{uuid.uuid4().hex[:12]}",
        case_key=key,
        customer_ref=ref,
        category=category,
        channel=channel,
        occurred_at=at,
        reported_at=at,
        reported_by="crm",
        description="Seeded for the reports page",
    )


def letter(key: str, kind: str, delivery: str, status: str, at: datetime) -> Letter:
    return Letter(
        letter_id=f"{key}:{kind}:{uuid.uuid4().hex[:8]}",
        case_key=key,
        kind=kind,
        delivery=delivery,
        status=status,
        recipient="customer@example.org" if delivery == "email" else None,
        subject=kind,
        body_html="<p>letter</p>",
        body_text="letter",
        created_at=at,
    )


@pytest.fixture
async def seed(settings: Settings, stack_records: Records) -> AsyncIterator[Seed]:
    """The seeded records (the API's own database, migrated by ``stack_records``)."""
    engine = make_engine(settings.database_url)
    try:
        planted = seeded(datetime.now(UTC))
        async with make_sessionmaker(engine).begin() as session:
            customers = [r for r in planted.rows if isinstance(r, Customer | Case)]
            session.add_all(customers)
            await session.flush()
            session.add_all([r for r in planted.rows if r not in customers])
        yield planted
    finally:
        await engine.dispose()


def counts(rows: list[list[str]]) -> dict[str, str]:
    """A two-column table as label -> figure."""
    return {row[0]: row[1] for row in rows}


async def table_rows(page: Any, table_id: str) -> list[list[str]]:
    """The body rows of one table on the page, as the browser shows them."""
    rows: list[list[str]] = await page.eval_on_selector_all(
        f"#table-{table_id} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))",
    )
    return rows


async def test_a_manager_reads_the_reports_page_and_downloads_a_csv(
    chromium: Path,
    api_url: str,
    settings: Settings,
    seed: Seed,
    token_for: Callable[..., str],
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    period = default_period(seed.now)
    engine = make_engine(settings.database_url)
    try:
        report = await build_report(
            make_sessionmaker(engine), profile=PROFILE, period=period, now=seed.now
        )
    finally:
        await engine.dispose()
    charts = charts_for(report)  # which charts there are (their figures are checked below)
    assert {f"equality-{c.replace('_', '-')}" for c in EQUALITY_CHARACTERISTICS} <= {
        c.chart_id for c in charts
    }

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(base_url=api_url, accept_downloads=True)
            page = await context.new_page()
            blocked: list[str] = []
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            await page.goto("/inbox/sign-in")
            await page.get_by_label("Your access token").fill(token_for("manager", user="mgr-rep"))
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{api_url}/inbox")
            # the inbox links to the reports; /reports is the same page
            assert await page.get_by_role("link", name="Reports").count() == 1
            response = await page.goto("/reports")
            assert response is not None and response.status == 200
            assert urlparse(page.url).path == "/inbox/reports"
            assert await page.get_by_role("heading", name="Reports", exact=True).is_visible()

            # every chart, visible, an image named by its title; every table
            assert await page.locator("svg.chart").count() == len(charts)
            for chart in charts:
                svg = page.locator(f"svg#chart-{chart.chart_id}")
                assert await svg.is_visible(), chart.chart_id
                assert await svg.get_attribute("role") == "img"
                named = page.get_by_role("img", name=chart.title, exact=True)
                assert await named.count() >= 1, chart.title
                assert await page.locator(f"#table-{chart.table_id}").is_visible()
            assert (
                await page.locator("table caption").count() == await page.locator("table").count()
            )

            # restrictions in force and started, by kind
            kinds = await table_rows(page, "restrictions-by-kind")
            assert {r[0]: (r[1], r[2]) for r in kinds} == {
                label_for(k): (str(seed.in_force[k]), str(seed.started[k]))
                for k in seed.in_force | seed.started
            }
            assert counts(await table_rows(page, "restrictions-ended")) == {
                label_for(k): str(n) for k, n in seed.ended.items()
            }
            # the overdue review: counted, listed, linked to its case
            summary = counts(await table_rows(page, "reviews-summary"))
            assert summary["Overdue now"] == str(len(seed.overdue_refs)) == "1"
            overdue = await table_rows(page, "reviews-overdue")
            assert [r[0] for r in overdue] == seed.overdue_refs
            link = page.locator("#table-reviews-overdue a")
            assert await link.get_attribute("href") == f"/inbox/cases?ref={seed.overdue_refs[0]}"
            # incidents by category and by channel
            assert counts(await table_rows(page, "incidents-by-category")) == {
                label_for(k): str(n) for k, n in seed.by_category.items()
            }
            assert counts(await table_rows(page, "incidents-by-channel")) == {
                label_for(k): str(n) for k, n in seed.by_channel.items()
            }
            incidents = counts(await table_rows(page, "incidents-summary"))
            assert incidents["Incidents in the period"] == str(seed.by_category.total())
            # letters
            assert counts(await table_rows(page, "letters-by-kind")) == {
                label_for(k): str(n) for k, n in seed.letter_kinds.items()
            }
            assert counts(await table_rows(page, "letters-by-delivery")) == {
                label_for(k): str(n) for k, n in seed.letter_delivery.items()
            }
            letters = list(counts(await table_rows(page, "letters-summary")).values())
            assert letters == [str(seed.letters_sent), str(seed.undeliverable)]
            # staff safety
            assert list(counts(await table_rows(page, "staff-safety")).values()) == [
                str(seed.by_category["physical_violence"]),
                str(seed.by_category["threat_of_violence"]),
                str(seed.police_reports),
            ]
            # equality: 7, 5 and 2 customers; the 2 shown as "<5", so are the restricted
            groups = Counter(seed.ethnicity.values())
            restricted = Counter(seed.ethnicity[ref] for ref in seed.restricted)
            ethnicity = {r[0]: r[1:3] for r in await table_rows(page, "equality-ethnicity")}
            for value, customers in groups.items():
                assert ethnicity[label_for(value)] == [
                    suppress(customers),
                    suppress(restricted[value]),
                ], value
            assert ethnicity[label_for("black_caribbean")][0] == "<5"
            assert ethnicity[label_for("white_british")][0] == "7"
            assert ethnicity["Not recorded"] == ["0", "0"]
            equality_svg = await page.locator("svg#chart-equality-ethnicity").inner_html()
            assert (
                "&lt;5" in equality_svg
                or "<5" in await page.locator("svg#chart-equality-ethnicity desc").inner_text()
            )

            assert blocked == []  # the SVGs need no inline style the CSP would block
            await page.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
            await page.emulate_media(media="print")
            assert not await page.locator(".report-controls").is_visible()
            assert not await page.locator(".site-header").is_visible()
            await page.screenshot(path=str(tmp_path / "reports-print.png"), full_page=True)
            await page.emulate_media(media="screen")

            # the incidents section as CSV, through the page's link
            async with page.expect_download() as download_info:
                await page.get_by_role("link", name="Download CSV: Incidents").click()
            download = await download_info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert saved.name.endswith(".csv") and "incidents" in saved.name
            lines = list(csv.reader(io.StringIO(saved.read_text("utf-8"))))
            start = lines.index(["Incidents in the period, by what happened"])
            assert lines[start + 1] == ["Category", "Incidents"]
            end = lines.index([], start) if [] in lines[start:] else len(lines)
            block = lines[start + 2 : end]
            assert {r[0]: r[1] for r in block} == {
                label_for(k): str(n) for k, n in seed.by_category.items()
            }
            href = await page.get_by_role("link", name="Download CSV: Incidents").get_attribute(
                "href"
            )
            assert href is not None
            query = parse_qs(urlparse(href).query)
            assert query["profile"] == [PROFILE] and query["from"] and query["to"]
        finally:
            await browser.close()


async def test_only_managers_and_above_and_auditors_read_reports(
    api_url: str, token_for: Callable[..., str], seed: Seed
) -> None:
    for role in ("contractor", "officer"):
        cookie = {"ucb_token": token_for(role, user=f"{role}-rep")}
        async with httpx.AsyncClient(base_url=api_url, cookies=cookie) as http:
            page = await http.get("/inbox/reports")
            assert page.status_code == 403, role
            assert "You cannot read reports" in page.text
            assert (await http.get("/inbox/reports/incidents.csv")).status_code == 403
            assert (await http.get("/reports", follow_redirects=True)).status_code == 403
    for role in ("manager", "head_of_service", "director", "auditor"):
        cookie = {"ucb_token": token_for(role, user=f"{role}-rep")}
        async with httpx.AsyncClient(base_url=api_url, cookies=cookie, timeout=30) as http:
            page = await http.get("/inbox/reports", params={"profile": PROFILE})
            assert page.status_code == 200, role
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
    async with httpx.AsyncClient(base_url=api_url) as http:
        anonymous = await http.get("/inbox/reports")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/inbox/sign-in"
    manager = {"ucb_token": token_for("manager", user="manager-rep")}
    async with httpx.AsyncClient(base_url=api_url, cookies=manager) as http:
        wrong = await http.get("/inbox/reports", params={"from": "2026-10-10", "to": "2026-10-01"})
        assert wrong.status_code == 400 and "must be on or after its start" in wrong.text
        assert (await http.get("/inbox/reports/nothing.csv")).status_code == 404
        far = await http.get("/inbox/reports", params={"to": "0001-01-01"})
        assert far.status_code == 400 and "Enter a date" in far.text
