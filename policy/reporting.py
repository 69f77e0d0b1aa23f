"""Management reporting (HS 9.2, HS 7.1, Magna's annual review): the figures a report
holds, the periods it covers and the rules for showing small numbers. Pure: the records
compute the figures (records/reports.py), the API and the Board pack show them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# The characteristics monitored (HS 7.1: "ethnicity, vulnerability and disability"; age
# band and sex as the Equality Act's protected characteristics most landlords record).
EQUALITY_CHARACTERISTICS = ("ethnicity", "disability", "vulnerability", "age_band", "sex")
PREFER_NOT_TO_SAY = "prefer_not_to_say"
NOT_RECORDED = "not_recorded"

# Counts below this are shown as "<5" in the equality breakdown, so that nobody can be
# picked out of a small group.
SMALL_NUMBER = 5

# The report's sections, in the order the page, the CSV and the Board pack show them.
SECTIONS = (
    "restrictions",
    "reviews",
    "appeals",
    "tasks",
    "incidents",
    "letters",
    "staff_safety",
    "equality",
)


def suppress(count: int, threshold: int = SMALL_NUMBER) -> str:
    """A count as the equality breakdown shows it: 0 as "0", 1 to threshold-1 as "<5"."""
    if 0 < count < threshold:
        return f"<{threshold}"
    return str(count)


def median(values: Sequence[float]) -> float | None:
    """The median of some durations, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class ReportPeriod:
    """From ``start`` (inclusive) to ``end`` (exclusive), in UTC."""

    start: datetime
    end: datetime

    def days(self) -> tuple[date, date]:
        """The first and last London days the period covers (``period_of_days`` inverted)."""
        last_moment = self.end - timedelta(microseconds=1)
        return self.start.astimezone(LONDON).date(), last_moment.astimezone(LONDON).date()


def london_midnight(day: date) -> datetime:
    """The start of a London calendar day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def period_of_days(first: date, last: date) -> ReportPeriod:
    """The London calendar days ``first`` to ``last``, both included."""
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    return ReportPeriod(london_midnight(first), london_midnight(last + timedelta(days=1)))


def default_period(now: datetime) -> ReportPeriod:
    """The 30 London days up to and including today: what /reports shows unless asked."""
    return period_of_days(*days_asked(None, None, now))


def days_asked(first: date | None, last: date | None, now: datetime) -> tuple[date, date]:
    """The London days a report covers when asked for ``first`` and/or ``last``: a missing
    end is today, a missing start 29 days before the end (30 days in all)."""
    last = last or now.astimezone(LONDON).date()
    return first or last - timedelta(days=29), last


def previous_month(now: datetime) -> ReportPeriod:
    """The London calendar month before the one ``now`` falls in (the monthly Board pack)."""
    first_of_this = now.astimezone(LONDON).date().replace(day=1)
    first_of_last = (first_of_this - timedelta(days=1)).replace(day=1)
    return period_of_days(first_of_last, first_of_this - timedelta(days=1))


def previous_twelve_months(now: datetime) -> ReportPeriod:
    """The twelve London calendar months before the one ``now`` falls in (the annual
    policy review pack)."""
    first_of_this = now.astimezone(LONDON).date().replace(day=1)
    first = first_of_this.replace(year=first_of_this.year - 1)
    return period_of_days(first, first_of_this - timedelta(days=1))


# --- The figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """One labelled figure (a kind, a category, a channel, an outcome)."""

    label: str
    count: int


@dataclass(frozen=True)
class ReviewListed:
    """A review listed by the report: which case, what is reviewed, by when, by whom."""

    customer_ref: str
    case_key: str
    # protocol_review | risk_flag_decision: an open review task; restriction: a
    # restriction in force whose review date passed with no review task (a missed review).
    kind: str
    due_at: datetime
    role: str | None


@dataclass(frozen=True)
class RestrictionFigures:
    """Restrictions (protocols, immediate action, ending direct contact)."""

    # By kind, in force at the end of the period (or now, if that is earlier).
    in_force: tuple[Count, ...]
    # By kind, authorised in the period.
    started: tuple[Count, ...]
    # Terms varied in the period (a review's "vary" or an appeal's "varied").
    varied: int
    # By how they ended in the period: ended (at review), overturned (on appeal), replaced.
    ended: tuple[Count, ...]
    # Days from authorisation to the end, median over those that ended in the period.
    median_days_in_force: float | None


@dataclass(frozen=True)
class ReviewFigures:
    """Reviews of restrictions and risk flags: the Ombudsman's recurring finding."""

    # Review dates falling in the next 30 days from now.
    due_next_30_days: int
    # Review tasks decided in the period by their due date, and after it.
    done_on_time: int
    done_late: int
    # Reviews overdue now (the target is 0), each listed.
    overdue: int
    overdue_cases: tuple[ReviewListed, ...]


@dataclass(frozen=True)
class AppealFigures:
    """Appeals received and decided in the period."""

    received: int
    # upheld | varied | overturned, decided in the period.
    outcomes: tuple[Count, ...]
    median_days_to_decision: float | None


@dataclass(frozen=True)
class TaskCount:
    """Open tasks of one kind with one role."""

    kind: str
    role: str
    count: int


@dataclass(frozen=True)
class TaskFigures:
    """Decisions staff owe and have taken."""

    # Open now, by kind and the role that holds them (escalated_to when escalated).
    open: tuple[TaskCount, ...]
    # Open now and past their due date.
    overdue: int
    # Escalated in the period.
    escalated: int
    # Hours from task to decision, median over those decided in the period.
    median_hours_to_decision: float | None


@dataclass(frozen=True)
class SeriesPoint:
    """A count in one time bucket (a London day or month, e.g. "2026-10-03", "2026-10")."""

    bucket: str
    label: str
    count: int


@dataclass(frozen=True)
class IncidentFigures:
    """Incidents that occurred in the period, and how cases came back."""

    total: int
    by_category: tuple[Count, ...]
    by_channel: tuple[Count, ...]
    # "day" for periods up to 62 days, else "month".
    bucket: str
    category_over_time: tuple[SeriesPoint, ...]
    channel_over_time: tuple[SeriesPoint, ...]
    # Cases reopened within the 12-month rule, and fresh episodes opened after it.
    reopened_cases: int
    fresh_episodes: int


@dataclass(frozen=True)
class LetterFigures:
    """Letters to customers created in the period."""

    sent: int
    by_kind: tuple[Count, ...]
    # email | post
    by_channel: tuple[Count, ...]
    undeliverable: int


@dataclass(frozen=True)
class StaffSafetyFigures:
    """Violence and threats against staff, and police reports made (HS 6.3.1)."""

    violence: int
    threats: int
    police_reports_made: int


@dataclass(frozen=True)
class EqualityRow:
    """One recorded value of a characteristic; counts suppressed below SMALL_NUMBER."""

    # A profile category, PREFER_NOT_TO_SAY or NOT_RECORDED.
    value: str
    # Customers with a case open at any time in the period: the baseline.
    customers_with_a_case: str
    # Of them, those with a restriction in force at any time in the period.
    with_restriction: str
    # Those given an initial or formal warning in the period.
    with_warning: str
    # Incidents that occurred in the period.
    incidents: str


@dataclass(frozen=True)
class EqualityBreakdown:
    """Restrictions, warnings and incidents by one characteristic, against the baseline."""

    characteristic: str
    rows: tuple[EqualityRow, ...]


@dataclass(frozen=True)
class Report:
    """Every figure for one profile and period, as at ``generated_at``."""

    profile: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    restrictions: RestrictionFigures
    reviews: ReviewFigures
    appeals: AppealFigures
    tasks: TaskFigures
    incidents: IncidentFigures
    letters: LetterFigures
    staff_safety: StaffSafetyFigures
    equality: tuple[EqualityBreakdown, ...]
