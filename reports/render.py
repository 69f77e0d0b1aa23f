"""The management report as HTML: per section its charts (inline SVG), the table beside each
chart, the section's other tables and how each figure is computed. The page embeds the
block (``standalone=False``); the Board pack stores the whole document, CSS inlined
(``standalone=True``). Pure: a ``Report`` in, a string out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from policy.profiles import UnknownProfileError, load_profile
from policy.reporting import LONDON, SECTIONS, SMALL_NUMBER, Report
from reports.charts import Chart, charts_for, svg
from reports.tables import Table, period_caption, tables_for

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = TEMPLATES / "report.css"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

# The tables whose first column is a customer reference, linked to the case when the
# caller can link to it.
LINKED_CUSTOMER_COLUMN = {"reviews-overdue": 0}


@dataclass(frozen=True)
class SectionText:
    """A section's heading and, in plain English, how each of its figures is computed."""

    title: str
    explained: tuple[str, ...]


SECTION_TEXT = {
    "restrictions": SectionText(
        "Restrictions",
        (
            "In force: protocols, immediate actions and ends of direct contact in force at the "
            "end of the period (or now, if the period has not ended yet), by kind.",
            "Started: restrictions authorised in the period.",
            "Varied: restrictions whose terms were varied in the period, at a review or on appeal.",
            "Ended: restrictions that ended in the period, at review, overturned on appeal or "
            "replaced by a later restriction; the median days in force is over those.",
        ),
    ),
    "reviews": SectionText(
        "Reviews",
        (
            "Due in the next 30 days: review dates falling in the 30 days from now.",
            "Done on time and done late: review tasks decided in the period, by or after "
            "their due date.",
            "Overdue now: open reviews past their due date, and restrictions in force whose "
            "review date passed with no review started. The target is none; each is listed.",
        ),
    ),
    "appeals": SectionText(
        "Appeals",
        (
            "Received: appeals logged in the period.",
            "Outcomes: appeals decided in the period (upheld, varied or overturned); the "
            "median days to decision is over those.",
        ),
    ),
    "tasks": SectionText(
        "Decisions staff owe",
        (
            "Open: decisions open now, by task and the role holding them (the role it was "
            "escalated to, once escalated).",
            "Overdue: open now and past their due date. Escalated: escalated in the period.",
            "Median hours to decision: over the tasks decided in the period.",
        ),
    ),
    "incidents": SectionText(
        "Incidents",
        (
            "Incidents that occurred in the period, by category and by how they reached us; "
            "over time by London day (periods up to 62 days) or by month.",
            "Reopened: cases reopened within 12 months of closing. Fresh: new cases opened "
            "for customers whose earlier case closed more than 12 months before.",
        ),
    ),
    "letters": SectionText(
        "Letters",
        (
            "Letters to customers created in the period, by letter and by delivery (email, or "
            "stored for posting); undeliverable: those that could not be delivered.",
        ),
    ),
    "staff_safety": SectionText(
        "Staff safety",
        (
            "Incidents of physical violence and threats of violence against staff in the "
            "period, and police reports made in the period.",
        ),
    ),
    "equality": SectionText(
        "Equality monitoring",
        (
            "For each recorded value of a characteristic: customers with a case open at any "
            "time in the period (the baseline), those of them with a restriction in force at "
            "any time in the period, those given a warning in the period, and incidents in "
            "the period.",
            f"Numbers from 1 to {SMALL_NUMBER - 1} are shown as <{SMALL_NUMBER}, so nobody "
            "can be picked out of a small group.",
            "The charts compare each group's share of the customers with a case with its "
            f"share of those with a restriction; groups shown as <{SMALL_NUMBER} are not "
            "charted and are left out of both shares.",
        ),
    ),
}
assert tuple(SECTION_TEXT) == SECTIONS


@dataclass(frozen=True)
class Pair:
    """A chart, its SVG (ours, every text in it escaped) and the table beside it."""

    chart: Chart
    svg: str
    table: Table | None


@dataclass(frozen=True)
class Section:
    """What one section of the page shows."""

    name: str
    text: SectionText
    pairs: tuple[Pair, ...]
    tables: tuple[Table, ...]
    csv_url: str | None


@functools.lru_cache(maxsize=8)
def profile_title(name: str) -> str:
    """The policy's title ("Housing Solutions Unacceptable Customer Behaviour Policy")."""
    try:
        return load_profile(name).title
    except UnknownProfileError:
        return name.replace("_", " ").title()


def london(at: datetime) -> str:
    """A moment in London words: "30 Oct 2026, 15:00 GMT"."""
    local = at.astimezone(LONDON)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def sections_of(report: Report, csv_link: Callable[[str], str] | None = None) -> list[Section]:
    """Each section's charts paired with their tables, and its other tables."""
    tables = tables_for(report)
    by_id = {t.table_id: t for t in tables}
    charts = charts_for(report)
    sections = []
    for name in SECTIONS:
        pairs = tuple(Pair(c, svg(c), by_id.get(c.table_id)) for c in charts if c.section == name)
        paired = {p.chart.table_id for p in pairs}
        rest = tuple(t for t in tables if t.section == name and t.table_id not in paired)
        sections.append(
            Section(name, SECTION_TEXT[name], pairs, rest, csv_link(name) if csv_link else None)
        )
    return sections


def render_report(
    report: Report,
    *,
    standalone: bool,
    case_link: Callable[[str], str] | None = None,
    csv_link: Callable[[str], str] | None = None,
) -> str:
    """The whole report as HTML: a complete document with its CSS inlined when
    ``standalone``, else the block a page embeds (its stylesheet is ``STYLESHEET``).
    ``case_link(customer_ref)`` links listed cases; ``csv_link(section)`` adds a
    "Download CSV" link to each section."""
    html = _env.get_template("report.html").render(
        report=report,
        standalone=standalone,
        title=profile_title(report.profile),
        period=period_caption(report),
        generated=london(report.generated_at),
        sections=sections_of(report, csv_link),
        case_link=case_link,
        linked=LINKED_CUSTOMER_COLUMN,
        stylesheet=STYLESHEET.read_text("utf-8") if standalone else "",
    )
    return html.strip() + "\n"
