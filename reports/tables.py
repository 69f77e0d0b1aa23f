"""Every figure of a report as tables for people: the single source for the report page,
the CSV download and the Board pack. Pure: a ``Report`` in, ``Table`` values out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from policy.reporting import (
    LONDON,
    NOT_RECORDED,
    PREFER_NOT_TO_SAY,
    SECTIONS,
    Count,
    EqualityBreakdown,
    Report,
    ReportPeriod,
    SeriesPoint,
)

NO_FIGURE = "\u2013"  # an en dash: no figure to show

# Words staff use for the codes the records hold; anything else is shown humanised.
_LABELS = {
    "protocol": "Communication protocol",
    "immediate_action": "Immediate action",
    "direct_contact_ended": "Direct contact ended",
    "ended": "Ended at review",
    "overturned": "Overturned on appeal",
    "replaced": "Replaced by a later restriction",
    "restriction": "Restriction (missed review)",
    "protocol_review": "Restriction review",
    "risk_flag_decision": "Risk flag review",
    "email": "Email",
    "post": "Post",
    "head_of_service": "Head of Service",
    PREFER_NOT_TO_SAY: "Prefer not to say",
    NOT_RECORDED: "Not recorded",
}

_CHARACTERISTICS = {
    "ethnicity": "Ethnicity",
    "disability": "Disability",
    "vulnerability": "Vulnerability",
    "age_band": "Age band",
    "sex": "Sex",
}


@dataclass(frozen=True)
class Table:
    """One table of a report section: a caption, header words and rows of strings."""

    table_id: str
    section: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str | None) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def tables_csv(tables: Iterable[Table]) -> str:
    """Tables as one CSV text: each a caption row, its headers and rows, then a blank
    line; every cell safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for number, table in enumerate(tables):
        if number:
            writer.writerow([])
        writer.writerow([spreadsheet_cell(table.caption)])
        writer.writerow([spreadsheet_cell(h) for h in table.headers])
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in table.rows)
    return out.getvalue()


def label_for(code: str) -> str:
    """The words staff read for a code ("verbal_abuse" -> "Verbal abuse")."""
    if code in _LABELS:
        return _LABELS[code]
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def london_time(at: datetime) -> str:
    """A moment as a London date and time ("2026-10-03 14:05")."""
    return at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def one_decimal(value: float | None) -> str:
    """A median with one decimal place, or a dash when there is none."""
    return NO_FIGURE if value is None else f"{value:.1f}"


def period_days(report: Report) -> tuple[date, date]:
    """The first and last London days the report covers."""
    return ReportPeriod(report.period_start, report.period_end).days()


def period_caption(report: Report) -> str:
    """The period in words ("1 Oct 2026 to 30 Oct 2026")."""
    first, last = period_days(report)
    return f"{first.day} {first:%b %Y} to {last.day} {last:%b %Y}"


def tables_for(report: Report) -> tuple[Table, ...]:
    """Every figure of the report, section by section in ``SECTIONS`` order."""
    return tuple(table for section in SECTIONS for table in section_tables(report, section))


def section_tables(report: Report, section: str) -> tuple[Table, ...]:
    """The tables of one section (a name from ``SECTIONS``)."""
    if section not in _BUILDERS:
        raise ValueError(f"unknown report section {section!r}")
    return tuple(_BUILDERS[section](report))


def _counts(counts: Iterable[Count]) -> tuple[tuple[str, ...], ...]:
    return tuple((label_for(c.label), str(c.count)) for c in counts)


def _restrictions(report: Report) -> Iterable[Table]:
    figures = report.restrictions
    in_force = {c.label: c.count for c in figures.in_force}
    started = {c.label: c.count for c in figures.started}
    kinds = ordered_labels([*figures.in_force, *figures.started])
    yield Table(
        "restrictions-by-kind",
        "restrictions",
        "Restrictions in force at the end of the period, and started in it",
        ("Restriction", "In force", "Started"),
        tuple(
            (label_for(kind), str(in_force.get(kind, 0)), str(started.get(kind, 0)))
            for kind in kinds
        ),
    )
    yield Table(
        "restrictions-ended",
        "restrictions",
        "Restrictions that ended in the period, by how they ended",
        ("How it ended", "Restrictions"),
        _counts(figures.ended),
    )
    yield Table(
        "restrictions-summary",
        "restrictions",
        "Restrictions varied and how long they lasted",
        ("Figure", "Value"),
        (
            ("Terms varied in the period", str(figures.varied)),
            (
                "Median days in force (ended in the period)",
                one_decimal(figures.median_days_in_force),
            ),
        ),
    )


def _reviews(report: Report) -> Iterable[Table]:
    figures = report.reviews
    yield Table(
        "reviews-summary",
        "reviews",
        "Reviews of restrictions and risk flags",
        ("Reviews", "Number"),
        (
            ("Due in the next 30 days", str(figures.due_next_30_days)),
            ("Done on time in the period", str(figures.done_on_time)),
            ("Done late in the period", str(figures.done_late)),
            ("Overdue now", str(figures.overdue)),
        ),
    )
    yield Table(
        "reviews-overdue",
        "reviews",
        "Reviews overdue now (the target is none)",
        ("Customer", "Case", "Review", "Due", "Role"),
        tuple(
            (
                r.customer_ref,
                r.case_key,
                label_for(r.kind),
                london_time(r.due_at),
                label_for(r.role) if r.role else NO_FIGURE,
            )
            for r in figures.overdue_cases
        ),
    )


def _appeals(report: Report) -> Iterable[Table]:
    figures = report.appeals
    yield Table(
        "appeals-summary",
        "appeals",
        "Appeals received and how long decisions took",
        ("Figure", "Value"),
        (
            ("Appeals received in the period", str(figures.received)),
            (
                "Median days to decision (decided in the period)",
                one_decimal(figures.median_days_to_decision),
            ),
        ),
    )
    yield Table(
        "appeals-outcomes",
        "appeals",
        "Appeals decided in the period, by outcome",
        ("Outcome", "Appeals"),
        _counts(figures.outcomes),
    )


def _tasks(report: Report) -> Iterable[Table]:
    figures = report.tasks
    yield Table(
        "tasks-open",
        "tasks",
        "Decisions open now, by task and the role that holds them",
        ("Task", "Held by", "Open"),
        tuple((label_for(t.kind), label_for(t.role), str(t.count)) for t in figures.open),
    )
    yield Table(
        "tasks-summary",
        "tasks",
        "Overdue and escalated decisions, and how long decisions took",
        ("Figure", "Value"),
        (
            ("Overdue now", str(figures.overdue)),
            ("Escalated in the period", str(figures.escalated)),
            (
                "Median hours to decision (decided in the period)",
                one_decimal(figures.median_hours_to_decision),
            ),
        ),
    )


def _incidents(report: Report) -> Iterable[Table]:
    figures = report.incidents
    yield Table(
        "incidents-summary",
        "incidents",
        "Incidents in the period, and cases that came back",
        ("Figure", "Value"),
        (
            ("Incidents in the period", str(figures.total)),
            ("Cases reopened (within 12 months of closing)", str(figures.reopened_cases)),
            ("Fresh cases (after the 12-month rule)", str(figures.fresh_episodes)),
        ),
    )
    yield Table(
        "incidents-by-category",
        "incidents",
        "Incidents in the period, by what happened",
        ("Category", "Incidents"),
        _counts(figures.by_category),
    )
    yield Table(
        "incidents-by-channel",
        "incidents",
        "Incidents in the period, by how they reached us",
        ("Channel", "Incidents"),
        _counts(figures.by_channel),
    )
    unit = "Day" if figures.bucket == "day" else "Month"
    buckets = period_buckets(report)
    for table_id, caption, series, totals in (
        (
            "incidents-category-over-time",
            "Incidents by category",
            figures.category_over_time,
            figures.by_category,
        ),
        (
            "incidents-channel-over-time",
            "Incidents by channel",
            figures.channel_over_time,
            figures.by_channel,
        ),
    ):
        labels = ordered_labels([*totals, *(Count(p.label, p.count) for p in series)])
        yield Table(
            table_id,
            "incidents",
            f"{caption}, by London {unit.lower()}",
            (unit, *(label_for(label) for label in labels), "Total"),
            _pivot(buckets, labels, series),
        )


def _letters(report: Report) -> Iterable[Table]:
    figures = report.letters
    yield Table(
        "letters-summary",
        "letters",
        "Letters to customers created in the period",
        ("Figure", "Value"),
        (
            ("Sent (by email, or stored for posting)", str(figures.sent)),
            ("Undeliverable", str(figures.undeliverable)),
        ),
    )
    yield Table(
        "letters-by-kind",
        "letters",
        "Letters created in the period, by letter",
        ("Letter", "Letters"),
        _counts(figures.by_kind),
    )
    yield Table(
        "letters-by-delivery",
        "letters",
        "Letters created in the period, by delivery",
        ("Delivery", "Letters"),
        _counts(figures.by_channel),
    )


def _staff_safety(report: Report) -> Iterable[Table]:
    figures = report.staff_safety
    yield Table(
        "staff-safety",
        "staff_safety",
        "Violence and threats against staff, and police reports made",
        ("Figure", "Number"),
        (
            ("Physical violence", str(figures.violence)),
            ("Threats of violence", str(figures.threats)),
            ("Police reports made", str(figures.police_reports_made)),
        ),
    )


def _equality(report: Report) -> Iterable[Table]:
    for breakdown in report.equality:
        yield _equality_table(breakdown)


def _equality_table(breakdown: EqualityBreakdown) -> Table:
    name = _CHARACTERISTICS.get(breakdown.characteristic, label_for(breakdown.characteristic))
    return Table(
        f"equality-{breakdown.characteristic.replace('_', '-')}",
        "equality",
        f"{name}: customers with a case, restrictions, warnings and incidents "
        "(numbers under 5 shown as <5)",
        (name, "Customers with a case", "With a restriction", "Given a warning", "Incidents"),
        tuple(
            (
                label_for(row.value),
                row.customers_with_a_case,
                row.with_restriction,
                row.with_warning,
                row.incidents,
            )
            for row in breakdown.rows
        ),
    )


_BUILDERS = {
    "restrictions": _restrictions,
    "reviews": _reviews,
    "appeals": _appeals,
    "tasks": _tasks,
    "incidents": _incidents,
    "letters": _letters,
    "staff_safety": _staff_safety,
    "equality": _equality,
}


def ordered_labels(counts: Iterable[Count]) -> list[str]:
    """Labels in the order first given, each once."""
    return list(dict.fromkeys(c.label for c in counts))


def period_buckets(report: Report) -> list[str]:
    """Every London day ("2026-10-03") or month ("2026-10") of the period, oldest first."""
    first, last = period_days(report)
    if report.incidents.bucket == "day":
        return [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    months = (last.year - first.year) * 12 + last.month - first.month
    return [
        f"{first.year + (first.month - 1 + n) // 12:04d}-{(first.month - 1 + n) % 12 + 1:02d}"
        for n in range(months + 1)
    ]


def _pivot(
    buckets: Sequence[str], labels: Sequence[str], series: Iterable[SeriesPoint]
) -> tuple[tuple[str, ...], ...]:
    """One row per bucket, one column per label, and the bucket's total."""
    cells = {(p.bucket, p.label): p.count for p in series}
    known = set(buckets)
    extra = sorted({p_bucket for p_bucket, _ in cells if p_bucket not in known})
    rows = []
    for bucket in [*buckets, *extra]:
        counts = [cells.get((bucket, label), 0) for label in labels]
        rows.append((bucket, *(str(n) for n in counts), str(sum(counts))))
    return tuple(rows)
