"""The management report over real HTTP: its JSON, each section's CSV download, who may
read it, and clear refusals of bad periods and profiles."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, get_args

import httpx
import pytest
from sqlalchemy import update

from api.routes.reports import ALL, SectionName
from policy.reporting import SECTIONS
from records.db import make_engine, make_sessionmaker
from records.models import Incident
from settings import Settings
from tests.records.test_reports import MAGNA, NOW, PERIOD, expected, seed

PERIOD_QUERY = {"from": "2026-03-20", "to": "2026-04-02", "profile": MAGNA}
Auth = Callable[..., dict[str, str]]


@pytest.fixture
async def seeded(settings: Settings, stack_records: Any) -> None:
    """The records test's seed, written into the API's own database."""
    engine = make_engine(settings.database_url)
    try:
        await seed(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def test_the_section_path_takes_every_report_section_and_all() -> None:
    assert get_args(SectionName) == (*SECTIONS, ALL)


def plain(value: Any) -> Any:
    """A figure as JSON shows it (tuples as lists)."""
    return httpx.Response(200, json=value).json()


async def test_the_report_as_json_has_every_section_and_the_period_figures(
    api_url: str, auth_for: Auth, seeded: None
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answer = await http.get("/v1/reports", params=PERIOD_QUERY, headers=auth_for("director"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(SECTIONS) <= set(body)
    assert body["profile"] == MAGNA
    assert body["period_start"].startswith("2026-03-20T00:00:00")
    assert body["period_end"].startswith("2026-04-02T23:00:00")
    # Figures of the period alone do not depend on when the report was asked for.
    want = expected(MAGNA, PERIOD, NOW)
    for section in ("incidents", "letters", "appeals"):
        assert body[section] == plain(asdict(getattr(want, section))), section
    assert body["staff_safety"]["violence"] == 1
    assert [b["characteristic"] for b in body["equality"]] == [
        b.characteristic for b in want.equality
    ]


async def test_one_section_as_json_and_the_profile_default(
    api_url: str, auth_for: Auth, seeded: None, settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        letters = await http.get(
            "/v1/reports/letters", params=PERIOD_QUERY, headers=auth_for("auditor")
        )
        default = await http.get(
            "/v1/reports/staff_safety",
            params={"from": "2026-03-20", "to": "2026-04-02"},
            headers=auth_for("manager"),
        )
        everything = await http.get(
            "/v1/reports/all", params=PERIOD_QUERY, headers=auth_for("manager")
        )
    assert letters.status_code == 200, letters.text
    assert letters.json()["section"] == "letters"
    assert letters.json()["figures"] == plain(asdict(expected(MAGNA, PERIOD, NOW).letters))
    assert default.status_code == 200, default.text
    assert default.json()["profile"] == settings.policy_profile == "housing_solutions"
    # Housing Solutions had one police report in the period (t14), and the violence (i7).
    assert default.json()["figures"] == {"violence": 1, "threats": 0, "police_reports_made": 1}
    assert everything.status_code == 200
    assert set(SECTIONS) <= set(everything.json())


async def test_a_section_downloads_as_csv_table_by_table(
    api_url: str, auth_for: Auth, seeded: None
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answer = await http.get(
            "/v1/reports/incidents",
            params={**PERIOD_QUERY, "format": "csv"},
            headers=auth_for("head_of_service"),
        )
        everything = await http.get(
            "/v1/reports/all",
            params={**PERIOD_QUERY, "format": "csv"},
            headers=auth_for("auditor"),
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="ucb-report-incidents-2026-03-20-2026-04-02.csv"'
    )
    rows = list(csv.reader(io.StringIO(answer.text)))
    tables: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            tables[-1].append(row)
        else:
            tables.append([])
    captions = [table[0][0] for table in tables]
    assert captions[0] == "Incidents in the period, and cases that came back"
    summary = {row[0]: row[1] for row in tables[0][2:]}
    assert summary["Incidents in the period"] == "7"
    by_day = next(t for t in tables if t[0][0].startswith("Incidents by category, by London"))
    assert by_day[1][0] == "Day" and by_day[1][-1] == "Total"
    days = {row[0]: row for row in by_day[2:]}
    assert len(days) == 14  # every London day of the period, quiet ones too
    # The violence at 23:30 UTC on 29 March fell on the 30th in London.
    violence = by_day[1].index("Physical violence")
    assert days["2026-03-30"][violence] == "1"
    assert days["2026-03-29"][violence] == "0"
    assert everything.status_code == 200
    assert (
        'filename="ucb-report-all-2026-03-20-2026-04-02.csv"'
        in (everything.headers["content-disposition"])
    )
    assert "Ethnicity" in everything.text and "Restriction" in everything.text


async def test_csv_cells_that_look_like_formulas_are_kept_as_text(
    api_url: str, auth_for: Auth, seeded: None, settings: Settings
) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await session.execute(
                update(Incident).where(Incident.incident_id == "i10").values(channel="=cmd()")
            )
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answer = await http.get(
            "/v1/reports/incidents",
            params={**PERIOD_QUERY, "format": "csv"},
            headers=auth_for("director"),
        )
    cells = {cell for row in csv.reader(io.StringIO(answer.text)) for cell in row}
    assert "'=cmd()" in cells and "=cmd()" not in cells


@pytest.mark.parametrize("role", ["officer", "contractor", "case_system", "operator"])
async def test_officers_systems_and_operators_may_not_read_the_report(
    api_url: str, auth_for: Auth, role: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        whole = await http.get("/v1/reports", headers=auth_for(role))
        section = await http.get(
            "/v1/reports/reviews", params={"format": "csv"}, headers=auth_for(role)
        )
    assert (whole.status_code, section.status_code) == (403, 403)


@pytest.mark.parametrize(
    ("path", "params", "field", "words"),
    [
        ("/v1/reports", {"from": "2026-04-02", "to": "2026-03-20"}, "to", "before it starts"),
        ("/v1/reports", {"from": "2020-01-01", "to": "2026-01-01"}, "to", "five years"),
        ("/v1/reports", {"from": "2026-02-30"}, "from", ""),
        ("/v1/reports", {"profile": "lambeth"}, "profile", "unknown policy profile"),
        ("/v1/reports/gossip", {}, "section", ""),
        ("/v1/reports/reviews", {"format": "xlsx"}, "format", ""),
    ],
)
async def test_bad_requests_are_refused_naming_the_parameter(
    api_url: str, auth_for: Auth, path: str, params: dict[str, str], field: str, words: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answer = await http.get(path, params=params, headers=auth_for("manager"))
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"][-1] == field
    assert words in error["msg"]


async def test_the_default_period_is_the_last_thirty_london_days(
    api_url: str, auth_for: Auth
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        answer = await http.get("/v1/reports/tasks", headers=auth_for("director"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    start = datetime.fromisoformat(body["period_start"])
    end = datetime.fromisoformat(body["period_end"])
    assert 30 * 24 - 1 <= (end - start).total_seconds() / 3600 <= 30 * 24 + 1
    assert body["figures"] == {
        "open": [],
        "overdue": 0,
        "escalated": 0,
        "median_hours_to_decision": None,
    }
