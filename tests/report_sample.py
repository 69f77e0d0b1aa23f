"""A management report built by hand, for the tests of its tables, charts, HTML and PDF."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from policy.reporting import (
    AppealFigures,
    Count,
    EqualityBreakdown,
    EqualityRow,
    IncidentFigures,
    LetterFigures,
    Report,
    RestrictionFigures,
    ReviewFigures,
    ReviewListed,
    SeriesPoint,
    StaffSafetyFigures,
    TaskCount,
    TaskFigures,
    period_of_days,
)


def sample_report(category: str = "verbal_abuse", **overrides: Any) -> Report:
    """Housing Solutions from 1 to 30 October 2026, with a figure in every section;
    ``category`` names one incident category, ``overrides`` replace the report's fields."""
    period = period_of_days(date(2026, 10, 1), date(2026, 10, 30))
    report = Report(
        profile="housing_solutions",
        period_start=period.start,
        period_end=period.end,
        generated_at=datetime(2026, 10, 30, 15, 0, tzinfo=UTC),
        restrictions=RestrictionFigures(
            in_force=(Count("protocol", 7), Count("immediate_action", 2)),
            started=(Count("direct_contact_ended", 1), Count("protocol", 3)),
            varied=2,
            ended=(Count("ended", 4), Count("overturned", 1)),
            median_days_in_force=181.25,
        ),
        reviews=ReviewFigures(
            due_next_30_days=5,
            done_on_time=8,
            done_late=3,
            overdue=1,
            overdue_cases=(
                ReviewListed(
                    "CUST-42",
                    "CUST-42:1",
                    "protocol_review",
                    datetime(2026, 10, 20, 9, 0, tzinfo=UTC),
                    "manager",
                ),
            ),
        ),
        appeals=AppealFigures(
            received=4,
            outcomes=(Count("upheld", 2), Count("varied", 1), Count("overturned", 1)),
            median_days_to_decision=9.0,
        ),
        tasks=TaskFigures(
            open=(
                TaskCount("initial_warning", "officer", 6),
                TaskCount("behaviour_assessment", "manager", 2),
                TaskCount("initial_warning", "manager", 1),
            ),
            overdue=2,
            escalated=1,
            median_hours_to_decision=30.0,
        ),
        incidents=IncidentFigures(
            total=13,
            by_category=(Count(category, 9), Count("threats", 4)),
            by_channel=(Count("phone", 10), Count("email", 3)),
            bucket="day",
            category_over_time=(
                SeriesPoint("2026-10-03", category, 5),
                SeriesPoint("2026-10-04", category, 4),
                SeriesPoint("2026-10-04", "threats", 4),
            ),
            channel_over_time=(
                SeriesPoint("2026-10-03", "phone", 5),
                SeriesPoint("2026-10-04", "phone", 5),
                SeriesPoint("2026-10-04", "email", 3),
            ),
            reopened_cases=1,
            fresh_episodes=0,
        ),
        letters=LetterFigures(
            sent=11,
            by_kind=(Count("initial_warning", 6), Count("protocol", 5)),
            by_channel=(Count("email", 8), Count("post", 3)),
            undeliverable=1,
        ),
        staff_safety=StaffSafetyFigures(violence=1, threats=4, police_reports_made=2),
        equality=(
            EqualityBreakdown(
                "ethnicity",
                (
                    EqualityRow("white_british", "20", "6", "9", "31"),
                    EqualityRow("asian_indian", "<5", "<5", "0", "<5"),
                    EqualityRow("prefer_not_to_say", "5", "0", "<5", "7"),
                ),
            ),
            EqualityBreakdown(
                "disability",
                (
                    EqualityRow("yes", "9", "5", "<5", "12"),
                    EqualityRow("no", "16", "<5", "7", "26"),
                ),
            ),
        ),
    )
    return replace(report, **overrides)
