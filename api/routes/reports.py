"""Management reporting (HS 9.2, HS 7.1): the report's figures as JSON, and each section
(or all of them) as CSV, for managers, heads of service, directors and auditors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import ReportReader
from api.deps import SettingsDep
from policy.profiles import PROFILE_NAMES
from policy.reporting import (
    Report,
    ReportPeriod,
    days_asked,
    period_of_days,
)
from records.db import make_sessionmaker
from records.reports import build_report
from reports.tables import section_tables, tables_csv, tables_for

router = APIRouter(prefix="/v1", tags=["reports"])

# The longest period one request may ask for: five years (and their leap days).
MAX_DAYS = 5 * 365 + 2
ALL = "all"
# policy.reporting.SECTIONS and ALL, spelt out because a Literal cannot be built from the
# tuple: the OpenAPI document lists them and FastAPI refuses any other with its own 422.
# tests/api/test_reports_api.py keeps the two in step.
SectionName = Literal[
    "restrictions",
    "reviews",
    "appeals",
    "tasks",
    "incidents",
    "letters",
    "staff_safety",
    "equality",
    "all",
]


# --- the JSON shape: the dataclasses of policy.reporting ------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CountOut(_Out):
    """One labelled figure."""

    label: str = Field(description="What is counted: a kind, category, channel or outcome.")
    count: int = Field(description="How many.")


class ReviewListedOut(_Out):
    """A review overdue now."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    case_key: str = Field(description="The case episode.")
    kind: str = Field(
        description="protocol_review or risk_flag_decision: an open review task past its due "
        "date; restriction: a restriction in force past its review date with no review task "
        "(a missed review)."
    )
    due_at: datetime = Field(description="When the review was due (UTC).")
    role: str | None = Field(description="The role that holds (or should hold) the review.")


class RestrictionsOut(_Out):
    """Protocols, immediate action and ending direct contact."""

    in_force: list[CountOut] = Field(
        description="By kind, in force at the end of the period (or now, if earlier)."
    )
    started: list[CountOut] = Field(description="By kind, authorised in the period.")
    varied: int = Field(description="Terms varied in the period (by review or appeal).")
    ended: list[CountOut] = Field(
        description="Ended in the period, by how: ended, overturned, replaced."
    )
    median_days_in_force: float | None = Field(
        description="Median days from authorisation to the end, of those ended in the period."
    )


class ReviewsOut(_Out):
    """Reviews of restrictions and risk flags."""

    due_next_30_days: int = Field(
        description="Restrictions in force with a review date in the next 30 days, and open "
        "risk-flag reviews due in them."
    )
    done_on_time: int = Field(description="Reviews decided in the period by their due date.")
    done_late: int = Field(description="Reviews decided in the period after their due date.")
    overdue: int = Field(description="Reviews overdue now (the target is 0).")
    overdue_cases: list[ReviewListedOut] = Field(description="Each review overdue now.")


class AppealsOut(_Out):
    """Appeals received and decided."""

    received: int = Field(description="Appeals received in the period.")
    outcomes: list[CountOut] = Field(
        description="Appeals decided in the period: upheld, varied, overturned."
    )
    median_days_to_decision: float | None = Field(
        description="Median days from appeal to decision, of those decided in the period."
    )


class TaskCountOut(_Out):
    """Open tasks of one kind held by one role."""

    kind: str = Field(description="The kind of task.")
    role: str = Field(description="The role that holds it (the one it escalated to, if any).")
    count: int = Field(description="How many are open.")


class TasksOut(_Out):
    """Decisions staff owe and have taken."""

    open: list[TaskCountOut] = Field(description="Open now, by kind and role.")
    overdue: int = Field(description="Open now and past their due date.")
    escalated: int = Field(description="Escalated in the period.")
    median_hours_to_decision: float | None = Field(
        description="Median hours from task to decision, of those decided in the period."
    )


class SeriesPointOut(_Out):
    """A count in one London day or month."""

    bucket: str = Field(description='The London day ("2026-10-03") or month ("2026-10").')
    label: str = Field(description="The category or channel.")
    count: int = Field(description="Incidents.")


class IncidentsOut(_Out):
    """Incidents that occurred in the period, and cases that came back."""

    total: int = Field(description="Incidents recorded under a case that occurred in the period.")
    by_category: list[CountOut] = Field(description="By category.")
    by_channel: list[CountOut] = Field(description="By channel.")
    bucket: str = Field(description='"day" for periods up to 62 days, else "month".')
    category_over_time: list[SeriesPointOut] = Field(description="By London bucket and category.")
    channel_over_time: list[SeriesPointOut] = Field(description="By London bucket and channel.")
    reopened_cases: int = Field(description="Cases reopened within the 12-month rule.")
    fresh_episodes: int = Field(description="Fresh case episodes opened after the rule.")


class LettersOut(_Out):
    """Letters to customers created in the period."""

    sent: int = Field(description="Sent by email or stored for posting.")
    by_kind: list[CountOut] = Field(description="By letter.")
    by_channel: list[CountOut] = Field(description="By delivery: email or post.")
    undeliverable: int = Field(description="Undeliverable (staff have a task to fix them).")


class StaffSafetyOut(_Out):
    """Violence and threats against staff, and police reports (HS 6.3.1)."""

    violence: int = Field(description="Incidents of physical violence in the period.")
    threats: int = Field(description="Threats of violence in the period.")
    police_reports_made: int = Field(description="Police reports made in the period.")


class EqualityRowOut(_Out):
    """One recorded value of a characteristic; counts under 5 shown as "<5"."""

    value: str = Field(description="A category, prefer_not_to_say or not_recorded.")
    customers_with_a_case: str = Field(description="Customers with a case open in the period.")
    with_restriction: str = Field(description="Of them, with a restriction in force in it.")
    with_warning: str = Field(description="Customers given a warning in the period.")
    incidents: str = Field(description="Incidents that occurred in the period.")


class EqualityOut(_Out):
    """Restrictions, warnings and incidents by one characteristic (HS 7.1)."""

    characteristic: str = Field(description="ethnicity, disability, vulnerability, age_band, sex.")
    rows: list[EqualityRowOut] = Field(description="One row per value recorded.")


class _ReportHead(_Out):
    profile: str = Field(description="The policy profile reported on.")
    period_start: datetime = Field(description="The period's start (UTC, inclusive).")
    period_end: datetime = Field(description="The period's end (UTC, exclusive).")
    generated_at: datetime = Field(description="When the figures were counted (UTC).")


class ReportOut(_ReportHead):
    """Every figure of the management report for one profile and period."""

    restrictions: RestrictionsOut = Field(description="Restrictions.")
    reviews: ReviewsOut = Field(description="Reviews.")
    appeals: AppealsOut = Field(description="Appeals.")
    tasks: TasksOut = Field(description="Tasks.")
    incidents: IncidentsOut = Field(description="Incidents.")
    letters: LettersOut = Field(description="Letters.")
    staff_safety: StaffSafetyOut = Field(description="Staff safety.")
    equality: list[EqualityOut] = Field(description="Equality monitoring, by characteristic.")


class ReportSectionOut(_ReportHead):
    """One section of the management report."""

    section: str = Field(description="The section: one of the report's sections.")
    figures: (
        RestrictionsOut
        | ReviewsOut
        | AppealsOut
        | TasksOut
        | IncidentsOut
        | LettersOut
        | StaffSafetyOut
        | list[EqualityOut]
    ) = Field(description="The section's figures, shaped as in the whole report.")


_SECTION_MODELS: dict[str, type[_Out]] = {
    "restrictions": RestrictionsOut,
    "reviews": ReviewsOut,
    "appeals": AppealsOut,
    "tasks": TasksOut,
    "incidents": IncidentsOut,
    "letters": LettersOut,
    "staff_safety": StaffSafetyOut,
}


# --- the request ------------------------------------------------------------------------------

FromDay = Annotated[
    date | None,
    Query(
        alias="from",
        description="The first London day of the period (default: 29 days before `to`, or "
        "the last 30 days with today).",
    ),
]
ToDay = Annotated[
    date | None,
    Query(alias="to", description="The last London day of the period, included (default: today)."),
]
ProfileName = Annotated[
    str | None,
    Query(
        max_length=40,
        description="The policy profile (default: this deployment's).",
        json_schema_extra={"enum": list(PROFILE_NAMES)},
    ),
]


def _refused(field: str, message: str) -> HTTPException:
    """A 422 naming the query parameter, shaped as FastAPI's own validation errors."""
    return HTTPException(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])


def _period(first: date | None, last: date | None, now: datetime) -> ReportPeriod:
    """The London days asked for: both, one (the other 30 days away), or the default."""
    first, last = days_asked(first, last, now)
    if last < first:
        raise _refused("to", f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise _refused("to", "a report covers at most five years")
    return period_of_days(first, last)


def _profile(name: str | None, default: str) -> str:
    if name is None:
        return default
    if name not in PROFILE_NAMES:
        raise _refused("profile", f"unknown policy profile; one of {list(PROFILE_NAMES)}")
    return name


async def _report(
    request: Request,
    default_profile: str,
    first: date | None,
    last: date | None,
    profile: str | None,
) -> Report:
    """The report asked for, counted now; the audit row names profile and period."""
    now = datetime.now(UTC)
    period = _period(first, last, now)
    chosen = _profile(profile, default_profile)
    first_day, last_day = _days(period)
    request.state.audit_details = {"profile": chosen, "from": first_day, "to": last_day}
    sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(request.app.state.engine)
    return await build_report(sessions, profile=chosen, period=period, now=now)


def _days(period: ReportPeriod) -> tuple[str, str]:
    """The period's first and last London days, as ISO dates."""
    first, last = period.days()
    return first.isoformat(), last.isoformat()


# --- the routes -------------------------------------------------------------------------------


@router.get("/reports")
async def get_report(
    _: ReportReader,
    settings: SettingsDep,
    request: Request,
    first: FromDay = None,
    last: ToDay = None,
    profile: ProfileName = None,
) -> ReportOut:
    """The management report (HS 9.2, HS 7.1): every figure for one profile over a period
    of London days (the last 30 by default). Overdue reviews list customer references, so
    the read is audited."""
    report = await _report(request, settings.policy_profile, first, last, profile)
    return ReportOut.model_validate(report)


@router.get(
    "/reports/{section}",
    response_model=ReportSectionOut | ReportOut,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "The section as JSON, or as CSV with `format=csv`.",
        }
    },
)
async def get_report_section(
    section: Annotated[
        SectionName,
        Path(description="A report section, or `all` (every section; for CSV downloads)."),
    ],
    _: ReportReader,
    settings: SettingsDep,
    request: Request,
    first: FromDay = None,
    last: ToDay = None,
    profile: ProfileName = None,
    fmt: Annotated[
        Literal["json", "csv"], Query(alias="format", description="json (default) or csv.")
    ] = "json",
) -> Any:
    """One section of the report as JSON, or as a CSV download (`format=csv`): each of
    the section's tables (as the report page shows them) as a caption row, a header row
    and its rows, with a blank line between tables. `all` gives every section: as JSON,
    the whole report; as CSV, every table in one file."""
    report = await _report(request, settings.policy_profile, first, last, profile)
    request.state.audit_details = {**request.state.audit_details, "section": section}
    if fmt == "csv":
        first_day, last_day = _days(ReportPeriod(report.period_start, report.period_end))
        tables = tables_for(report) if section == ALL else section_tables(report, section)
        return Response(
            tables_csv(tables),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="ucb-report-{section}-{first_day}-{last_day}.csv"'
                ),
                "Cache-Control": "no-store",
            },
        )
    if section == ALL:
        return ReportOut.model_validate(report)
    head = {name: getattr(report, name) for name in _ReportHead.model_fields}
    data = getattr(report, section)
    figures: Any = (
        [EqualityOut.model_validate(b) for b in data]
        if section == "equality"
        else _SECTION_MODELS[section].model_validate(data)
    )
    return ReportSectionOut(section=section, figures=figures, **head)
