"""The report's tables for people: every figure shown, in section order, in staff words."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from policy.reporting import (
    SECTIONS,
    Count,
    EqualityBreakdown,
    EqualityRow,
    IncidentFigures,
    Report,
    ReviewListed,
    SeriesPoint,
    period_of_days,
)
from reports.tables import (
    NO_FIGURE,
    Table,
    label_for,
    period_caption,
    section_tables,
    tables_for,
)
from tests.report_sample import sample_report


def a_report(first: date = date(2026, 10, 24), last: date = date(2026, 10, 26)) -> Report:
    period = period_of_days(first, last)
    sample = sample_report()
    return sample_report(
        profile="magna",
        period_start=period.start,
        period_end=period.end,
        generated_at=datetime(2026, 11, 1, 9, tzinfo=UTC),
        reviews=replace(
            sample.reviews,
            overdue_cases=(
                ReviewListed(
                    "CUST-1",
                    "wf-1#1",
                    "protocol_review",
                    datetime(2026, 10, 20, 13, 5, tzinfo=UTC),
                    "head_of_service",
                ),
            ),
        ),
        appeals=replace(sample.appeals, median_days_to_decision=None),
        incidents=IncidentFigures(
            total=6,
            by_category=(Count("verbal_abuse", 4), Count("physical_violence", 2)),
            by_channel=(Count("phone", 6),),
            bucket="day",
            category_over_time=(
                SeriesPoint("2026-10-24", "verbal_abuse", 3),
                SeriesPoint("2026-10-26", "physical_violence", 2),
                SeriesPoint("2026-10-26", "verbal_abuse", 1),
            ),
            channel_over_time=(
                SeriesPoint("2026-10-24", "phone", 3),
                SeriesPoint("2026-10-26", "phone", 3),
            ),
            reopened_cases=1,
            fresh_episodes=0,
        ),
        equality=(
            EqualityBreakdown(
                "age_band",
                (
                    EqualityRow("25_34", "12", "<5", "0", "40"),
                    EqualityRow("prefer_not_to_say", "<5", "0", "0", "<5"),
                    EqualityRow("not_recorded", "6", "<5", "<5", "9"),
                ),
            ),
        ),
    )


def table(tables: tuple[Table, ...], table_id: str) -> Table:
    (found,) = [t for t in tables if t.table_id == table_id]
    return found


def test_tables_come_in_section_order_with_unique_ids_and_string_cells() -> None:
    tables = tables_for(a_report())
    order = [SECTIONS.index(t.section) for t in tables]
    assert order == sorted(order)
    assert {t.section for t in tables} == set(SECTIONS)
    assert len({t.table_id for t in tables}) == len(tables)
    for t in tables:
        assert t.caption and t.headers
        for row in t.rows:
            assert len(row) == len(t.headers), t.table_id
            assert all(isinstance(cell, str) for cell in row)


def test_restrictions_by_kind_join_in_force_and_started() -> None:
    tables = section_tables(a_report(), "restrictions")
    by_kind = table(tables, "restrictions-by-kind")
    assert by_kind.headers == ("Restriction", "In force", "Started")
    assert by_kind.rows == (
        ("Communication protocol", "7", "3"),
        ("Immediate action", "2", "0"),
        ("Direct contact ended", "0", "1"),
    )
    assert table(tables, "restrictions-ended").rows == (
        ("Ended at review", "4"),
        ("Overturned on appeal", "1"),
    )
    assert table(tables, "restrictions-summary").rows[1][1] == "181.2"


def test_overdue_reviews_list_the_case_in_london_time() -> None:
    overdue = table(section_tables(a_report(), "reviews"), "reviews-overdue")
    # 13:05 UTC on 20 October 2026 is 14:05 in London (BST).
    assert overdue.rows == (
        ("CUST-1", "wf-1#1", "Restriction review", "2026-10-20 14:05", "Head of Service"),
    )


def test_a_missing_median_is_a_dash_and_a_present_one_has_one_decimal() -> None:
    tables = tables_for(a_report())
    assert table(tables, "appeals-summary").rows[1][1] == NO_FIGURE
    assert table(tables, "tasks-summary").rows[2][1] == "30.0"


def test_incidents_over_time_fill_every_london_day_of_the_period() -> None:
    over_time = table(tables_for(a_report()), "incidents-category-over-time")
    assert over_time.headers == ("Day", "Verbal abuse", "Physical violence", "Total")
    assert over_time.rows == (
        ("2026-10-24", "3", "0", "3"),
        ("2026-10-25", "0", "0", "0"),
        ("2026-10-26", "1", "2", "3"),
    )


def test_monthly_buckets_cover_every_month_across_a_year_end() -> None:
    report = a_report(date(2025, 11, 1), date(2026, 2, 28))
    monthly = Report(
        **{
            **report.__dict__,
            "incidents": IncidentFigures(
                total=1,
                by_category=(Count("verbal_abuse", 1),),
                by_channel=(Count("email", 1),),
                bucket="month",
                category_over_time=(SeriesPoint("2026-01", "verbal_abuse", 1),),
                channel_over_time=(SeriesPoint("2026-01", "email", 1),),
                reopened_cases=0,
                fresh_episodes=0,
            ),
        }
    )
    rows = table(tables_for(monthly), "incidents-channel-over-time").rows
    assert [r[0] for r in rows] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert rows[2] == ("2026-01", "1", "1")


def test_equality_tables_keep_suppressed_counts_and_name_the_characteristic() -> None:
    (age,) = section_tables(a_report(), "equality")
    assert age.table_id == "equality-age-band"
    assert age.headers[0] == "Age band"
    assert age.rows[1:] == (
        ("Prefer not to say", "<5", "0", "0", "<5"),
        ("Not recorded", "6", "<5", "<5", "9"),
    )


def test_labels_and_period_caption_read_as_words() -> None:
    assert label_for("unreasonable_persistence") == "Unreasonable persistence"
    assert label_for("protocol") == "Communication protocol"
    assert period_caption(a_report()) == "24 Oct 2026 to 26 Oct 2026"


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report section"):
        section_tables(a_report(), "gossip")
