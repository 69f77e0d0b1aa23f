"""The Board pack's PDF (reports/pdf.py): a valid, deterministic A4 document whose every
page renders, with its sections' headings and figures as searchable text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pypdfium2  # type: ignore[import-untyped]

from policy.reporting import (
    SECTIONS,
    Count,
    IncidentFigures,
    Report,
    ReviewListed,
    SeriesPoint,
    previous_month,
)
from reports.pdf import SECTION_HEADINGS, render_pdf, section_heading
from tests.report_sample import sample_report

A4_POINTS = (595, 842)


def hand_built_report(overdue: int = 2) -> Report:
    """October 2026 for Housing Solutions, with a figure in every section."""
    period = previous_month(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    listed = tuple(
        ReviewListed(
            customer_ref=f"HS{n:05d}",
            case_key=f"HS{n:05d}:1",
            kind="protocol_review",
            due_at=datetime(2026, 10, 1, 9, 0, tzinfo=UTC),
            role="manager",
        )
        for n in range(overdue)
    )
    days = [f"2026-10-{d:02d}" for d in range(1, 32)]
    sample = sample_report()
    return sample_report(
        period_start=period.start,
        period_end=period.end,
        generated_at=datetime(2026, 11, 1, 6, 0, 5, tzinfo=UTC),
        restrictions=replace(sample.restrictions, median_days_in_force=181.5),
        reviews=replace(sample.reviews, overdue=overdue, overdue_cases=listed),
        incidents=IncidentFigures(
            total=4217,
            by_category=(Count("verbal_abuse", 4000), Count("unreasonable_persistence", 217)),
            by_channel=(Count("phone", 3000), Count("email", 1217)),
            bucket="day",
            category_over_time=tuple(
                SeriesPoint(day, "verbal_abuse", 100 + n) for n, day in enumerate(days)
            ),
            channel_over_time=tuple(SeriesPoint(day, "phone", 90) for day in days),
            reopened_cases=2,
            fresh_episodes=1,
        ),
    )


def page_texts(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(data)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def assert_every_page_renders(data: bytes) -> int:
    """Render every page; none may be blank. Returns the page count."""
    document = pypdfium2.PdfDocument(data)
    try:
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            assert (round(width), round(height)) == A4_POINTS, (index, width, height)
            image = page.render(scale=1).to_pil().convert("L")
            low, high = image.getextrema()
            assert low < 128 < high, f"page {index + 1} is blank"
            dark = sum(image.histogram()[:200])
            assert dark > 200, f"page {index + 1} has almost nothing on it ({dark} dark pixels)"
        return len(document)
    finally:
        document.close()


def test_the_pack_is_a_valid_pdf_whose_every_page_renders() -> None:
    data = render_pdf(hand_built_report(), title="Board pack for October 2026")
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = assert_every_page_renders(data)
    # The cover, then at least one page for each section (each starts a page).
    assert pages >= 1 + len(SECTIONS)
    texts = page_texts(data)
    assert len(texts) == pages
    assert "Board pack for October 2026" in texts[0]
    assert "1 Oct 2026 to 31 Oct 2026" in texts[0]
    for n, text in enumerate(texts, start=1):
        assert f"Page {n} of {pages}" in text


def test_the_sections_headings_and_figures_are_searchable_text() -> None:
    data = render_pdf(hand_built_report(), title="Board pack for October 2026")
    texts = page_texts(data)
    everything = "\n".join(texts)
    for section in SECTIONS:
        heading = section_heading(section)
        assert heading in texts[0], f"{heading} not in the contents"
        assert sum(heading in text for text in texts[1:]) >= 1, heading
    assert "4217" in everything  # the incidents in the period, a figure from the table
    assert "Median days in force" in everything and "181.5" in everything
    assert "<5" in everything  # suppressed equality counts stay suppressed


def test_the_contents_give_the_page_each_section_starts_on() -> None:
    data = render_pdf(hand_built_report(), title="Board pack for October 2026")
    texts = page_texts(data)
    for section in SECTIONS:
        heading = SECTION_HEADINGS[section]
        start = next(n for n, text in enumerate(texts, start=1) if n > 1 and heading in text)
        assert f"page {start}" in texts[0], (heading, start)


def test_a_long_table_goes_on_over_further_pages() -> None:
    short = render_pdf(hand_built_report(overdue=2), title="Board pack")
    long = render_pdf(hand_built_report(overdue=150), title="Board pack")
    short_pages = assert_every_page_renders(short)
    long_pages = assert_every_page_renders(long)
    assert long_pages >= short_pages + 2
    texts = page_texts(long)
    continued = [t for t in texts if "Reviews overdue now (the target is none) (continued)" in t]
    assert len(continued) >= 2
    everything = "\n".join(texts)
    assert "HS00000" in everything and "HS00149" in everything  # no row lost


def test_the_same_report_gives_the_same_bytes_and_no_one_is_named_in_the_metadata() -> None:
    report = hand_built_report()
    first = render_pdf(report, title="Board pack for October 2026")
    assert render_pdf(report, title="Board pack for October 2026") == first
    document = pypdfium2.PdfDocument(first)
    try:
        metadata = document.get_metadata_dict()
    finally:
        document.close()
    assert metadata["Title"] == "Board pack for October 2026"
    assert "housing_solutions" in metadata["Subject"]
    assert metadata["CreationDate"].startswith("D:20261101060005")
    assert not metadata.get("Author")
    assert "HS00000" not in " ".join(str(v) for v in metadata.values())


def test_an_empty_report_still_renders_every_section() -> None:
    report = hand_built_report(overdue=0)
    empty = replace(
        report,
        restrictions=replace(report.restrictions, in_force=(), started=(), ended=()),
        incidents=replace(
            report.incidents,
            total=0,
            by_category=(),
            by_channel=(),
            category_over_time=(),
            channel_over_time=(),
        ),
        equality=(),
    )
    data = render_pdf(empty, title="Board pack")
    assert_every_page_renders(data)
    rest = "\n".join(page_texts(data)[1:])
    for section in SECTIONS:
        assert section_heading(section) in rest, section
