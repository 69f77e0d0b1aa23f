"""The report's charts and HTML from a report built by hand: every chart an accessible SVG,
every table with its caption and figures, hostile labels escaped, the same report giving
the same HTML."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

from matplotlib.figure import Figure

from policy.reporting import (
    AppealFigures,
    EqualityBreakdown,
    IncidentFigures,
    LetterFigures,
    Report,
    RestrictionFigures,
    ReviewFigures,
    StaffSafetyFigures,
    TaskFigures,
)
from reports.charts import NO_FIGURES, Chart, charts_for, draw, svg
from reports.render import render_report
from reports.tables import tables_for
from tests.report_sample import sample_report

HOSTILE = "<script>alert(1)</script>"


def empty_report() -> Report:
    """A report of a quiet period: nothing at all happened."""
    return sample_report(
        restrictions=RestrictionFigures((), (), 0, (), None),
        reviews=ReviewFigures(0, 0, 0, 0, ()),
        appeals=AppealFigures(0, (), None),
        tasks=TaskFigures((), 0, 0, None),
        incidents=IncidentFigures(0, (), (), "day", (), (), 0, 0),
        letters=LetterFigures(0, (), (), 0),
        staff_safety=StaffSafetyFigures(0, 0, 0),
        equality=(EqualityBreakdown("ethnicity", ()),),
    )


@dataclass
class Shown:
    """A table as the page shows it."""

    caption: str = ""
    head: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


class Outline(HTMLParser):
    """The parts of the page the tests look at: SVGs, tables and their cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.svgs: list[dict[str, str | None]] = []
        self.titles: dict[str, str] = {}
        self.tables: dict[str, Shown] = {}
        self.scripts = 0
        self._table: str | None = None
        self._text: list[str] | None = None
        self._where: tuple[str, str] | None = None
        self._row: list[str] | None = None
        self._title_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svgs.append(a)
        if tag == "title" and a.get("id"):
            self._title_id = a["id"]
            self._text = []
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table] = Shown()
        if self._table is not None and tag == "tr":
            self._row = []
        if self._table is not None and tag in ("th", "td", "caption"):
            self._text = []
            self._where = (tag, a.get("scope") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title_id and self._text is not None:
            self.titles[self._title_id] = "".join(self._text).strip()
            self._title_id, self._text = None, None
        if self._table is None:
            return
        table = self.tables[self._table]
        if tag == "caption" and self._text is not None:
            table.caption = " ".join("".join(self._text).split())
            self._text = None
        if tag in ("th", "td") and self._text is not None and self._row is not None:
            cell = " ".join("".join(self._text).split())
            self._row.append(cell)
            if tag == "th" and self._where == ("th", "col"):
                table.head.append(cell)
            self._text = None
        if tag == "tr" and self._row is not None:
            if self._row != table.head:
                table.rows.append(self._row)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    return parser


def test_every_chart_is_an_accessible_svg_with_its_table() -> None:
    report = sample_report()
    charts = charts_for(report)
    tables = {t.table_id: t for t in tables_for(report)}
    assert len({c.chart_id for c in charts}) == len(charts)
    assert {c.table_id for c in charts} <= set(tables)
    assert {"equality-ethnicity", "equality-disability"} <= {c.chart_id for c in charts}
    page = outline(render_report(report, standalone=True))
    by_id = {s.get("id"): s for s in page.svgs}
    for chart in charts:
        element = by_id[f"chart-{chart.chart_id}"]
        assert element["role"] == "img"
        assert element["aria-labelledby"] == f"chart-{chart.chart_id}-title"
        assert page.titles[f"chart-{chart.chart_id}-title"] == chart.title
        assert f"table-{chart.table_id}" in page.tables


def test_every_table_is_shown_with_its_caption_headers_and_figures() -> None:
    report = sample_report()
    page = outline(render_report(report, standalone=False))
    for table in tables_for(report):
        shown = page.tables[f"table-{table.table_id}"]
        assert shown.caption == table.caption
        assert shown.head == list(table.headers)
        assert shown.rows == [list(row) for row in table.rows]
    restrictions = page.tables["table-restrictions-by-kind"].rows
    assert ["Communication protocol", "7", "3"] in restrictions
    ethnicity = page.tables["table-equality-ethnicity"].rows
    assert ["Asian indian", "<5", "<5", "0", "<5"] in ethnicity


def test_the_svg_keeps_text_as_text_and_needs_no_inline_styles() -> None:
    chart = next(c for c in charts_for(sample_report()) if c.chart_id == "restrictions-by-kind")
    drawn = svg(chart)
    assert drawn.startswith("<svg ") and "<?xml" not in drawn and "DOCTYPE" not in drawn
    assert "Communication protocol" in drawn  # text, not glyph paths
    assert "style=" not in drawn and "<style" not in drawn  # CSP style-src 'self'
    assert "<metadata" not in drawn and 'id="figure_1"' not in drawn
    assert "hatch" not in drawn or "<pattern" in drawn


def test_suppressed_equality_counts_are_labelled_not_charted() -> None:
    chart = next(c for c in charts_for(sample_report()) if c.chart_id == "equality-ethnicity")
    with_case, with_restriction = chart.series
    assert chart.categories == ("White british", "Asian indian", "Prefer not to say")
    # 20 and 5 customers are shown; the "<5" group is left out of the shares.
    assert with_case.values == (80.0, 0.0, 20.0)
    assert with_case.value_labels == ("80%", "<5", "20%")
    assert with_restriction.values == (100.0, 0.0, 0.0)
    assert with_restriction.value_labels == ("100%", "<5", "0%")
    assert "<5" in chart.description() and chart.note


def test_hostile_labels_are_escaped() -> None:
    report = sample_report(category=HOSTILE)
    html = render_report(report, standalone=True, case_link=lambda ref: f"/cases?ref={ref}")
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    assert outline(html).scripts == 0


def test_no_id_is_used_twice_on_the_page() -> None:
    ids = re.findall(r'\bid="([^"]+)"', render_report(sample_report(), standalone=True))
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1]


def test_the_same_report_gives_the_same_html() -> None:
    first = render_report(sample_report(), standalone=True)
    svg.cache_clear()
    second = render_report(sample_report(), standalone=True)
    assert first == second


def test_a_quiet_period_still_has_every_chart() -> None:
    report = empty_report()
    charts = charts_for(report)
    assert {c.chart_id for c in charts} >= {
        c.chart_id for c in charts_for(sample_report()) if not c.section == "equality"
    }
    assert all(c.empty for c in charts)
    html = render_report(report, standalone=False)
    for chart in charts:
        assert f'id="chart-{chart.chart_id}"' in html
    assert html.count(NO_FIGURES) >= len(charts)


def test_links_to_cases_and_csv_downloads() -> None:
    html = render_report(
        sample_report(),
        standalone=False,
        case_link=lambda ref: f"/inbox/cases?ref={ref}",
        csv_link=lambda section: f"/inbox/reports/{section}.csv?from=2026-10-01",
    )
    assert '<a href="/inbox/cases?ref=CUST-42">CUST-42</a>' in html
    assert 'href="/inbox/reports/equality.csv?from=2026-10-01"' in html
    assert "<!doctype html>" not in html.lower()
    assert "@media print" not in html


def test_the_standalone_report_is_a_whole_document_with_its_print_styles() -> None:
    html = render_report(sample_report(), standalone=True)
    assert html.lower().startswith("<!doctype html>")
    assert "@media print" in html and "break-inside: avoid" in html
    assert "Download CSV" not in html  # no csv_link given
    assert re.search(r"1 Oct 2026 to 30 Oct 2026", html)


def test_draw_fills_a_given_figure() -> None:
    for chart in charts_for(sample_report()):
        figure = Figure(figsize=(6, 4))
        draw(chart, figure)
        assert figure.axes, chart.chart_id


def test_charts_are_fast_enough_for_a_page() -> None:
    charts = charts_for(sample_report())
    svg.cache_clear()
    started = time.perf_counter()
    for chart in charts:
        svg(chart)
    elapsed = time.perf_counter() - started
    print(f"svg() of {len(charts)} charts: {elapsed:.2f}s")
    assert elapsed < 10
    started = time.perf_counter()
    for chart in charts:
        svg(chart)
    assert time.perf_counter() - started < 0.05  # the same chart again is cached


def test_an_empty_chart_says_so() -> None:
    chart = Chart("x", "reviews", "Nothing", "bar", (), (), "reviews-summary")
    assert chart.empty and NO_FIGURES in svg(chart)
