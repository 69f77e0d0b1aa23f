"""The report's charts: which figures each chart shows (``charts_for``), drawing one onto a
matplotlib figure (``draw``, for the Board pack's PDF pages) and as accessible inline SVG
(``svg``, for the page and the Board pack's HTML).

Drawn with ``matplotlib.figure.Figure`` directly (no pyplot, so no global figure state and
no GUI backend). Every series has its own colour from the Okabe-Ito colour-blind-safe
palette *and* its own hatching (bars) or marker and line style (lines), so the charts stay
readable printed in black and white. The table holding the same figures (``Chart.table_id``,
from ``reports.tables``) is always shown beside a chart for screen readers.

Equality charts compare, for each recorded value of a characteristic, its share of the
customers with a case against its share of the customers with a restriction. Counts under
``SMALL_NUMBER`` reach the report already suppressed ("<5"); they are never estimated: a
suppressed group is drawn as a zero-height bar labelled "<5" and left out of both shares'
denominators, and the chart's note says so.
"""

from __future__ import annotations

import functools
import html
import io
import re
import textwrap
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from policy.reporting import SMALL_NUMBER, Count, EqualityBreakdown, Report, SeriesPoint
from reports.tables import label_for, ordered_labels, period_buckets

ChartKind = Literal["bar", "stacked_bar", "line"]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; each series also
# gets a hatch or marker, so that greyscale print tells them apart too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo", "+++", "---")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINE_STYLES = ("-", "--", ":", "-.")
NO_FIGURES = "No figures in this period"
FIGURE_SIZE = (6.4, 3.6)  # inches: a half-page chart, legible at 100% on screen and A4


@dataclass(frozen=True)
class Series:
    """One series of a chart: a value per category (and, optionally, the text shown on
    each bar instead of the number, e.g. "<5" for a suppressed count)."""

    label: str
    values: tuple[float, ...]
    value_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart:
    """One chart of a report section, and the table (``reports.tables``) beside it."""

    chart_id: str
    section: str
    title: str
    kind: ChartKind
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    table_id: str
    y_label: str = "Number"
    percent: bool = False
    note: str = ""

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw (no categories, or every value is zero and no
        value is labelled, e.g. "<5")."""
        return not self.categories or not any(
            value or any(s.value_labels) for s in self.series for value in s.values
        )

    def description(self) -> str:
        """The chart in words (the SVG's ``<desc>``): every figure it shows."""
        if self.empty:
            return NO_FIGURES + "."
        if self.kind == "line":
            totals = (f"{s.label} {sum(s.values):g} in all" for s in self.series)
            return (
                f"Over {len(self.categories)} periods from {self.categories[0]} to "
                f"{self.categories[-1]}: {', '.join(totals)}. The table gives each period."
            )
        parts = []
        for s in self.series:
            shown = [
                f"{category} {_value_text(self, s, i)}"
                for i, category in enumerate(self.categories)
            ]
            parts.append(f"{s.label}: {', '.join(shown)}")
        return "; ".join(parts) + "."


# --- which charts ----------------------------------------------------------------------


def charts_for(report: Report) -> tuple[Chart, ...]:
    """Every chart of the report, in ``SECTIONS`` order; each chart id is always there
    (drawn as "No figures in this period" when there are none), one equality chart per
    characteristic the report breaks down."""
    r = report
    restrictions = r.restrictions
    kinds = ordered_labels([*restrictions.in_force, *restrictions.started])
    charts = [
        Chart(
            "restrictions-by-kind",
            "restrictions",
            "Restrictions in force at the end of the period, and started in it",
            "bar",
            tuple(label_for(k) for k in kinds),
            (
                _series("In force", kinds, restrictions.in_force),
                _series("Started in the period", kinds, restrictions.started),
            ),
            "restrictions-by-kind",
            y_label="Restrictions",
        ),
        _count_chart(
            "restrictions-ended",
            "restrictions",
            "Restrictions that ended in the period, by how they ended",
            "Ended",
            restrictions.ended,
            y_label="Restrictions",
        ),
        Chart(
            "reviews-summary",
            "reviews",
            "Reviews of restrictions and risk flags",
            "bar",
            ("Due in the next 30 days", "Done on time", "Done late", "Overdue now"),
            (
                Series(
                    "Reviews",
                    (
                        r.reviews.due_next_30_days,
                        r.reviews.done_on_time,
                        r.reviews.done_late,
                        r.reviews.overdue,
                    ),
                ),
            ),
            "reviews-summary",
            y_label="Reviews",
            note="Done on time and late: decided in the period. Due and overdue: as of now.",
        ),
        _count_chart(
            "appeals-outcomes",
            "appeals",
            f"Appeals decided in the period, by outcome ({r.appeals.received} received)",
            "Appeals",
            r.appeals.outcomes,
            y_label="Appeals",
        ),
        _tasks_chart(r),
        _count_chart(
            "incidents-by-category",
            "incidents",
            "Incidents in the period, by what happened",
            "Incidents",
            r.incidents.by_category,
            y_label="Incidents",
        ),
        _count_chart(
            "incidents-by-channel",
            "incidents",
            "Incidents in the period, by how they reached us",
            "Incidents",
            r.incidents.by_channel,
            y_label="Incidents",
        ),
        _over_time_chart(
            r,
            "incidents-category-over-time",
            "Incidents by category",
            r.incidents.category_over_time,
            r.incidents.by_category,
        ),
        _over_time_chart(
            r,
            "incidents-channel-over-time",
            "Incidents by channel",
            r.incidents.channel_over_time,
            r.incidents.by_channel,
        ),
        _count_chart(
            "letters-by-kind",
            "letters",
            "Letters created in the period, by letter",
            "Letters",
            r.letters.by_kind,
            y_label="Letters",
        ),
        _count_chart(
            "letters-by-delivery",
            "letters",
            "Letters created in the period, by delivery",
            "Letters",
            r.letters.by_channel,
            y_label="Letters",
        ),
        Chart(
            "staff-safety",
            "staff_safety",
            "Violence and threats against staff, and police reports made",
            "bar",
            ("Physical violence", "Threats of violence", "Police reports made"),
            (
                Series(
                    "Number",
                    (
                        r.staff_safety.violence,
                        r.staff_safety.threats,
                        r.staff_safety.police_reports_made,
                    ),
                ),
            ),
            "staff-safety",
        ),
    ]
    charts.extend(_equality_chart(b) for b in r.equality)
    return tuple(charts)


def _series(name: str, labels: Sequence[str], counts: Iterable[Count]) -> Series:
    by_label = {c.label: c.count for c in counts}
    return Series(name, tuple(float(by_label.get(label, 0)) for label in labels))


def _count_chart(
    chart_id: str,
    section: str,
    title: str,
    series: str,
    counts: Sequence[Count],
    *,
    y_label: str,
) -> Chart:
    """A bar per labelled count; its table has the same id."""
    return Chart(
        chart_id,
        section,
        title,
        "bar",
        tuple(label_for(c.label) for c in counts),
        (Series(series, tuple(float(c.count) for c in counts)),),
        chart_id,
        y_label=y_label,
    )


def _tasks_chart(report: Report) -> Chart:
    """Open decisions by task, stacked by the role holding them."""
    kinds = list(dict.fromkeys(t.kind for t in report.tasks.open))
    roles = list(dict.fromkeys(t.role for t in report.tasks.open))
    counts = {(t.kind, t.role): t.count for t in report.tasks.open}
    return Chart(
        "tasks-open",
        "tasks",
        "Decisions open now, by task and the role that holds them",
        "stacked_bar",
        tuple(label_for(k) for k in kinds),
        tuple(
            Series(label_for(role), tuple(float(counts.get((k, role), 0)) for k in kinds))
            for role in roles
        ),
        "tasks-open",
        y_label="Open tasks",
    )


def _over_time_chart(
    report: Report,
    chart_id: str,
    title: str,
    points: Sequence[SeriesPoint],
    totals: Sequence[Count],
) -> Chart:
    """A line per label over the London days of the period (or stacked bars per month)."""
    buckets = period_buckets(report)
    known = set(buckets)
    buckets += sorted({p.bucket for p in points if p.bucket not in known})
    labels = ordered_labels([*totals, *(Count(p.label, p.count) for p in points)])
    cells = {(p.bucket, p.label): p.count for p in points}
    daily = report.incidents.bucket == "day"
    return Chart(
        chart_id,
        "incidents",
        f"{title}, by London {'day' if daily else 'month'}",
        "line" if daily else "stacked_bar",
        tuple(buckets),
        tuple(
            Series(label_for(label), tuple(float(cells.get((b, label), 0)) for b in buckets))
            for label in labels
        ),
        chart_id,
        y_label="Incidents",
    )


def _equality_chart(breakdown: EqualityBreakdown) -> Chart:
    """Each value's share of the customers with a case against its share of those with a
    restriction; suppressed ("<5") counts are labelled, not charted, nor counted in the
    denominators."""
    characteristic = breakdown.characteristic
    name = label_for(characteristic)
    rows = breakdown.rows
    series = []
    for label, column in (
        ("Share of customers with a case", [row.customers_with_a_case for row in rows]),
        ("Share of those with a restriction", [row.with_restriction for row in rows]),
    ):
        counts = [int(text) if text.isdigit() else None for text in column]
        total = sum(c for c in counts if c is not None)
        values = tuple(100.0 * c / total if c is not None and total else 0.0 for c in counts)
        shown = tuple(
            text if count is None else f"{value:.0f}%"
            for text, count, value in zip(column, counts, values, strict=True)
        )
        series.append(Series(label, values, shown))
    return Chart(
        f"equality-{characteristic.replace('_', '-')}",
        "equality",
        f"{name}: share of customers with a case and with a restriction",
        "bar",
        tuple(label_for(row.value) for row in rows),
        tuple(series),
        f"equality-{characteristic.replace('_', '-')}",
        y_label="Share (%)",
        percent=True,
        note=f"Groups under {SMALL_NUMBER} are marked <{SMALL_NUMBER}, not charted, "
        "and left out of the shares.",
    )


# --- drawing ---------------------------------------------------------------------------


def _value_text(chart: Chart, series: Series, index: int) -> str:
    if series.value_labels:
        return series.value_labels[index]
    value = series.values[index]
    if chart.percent:
        return f"{value:.0f}%"
    return f"{value:g}"


def _short(category: str, width: int = 15) -> str:
    """An axis label: an ISO day as "3 Oct", a month as "Oct 2026", a long label wrapped
    on up to three lines (and cut with an ellipsis beyond)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", category):
        day = date.fromisoformat(category)
        return f"{day.day} {day:%b}"
    if re.fullmatch(r"\d{4}-\d{2}", category):
        return date.fromisoformat(category + "-01").strftime("%b %Y")
    lines = textwrap.wrap(category, width, max_lines=3, placeholder="\u2026") or [""]
    return "\n".join(lines)


def draw(chart: Chart, figure: Figure) -> None:
    """Draw ``chart`` onto ``figure`` (one axes, title, legend and note). Margins are fixed
    fractions of the figure rather than a layout engine's: four times faster, and the
    labels are cut to fit (``_short``)."""
    legend = len(chart.series) > 1 and not chart.empty
    slanted = _slanted(chart)
    figure.subplots_adjust(
        left=0.11,
        right=0.7 if legend else 0.97,
        top=0.84,
        bottom=(0.3 if slanted else 0.22) + (0.05 if chart.note else 0.0),
    )
    ax = figure.add_subplot()
    title = "\n".join(textwrap.wrap(chart.title, 70)[:2])
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    if chart.empty:
        ax.set_axis_off()
        ax.text(0.5, 0.5, NO_FIGURES, ha="center", va="center", fontsize=11, color="#000000")
        return
    positions = list(range(len(chart.categories)))
    if chart.kind == "line":
        _draw_lines(chart, ax, positions)
    else:
        _draw_bars(chart, ax, positions)
    ax.set_ylabel(chart.y_label, fontsize=9)
    ax.set_ylim(bottom=0)
    if chart.percent:
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#bbbbbb", linewidth=0.5, linestyle="--")
    ax.set_axisbelow(True)
    _category_axis(chart, ax, positions, slanted)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(
            handles,
            ["\n".join(textwrap.wrap(label, 20)) for label in labels],
            fontsize=8,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    if chart.note:
        figure.text(0.01, 0.015, chart.note, fontsize=7.5, style="italic", ha="left")


def _shown_positions(chart: Chart) -> list[int]:
    """The categories labelled on the axis: at most ten on a long time axis."""
    positions = list(range(len(chart.categories)))
    step = max(1, -(-len(positions) // 10)) if chart.kind == "line" else 1
    return positions[::step]


def _slanted(chart: Chart) -> bool:
    """Whether the category labels are slanted (many, or long)."""
    labels = [_short(chart.categories[p]) for p in _shown_positions(chart)]
    return len(labels) > 6 or (len(labels) > 3 and any("\n" in label for label in labels))


def _draw_bars(chart: Chart, ax: Axes, positions: list[int]) -> None:
    stacked = chart.kind == "stacked_bar"
    count = len(chart.series)
    width = 0.8 if stacked else 0.8 / count
    bottoms = [0.0] * len(positions)
    for n, series in enumerate(chart.series):
        offset = 0.0 if stacked else (n - (count - 1) / 2) * width
        bars = ax.bar(
            [p + offset for p in positions],
            series.values,
            width,
            bottom=bottoms if stacked else None,
            label=series.label,
            color=PALETTE[n % len(PALETTE)],
            hatch=HATCHES[n % len(HATCHES)],
            edgecolor="#000000",
            linewidth=0.6,
        )
        if not stacked:
            labels = [_value_text(chart, series, i) for i in range(len(positions))]
            ax.bar_label(bars, labels=labels, fontsize=7.5, padding=2)
        else:
            bottoms = [b + v for b, v in zip(bottoms, series.values, strict=True)]
    if stacked:
        for position, total in zip(positions, bottoms, strict=True):
            ax.annotate(
                f"{total:g}",
                (position, total),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7.5,
            )
    ax.margins(y=0.15)


def _draw_lines(chart: Chart, ax: Axes, positions: list[int]) -> None:
    for n, series in enumerate(chart.series):
        ax.plot(
            positions,
            series.values,
            label=series.label,
            color=PALETTE[n % len(PALETTE)],
            marker=MARKERS[n % len(MARKERS)],
            markersize=3.5,
            linestyle=LINE_STYLES[n % len(LINE_STYLES)],
            linewidth=1.3,
        )


def _category_axis(chart: Chart, ax: Axes, positions: list[int], slanted: bool) -> None:
    """Category labels, thinned on a long time axis, slanted when many or long."""
    shown = _shown_positions(chart)
    ax.set_xticks(shown)
    ax.set_xticklabels(
        [_short(chart.categories[p]) for p in shown],
        fontsize=8,
        rotation=30 if slanted else 0,
        ha="right" if slanted else "center",
        rotation_mode="anchor",
    )
    # At least four slots wide, so that one or two bars are not drawn as wide as the chart.
    half = max(len(positions), 4) / 2
    middle = (len(positions) - 1) / 2
    ax.set_xlim(middle - half + 0.1, middle + half - 0.1)


# --- SVG -------------------------------------------------------------------------------

# rcParams are process-wide; the SVG settings are set only while one chart is written.
_SVG_LOCK = threading.Lock()
_STYLE = re.compile(r'\sstyle="([^"]*)"')
_GROUP_ID = re.compile(r'(<g)\s+id="[^"]*"')


def _attributes(match: re.Match[str]) -> str:
    """A ``style`` attribute as SVG presentation attributes: the page's Content Security
    Policy (``style-src 'self'``) ignores inline styles, never presentation attributes."""
    pairs = []
    for declaration in match.group(1).split(";"):
        name, _, value = declaration.partition(":")
        if name.strip() and value.strip():
            pairs.append(f' {name.strip()}="{value.strip()}"')
    return "".join(pairs)


def _clean(raw: str, chart: Chart) -> str:
    """matplotlib's SVG made inline-ready: no prolog, metadata, style element or style
    attributes, no ids on groups (they would repeat between charts), and the root made an
    image labelled by its title and described by every figure."""
    body = raw[raw.index("<svg") :]
    body = re.sub(r"<metadata>.*?</metadata>\s*", "", body, flags=re.S)
    body = re.sub(r'<style type="text/css">.*?</style>\s*', "", body, flags=re.S)
    body = re.sub(r"<defs>\s*</defs>\s*", "", body)
    body = _STYLE.sub(_attributes, body)
    body = _GROUP_ID.sub(r"\1", body)
    body = re.sub(r"\n\s*", "\n", body).strip()
    opening = re.match(r"<svg\b[^>]*>", body)
    assert opening is not None
    size = dict(re.findall(r'\b(width|height|viewBox)="([^"]*)"', opening.group(0)))
    ident = f"chart-{chart.chart_id}"
    root = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'version="1.1" class="chart" width="{size["width"]}" height="{size["height"]}" '
        f'viewBox="{size["viewBox"]}" role="img" id="{ident}" '
        f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
        'stroke-linejoin="round" stroke-linecap="butt">'
        f'\n<title id="{ident}-title">{html.escape(chart.title)}</title>'
        f'\n<desc id="{ident}-desc">{html.escape(chart.description())}</desc>'
    )
    return root + body[opening.end() :]


@functools.lru_cache(maxsize=512)
def svg(chart: Chart) -> str:
    """The chart as an inline SVG element: text kept as text, ids salted with the chart id
    (so the same chart always gives the same SVG and two charts never share an id)."""
    figure = Figure(figsize=FIGURE_SIZE)
    draw(chart, figure)
    out = io.StringIO()
    salt = f"ucb-{chart.chart_id}"
    with _SVG_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return _clean(out.getvalue(), chart)
