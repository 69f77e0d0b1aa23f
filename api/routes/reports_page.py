"""The reports page: the management report (charts, tables beside them, how each figure is
computed) for managers, heads of service, directors and auditors.

Served under the inbox (``/inbox/reports``) so the sign-in cookie, which the API reads on
the inbox paths only (``api.auth.COOKIE_PATHS``), reaches it; ``/reports`` redirects there.
Each section's CSV is downloaded from the page's own path (``/inbox/reports/{section}.csv``)
with the same cookie: the JSON and CSV API under ``/v1/reports`` takes bearer tokens only.
Reading the report is audited (``AUDITED_READS``): it lists overdue reviews by customer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.security import HTTPBearer

from api.auth import REPORT_READERS, principal_from_request, refuse_revoked
from api.deps import settings_of
from api.routes.inbox import HEADERS, _message, _render, _to_sign_in
from api.routes.reports import MAX_DAYS
from policy.profiles import PROFILE_NAMES
from policy.reporting import (
    SECTIONS,
    Report,
    ReportPeriod,
    days_asked,
    period_of_days,
)
from records.db import make_sessionmaker
from records.reports import build_report
from reports.render import STYLESHEET, profile_title, render_report
from reports.tables import section_tables, tables_csv
from tokens import Principal

router = APIRouter(include_in_schema=False)

PAGE = "/inbox/reports"
_bearer = HTTPBearer(auto_error=False)
# The period and policy chosen on the page's form (or in a CSV link's query).
FromField = Annotated[str, Query(alias="from", max_length=40)]
ToField = Annotated[str, Query(alias="to", max_length=40)]
ProfileField = Annotated[str, Query(max_length=40)]


@dataclass(frozen=True)
class Choice:
    """The period and profile asked for, and what is wrong with them."""

    first: date
    last: date
    profile: str
    errors: dict[str, str]

    @property
    def period(self) -> ReportPeriod:
        return period_of_days(self.first, self.last)

    def query(self) -> str:
        """The choice as the page's query string."""
        return urlencode({"from": str(self.first), "to": str(self.last), "profile": self.profile})


def _choose(request: Request, start: str, end: str, profile: str, now: datetime) -> Choice:
    """The London days and profile from the form, defaulting to the 30 days up to today
    and the deployment's profile; a field that cannot be used is named in ``errors``."""
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name, text in (("from", start), ("to", end)):
        text = text.strip()[:10]
        days[name] = None
        if text:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                day = None
            if day is None or not 1900 <= day.year <= 2999:  # far dates overflow the period
                errors[name] = "Enter a date, for example 2026-10-01"
            else:
                days[name] = day
    first, last = days_asked(days["from"], days["to"], now)
    if not errors and last < first:
        errors["to"] = "The end of the period must be on or after its start"
    elif not errors and (last - first).days + 1 > MAX_DAYS:
        errors["to"] = "Choose a period of at most five years"
    chosen = profile.strip() or settings_of(request).policy_profile
    if chosen not in PROFILE_NAMES:
        errors["profile"] = "Choose a policy from the list"
        chosen = settings_of(request).policy_profile
    return Choice(first, last, chosen, errors)


async def _reader(request: Request) -> Principal | Response:
    """The caller (a bearer token, or the inbox's sign-in cookie) if they may read
    reports; otherwise the sign-in redirect or the 403 page."""
    credentials = await _bearer(request)
    try:
        principal = principal_from_request(request, credentials)
        await refuse_revoked(request, principal)
    except HTTPException:
        if credentials is not None:
            return Response("a valid bearer token is required", status_code=401, headers=HEADERS)
        return _to_sign_in()
    request.state.principal = principal
    if not principal.roles & REPORT_READERS:  # the refusal is on the audit trail
        return _message(
            request,
            403,
            "You cannot read reports",
            "Reports are for managers, heads of service, directors and auditors. "
            f"Your roles are: {principal.role_names.replace(',', ', ') or 'none'}.",
            principal,
        )
    return principal


async def _report(request: Request, choice: Choice, now: datetime, **details: str) -> Report:
    """The report's figures, counted by the records database; the read is audited with
    the profile, the period and ``details``."""
    request.state.audit_details = {
        "profile": choice.profile,
        "from": str(choice.first),
        "to": str(choice.last),
        **details,
    }
    sessions = make_sessionmaker(request.app.state.engine)
    return await build_report(sessions, profile=choice.profile, period=choice.period, now=now)


@router.get("/reports", include_in_schema=False)
async def reports_redirect(request: Request) -> RedirectResponse:
    """``/reports`` is the inbox's reports page (where the sign-in cookie is read)."""
    query = request.url.query
    return RedirectResponse(PAGE + (f"?{query}" if query else ""), status_code=303)


@router.get(f"{PAGE}/report.css", include_in_schema=False)
async def stylesheet() -> FileResponse:
    return FileResponse(
        STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


@router.get(PAGE, include_in_schema=False)
async def reports_page(
    request: Request,
    start: FromField = "",
    end: ToField = "",
    profile: ProfileField = "",
) -> Response:
    """The report for the chosen London days and policy: charts, tables, CSV links."""
    reader = await _reader(request)
    if isinstance(reader, Response):
        return reader
    now = datetime.now(UTC)
    choice = _choose(request, start, end, profile, now)
    context = {
        "principal": reader,
        "choice": choice,
        "profiles": [(name, profile_title(name)) for name in PROFILE_NAMES],
        "report_html": None,
    }
    if choice.errors:
        request.state.audited = True  # nothing was read
        return _render(request, "reports.html", context, status_code=400)
    report = await _report(request, choice, now)
    query = choice.query()
    context["report_html"] = await asyncio.to_thread(
        render_report,
        report,
        standalone=False,
        case_link=lambda ref: f"/inbox/cases?ref={quote(ref, safe='')}",
        csv_link=lambda section: f"{PAGE}/{section}.csv?{query}",
    )
    return _render(request, "reports.html", context)


@router.get(PAGE + "/{section}.csv", include_in_schema=False)
async def section_csv(
    request: Request,
    section: str,
    start: FromField = "",
    end: ToField = "",
    profile: ProfileField = "",
) -> Response:
    """One section of the report as CSV, for the page's "Download CSV" links."""
    reader = await _reader(request)
    if isinstance(reader, Response):
        return reader
    if section not in SECTIONS:
        request.state.audited = True
        return _message(request, 404, "No such section", "There is no such report section.", reader)
    now = datetime.now(UTC)
    choice = _choose(request, start, end, profile, now)
    if choice.errors:
        request.state.audited = True
        return Response(
            "; ".join(f"{k}: {v}" for k, v in choice.errors.items()),
            status_code=400,
            media_type="text/plain",
            headers=HEADERS,
        )
    body = tables_csv(section_tables(await _report(request, choice, now, section=section), section))
    name = f"ucb-report-{choice.profile}-{section}-{choice.first}-to-{choice.last}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )
