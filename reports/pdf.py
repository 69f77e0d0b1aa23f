"""The Board pack as a PDF: a cover page, then each section's charts and tables, on A4
portrait pages numbered in the footer. Pure: a ``Report`` in, PDF bytes out.

Drawn with matplotlib's PDF backend on ``matplotlib.figure.Figure`` objects (no pyplot
state, safe in any thread). The bytes are deterministic for a report: the creation
date is the report's ``generated_at`` and nothing else varies between two renderings.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import matplotlib
import matplotlib.image
import matplotlib.lines
import matplotlib.patches
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from policy.reporting import SECTIONS, Report
from reports import charts
from reports.render import SECTION_TEXT, profile_title
from reports.tables import Table, london_time, period_caption, tables_for

# A4 portrait, in inches, and the printable area inside its margins.
PAGE_WIDTH = 8.27
PAGE_HEIGHT = 11.69
MARGIN_X = 0.8
MARGIN_TOP = 0.9
MARGIN_BOTTOM = 0.9
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X

# Heights of the blocks a page is filled with, in inches.
HEADING_HEIGHT = 0.55
CHART_HEIGHT = 3.3
CAPTION_HEIGHT = 0.32
LINE_HEIGHT = 0.17
ROW_GAP = 0.05
TABLE_GAP = 0.25
# Roughly how many characters of the table font fit in an inch (DejaVu Sans at 7.5 pt).
CHARS_PER_INCH = 17.0
TABLE_FONT = 7.5
MAX_CELL_LINES = 4
CHART_DPI = 200

# What each section is called: as the report page and the pack's HTML head it.
SECTION_HEADINGS = {section: SECTION_TEXT[section].title for section in SECTIONS}

# Text stays text (TrueType embedded with its Unicode map), so the PDF can be searched
# and read aloud. Only this PDF setting is changed: rcParams are process-wide, and other
# threads may be drawing the page's SVG charts meanwhile.
_RC: dict[Any, Any] = {"pdf.fonttype": 42}
_PDF_LOCK = threading.Lock()


def section_heading(section: str) -> str:
    """The words a section is headed with ("staff_safety" -> "Staff safety")."""
    return SECTION_HEADINGS.get(section, section.replace("_", " ").capitalize())


def render_pdf(report: Report, *, title: str) -> bytes:
    """The report as a PDF: cover, contents, charts and tables, page numbers."""
    pages, starts = _plan(report)
    total = len(pages) + 1
    buffer = io.BytesIO()
    metadata = {
        "Title": title,
        "Subject": f"Management report, {period_caption(report)} ({report.profile})",
        "Creator": "ucb-cases",
        "Author": None,
        "Keywords": None,
        "CreationDate": report.generated_at.astimezone(UTC),
        "ModDate": None,
    }
    with _PDF_LOCK, matplotlib.rc_context(_RC), PdfPages(buffer, metadata=metadata) as pdf:
        cover = _page(1, total)
        _cover(cover, report, title, starts)
        pdf.savefig(cover)
        for number, blocks in enumerate(pages, start=2):
            figure = _page(number, total)
            top = MARGIN_TOP
            for block in blocks:
                block.draw(figure, top)
                top += block.height
            pdf.savefig(figure)
    return buffer.getvalue()


# --- Planning: which blocks go on which page ---------------------------------------------


@dataclass
class _Block:
    """Something drawn on a page at ``top`` inches from the page's top edge."""

    height: float
    draw: Callable[[Figure, float], None]
    # Headings stay with what follows them.
    keep_with_next: bool = False


@dataclass
class _Plan:
    pages: list[list[_Block]] = field(default_factory=list)
    current: list[_Block] = field(default_factory=list)
    left: float = PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def new_page(self) -> None:
        carried: list[_Block] = []
        while self.current and self.current[-1].keep_with_next:
            carried.insert(0, self.current.pop())
        if self.current:
            self.pages.append(self.current)
        self.current = carried
        self.left = PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM - sum(b.height for b in carried)

    def add(self, block: _Block) -> None:
        if block.height > self.left and self.current:
            self.new_page()
        self.current.append(block)
        self.left -= block.height

    def finish(self) -> list[list[_Block]]:
        if self.current:
            self.pages.append(self.current)
            self.current = []
        return self.pages

    @property
    def page_number(self) -> int:
        """The number the next block's page will have (the cover is page 1)."""
        return len(self.pages) + 2


def _plan(report: Report) -> tuple[list[list[_Block]], dict[str, int]]:
    """The pages after the cover, and the page each section starts on."""
    plan = _Plan()
    starts: dict[str, int] = {}
    all_charts = charts.charts_for(report)
    all_tables = tables_for(report)
    for section in SECTIONS:
        if plan.current:
            plan.new_page()  # each section starts on a page of its own
        starts[section] = plan.page_number
        plan.add(_heading_block(section_heading(section)))
        # Each chart with the table of its figures, then the section's other tables.
        by_id = {t.table_id: t for t in all_tables if t.section == section}
        for chart in (c for c in all_charts if c.section == section):
            plan.add(_chart_block(chart))
            paired = by_id.pop(chart.table_id, None)
            if paired is not None:
                _add_table(plan, paired)
        for table in by_id.values():
            _add_table(plan, table)
    return plan.finish(), starts


def _heading_block(text: str) -> _Block:
    def draw(figure: Figure, top: float) -> None:
        figure.text(
            _x(MARGIN_X),
            _y(top + 0.3),
            text,
            fontsize=16,
            fontweight="bold",
            color="#0b0c0c",
        )
        figure.add_artist(
            matplotlib.lines.Line2D(
                [_x(MARGIN_X), _x(PAGE_WIDTH - MARGIN_X)],
                [_y(top + 0.42), _y(top + 0.42)],
                color="#1d70b8",
                linewidth=1.5,
            )
        )

    return _Block(HEADING_HEIGHT, draw, keep_with_next=True)


def _chart_block(chart: charts.Chart) -> _Block:
    def draw(figure: Figure, top: float) -> None:
        # The chart is drawn on a figure of its own (its layout engine lays it out as it
        # does for the page's SVG) and placed as an image; the same figures are in the
        # table that follows it, as text.
        image = _chart_image(chart)
        height = CHART_HEIGHT - 0.2
        axes = figure.add_axes(
            (_x(MARGIN_X), _y(top + 0.05 + height), _x(CONTENT_WIDTH), height / PAGE_HEIGHT)
        )
        axes.imshow(image, interpolation="none", aspect="auto")
        axes.set_axis_off()

    return _Block(CHART_HEIGHT, draw)


def _chart_image(chart: charts.Chart) -> Any:
    """The chart as RGBA pixels, at print resolution."""
    figure = Figure(figsize=(CONTENT_WIDTH, CHART_HEIGHT - 0.2), dpi=CHART_DPI)
    charts.draw(chart, figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CHART_DPI, metadata={"Software": None})
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def _column_widths(table: Table) -> list[float]:
    """Inches for each column: in proportion to its longest cell, within limits."""
    count = len(table.headers)
    longest = [
        max([len(table.headers[i])] + [len(row[i]) if i < len(row) else 0 for row in table.rows])
        for i in range(count)
    ]
    wanted = [min(max(n, 6), 40) for n in longest]
    scale = CONTENT_WIDTH / sum(wanted)
    return [w * scale for w in wanted]


def _wrap(text: str, width: float) -> list[str]:
    chars = max(4, int(width * CHARS_PER_INCH) - 1)
    lines = textwrap.wrap(text, chars, break_long_words=True) or [""]
    if len(lines) > MAX_CELL_LINES:
        lines = [*lines[: MAX_CELL_LINES - 1], lines[MAX_CELL_LINES - 1][: chars - 1] + "\u2026"]
    return lines


def _add_table(plan: _Plan, table: Table) -> None:
    """Place the table: its caption and header row, then its rows; a table longer than
    what is left of a page goes on over the next with "(continued)" and its header."""
    widths = _column_widths(table)
    header = [_wrap(h, w) for h, w in zip(table.headers, widths, strict=True)]
    rows = [
        [_wrap(cell, w) for cell, w in zip(row, widths, strict=False)]
        for row in (table.rows or (("None in the period",),))
    ]
    fixed = CAPTION_HEIGHT + _row_height(header) + TABLE_GAP
    chunk: list[list[list[str]]] = []
    used = fixed
    continued = False
    for row in rows:
        height = _row_height(row)
        if used + height > plan.left:
            if chunk:
                plan.add(_table_chunk(table, widths, header, chunk, continued))
                continued, chunk, used = True, [], fixed
            if plan.current:
                plan.new_page()
        chunk.append(row)
        used += height
    plan.add(_table_chunk(table, widths, header, chunk, continued))


def _row_height(cells: Sequence[Sequence[str]]) -> float:
    return max(len(lines) for lines in cells) * LINE_HEIGHT + ROW_GAP


def _table_chunk(
    table: Table,
    widths: list[float],
    header: list[list[str]],
    rows: list[list[list[str]]],
    continued: bool,
) -> _Block:
    height = CAPTION_HEIGHT + _row_height(header) + sum(_row_height(r) for r in rows) + TABLE_GAP
    caption = table.caption + (" (continued)" if continued else "")

    def draw(figure: Figure, top: float) -> None:
        figure.text(
            _x(MARGIN_X), _y(top + 0.2), caption, fontsize=9, fontweight="bold", color="#0b0c0c"
        )
        y = top + CAPTION_HEIGHT
        y = _draw_row(figure, y, widths, header, bold=True)
        _rule(figure, y - ROW_GAP / 2, 0.8)
        for index, row in enumerate(rows):
            if index % 2:
                _shade(figure, y, _row_height(row))
            y = _draw_row(figure, y, widths, row, bold=False)
        _rule(figure, y - ROW_GAP / 2, 0.5)

    return _Block(height, draw)


def _draw_row(
    figure: Figure, top: float, widths: list[float], cells: list[list[str]], *, bold: bool
) -> float:
    x = MARGIN_X
    for lines, width in zip(cells, widths, strict=False):
        for n, line in enumerate(lines):
            figure.text(
                _x(x + 0.03),
                _y(top + (n + 0.8) * LINE_HEIGHT),
                line,
                fontsize=TABLE_FONT,
                fontweight="bold" if bold else "normal",
                color="#0b0c0c",
            )
        x += width
    return top + _row_height(cells)


def _rule(figure: Figure, y: float, width: float) -> None:
    figure.add_artist(
        matplotlib.lines.Line2D(
            [_x(MARGIN_X), _x(PAGE_WIDTH - MARGIN_X)],
            [_y(y), _y(y)],
            color="#505a5f",
            linewidth=width,
        )
    )


def _shade(figure: Figure, top: float, height: float) -> None:
    figure.add_artist(
        matplotlib.patches.Rectangle(
            (_x(MARGIN_X), _y(top + height - ROW_GAP / 2)),
            _x(CONTENT_WIDTH),
            height / PAGE_HEIGHT,
            facecolor="#f3f2f1",
            edgecolor="none",
            zorder=-1,
        )
    )


# --- Pages ----------------------------------------------------------------------------------


def _page(number: int, total: int) -> Figure:
    """A blank A4 page with its footer."""
    figure = Figure(figsize=(PAGE_WIDTH, PAGE_HEIGHT))
    figure.text(
        _x(PAGE_WIDTH / 2),
        _y(PAGE_HEIGHT - MARGIN_BOTTOM / 2),
        f"Page {number} of {total}",
        fontsize=8,
        ha="center",
        color="#505a5f",
    )
    return figure


def _cover(figure: Figure, report: Report, title: str, starts: dict[str, int]) -> None:
    left = _x(MARGIN_X)
    figure.text(left, _y(2.2), title, fontsize=22, fontweight="bold", color="#0b0c0c", wrap=True)
    facts = (
        ("Policy", profile_title(report.profile)),
        ("Period", f"{period_caption(report)} (London time)"),
        ("Generated", f"{london_time(report.generated_at)} (London time)"),
    )
    y = 3.0
    for label, value in facts:
        figure.text(left, _y(y), label, fontsize=11, fontweight="bold", color="#0b0c0c")
        figure.text(_x(MARGIN_X + 1.3), _y(y), value, fontsize=11, color="#0b0c0c")
        y += 0.35
    y += 0.5
    figure.text(left, _y(y), "Contents", fontsize=14, fontweight="bold", color="#0b0c0c")
    y += 0.45
    for section in SECTIONS:
        figure.text(left, _y(y), section_heading(section), fontsize=11, color="#0b0c0c")
        figure.text(
            _x(PAGE_WIDTH - MARGIN_X),
            _y(y),
            f"page {starts[section]}",
            fontsize=11,
            ha="right",
            color="#505a5f",
        )
        y += 0.3
    y += 0.5
    figure.text(
        left,
        _y(y),
        "Numbers under 5 in the equality tables are shown as <5.\n"
        "This pack is for the Board: keep it within the organisation.",
        fontsize=9,
        color="#505a5f",
        va="top",
    )


def _x(inches: float) -> float:
    """A distance from the page's left edge, as a fraction of its width."""
    return inches / PAGE_WIDTH


def _y(inches_from_top: float) -> float:
    """A distance from the page's top edge, as a figure coordinate (from the bottom)."""
    return 1 - inches_from_top / PAGE_HEIGHT
