"""The management report's figures (policy.reporting), counted by the records database.

Every figure is a SQL aggregate (COUNT, SUM, GROUP BY) written once for SQLite and
PostgreSQL; only the medians fetch the two timestamps they need. Every figure is of one
policy profile (``cases.profile``, reached through ``case_key``), and ``now`` is given, never
read from the clock here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.util import AliasedClass

from policy.categories import Category
from policy.profiles import UnknownProfileError, load_profile
from policy.reporting import (
    EQUALITY_CHARACTERISTICS,
    NOT_RECORDED,
    PREFER_NOT_TO_SAY,
    AppealFigures,
    Count,
    EqualityBreakdown,
    EqualityRow,
    IncidentFigures,
    LetterFigures,
    Report,
    ReportPeriod,
    RestrictionFigures,
    ReviewFigures,
    ReviewListed,
    SeriesPoint,
    StaffSafetyFigures,
    TaskCount,
    TaskFigures,
    london_midnight,
    median,
    suppress,
)
from policy.tasks import TaskKind, decider_role
from records.models import (
    AuditEvent,
    Case,
    CustomerEquality,
    Incident,
    Letter,
    ProtocolRecord,
    Task,
)

# A restriction whose review date passed more than this long ago with no open review task
# is a missed review: the case's timer creates the task at the review date, so a day's
# grace (more than any delay in the timer firing) separates "late" from "never made".
MISSED_REVIEW_GRACE = timedelta(days=1)
# How far ahead "reviews due" looks.
REVIEWS_AHEAD = timedelta(days=30)
# Periods up to this many days are shown by London day, longer ones by London month.
DAILY_UP_TO_DAYS = 62

REVIEW_KINDS = (TaskKind.PROTOCOL_REVIEW.value, TaskKind.RISK_FLAG_DECISION.value)
WARNING_KINDS = (TaskKind.INITIAL_WARNING.value, TaskKind.FORMAL_WARNING.value)
ENDED_STATUSES = ("ended", "overturned", "replaced")
SENT_STATUSES = frozenset({"sent", "stored"})
_DAY = 86_400.0
_Column = InstrumentedAttribute
_HOUR = 3_600.0


async def build_report(
    sessions: async_sessionmaker[AsyncSession],
    *,
    profile: str,
    period: ReportPeriod,
    now: datetime,
) -> Report:
    """Every figure of one profile's report for ``period``, as at ``now``."""
    async with sessions() as session:
        incidents, by_category = await _incidents(session, profile, period)
        return Report(
            profile=profile,
            period_start=period.start,
            period_end=period.end,
            generated_at=now,
            restrictions=await _restrictions(session, profile, period, now),
            reviews=await _reviews(session, profile, period, now),
            appeals=await _appeals(session, profile, period),
            tasks=await _tasks(session, profile, period, now),
            incidents=incidents,
            letters=await _letters(session, profile, period),
            staff_safety=StaffSafetyFigures(
                violence=by_category.get(Category.PHYSICAL_VIOLENCE.value, 0),
                threats=by_category.get(Category.THREAT_OF_VIOLENCE.value, 0),
                police_reports_made=await _police_reports(session, profile, period),
            ),
            equality=await _equality(session, profile, period),
        )


# --- helpers ---------------------------------------------------------------------------


def _of_profile(
    case_key: _Column[str | None], profile: str, cases: type[Case] | AliasedClass[Case] = Case
) -> ColumnElement[bool]:
    """The row's case episode is of ``profile``: a join to ``cases`` (a key lookup in its
    covering index per row, which both databases plan better than an IN list of cases)."""
    return and_(cases.case_key == case_key, cases.profile == profile)


def _within(column: _Column[datetime | None], period: ReportPeriod) -> ColumnElement[bool]:
    """The moment falls in the period (start inclusive, end exclusive)."""
    return and_(column >= period.start, column < period.end)


def _ordered(counter: Counter[str]) -> tuple[Count, ...]:
    """Counts, largest first, then by label; zeros left out."""
    return tuple(
        Count(label, n) for label, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])) if n
    )


async def _grouped(session: AsyncSession, query: Select[tuple[str, int]]) -> tuple[Count, ...]:
    """A ``label, count`` query as counts."""
    return _ordered(Counter({label: n for label, n in (await session.execute(query)).tuples()}))


async def _durations(session: AsyncSession, query: Select[Any], unit: float) -> float | None:
    """The median time between two moments of each row, in ``unit`` seconds."""
    rows = (await session.execute(query)).tuples()
    return median([(end - start).total_seconds() / unit for start, end in rows if end is not None])


def _in_force_at(moment: datetime) -> ColumnElement[bool]:
    """The restriction was in force at ``moment``."""
    return and_(
        ProtocolRecord.authorised_at <= moment,
        or_(ProtocolRecord.status == "in_force", ProtocolRecord.updated_at > moment),
    )


# --- sections --------------------------------------------------------------------------


async def _restrictions(
    session: AsyncSession, profile: str, period: ReportPeriod, now: datetime
) -> RestrictionFigures:
    """In force at the end of the period (or now, if earlier), started, varied, ended."""
    mine = _of_profile(ProtocolRecord.case_key, profile)
    as_of = min(period.end, now)
    in_force = await _grouped(
        session,
        select(ProtocolRecord.kind, func.count())
        .where(mine, _in_force_at(as_of))
        .group_by(ProtocolRecord.kind),
    )
    started = await _grouped(
        session,
        select(ProtocolRecord.kind, func.count())
        .where(mine, _within(ProtocolRecord.authorised_at, period))
        .group_by(ProtocolRecord.kind),
    )
    ending = and_(
        mine,
        ProtocolRecord.status.in_(ENDED_STATUSES),
        _within(ProtocolRecord.updated_at, period),
    )
    ended = await _grouped(
        session,
        select(ProtocolRecord.status, func.count()).where(ending).group_by(ProtocolRecord.status),
    )
    varied = await session.scalar(
        select(func.count()).where(
            _of_profile(Task.case_key, profile),
            _within(Task.decided_at, period),
            or_(
                and_(Task.kind == TaskKind.PROTOCOL_REVIEW.value, Task.outcome == "vary"),
                and_(Task.kind == TaskKind.APPEAL_DECISION.value, Task.outcome == "varied"),
            ),
        )
    )
    days = await _durations(
        session, select(ProtocolRecord.authorised_at, ProtocolRecord.updated_at).where(ending), _DAY
    )
    return RestrictionFigures(
        in_force=in_force,
        started=started,
        varied=varied or 0,
        ended=ended,
        median_days_in_force=days,
    )


async def _reviews(
    session: AsyncSession, profile: str, period: ReportPeriod, now: datetime
) -> ReviewFigures:
    """Reviews due soon, done on time or late in the period, and overdue now.

    "Due in the next 30 days" counts each restriction in force by its review date
    (``next_review_at`` in [now, now + 30 days)) plus each open risk-flag review task by
    its due date in that window. Open restriction review tasks are not counted again:
    their review date has already come (if late, they are overdue).
    """
    soon = and_(
        ProtocolRecord.next_review_at >= now, ProtocolRecord.next_review_at < now + REVIEWS_AHEAD
    )
    restrictions_due = await session.scalar(
        select(func.count()).where(
            _of_profile(ProtocolRecord.case_key, profile),
            ProtocolRecord.status == "in_force",
            soon,
        )
    )
    flags_due = await session.scalar(
        select(func.count()).where(
            _of_profile(Task.case_key, profile),
            Task.kind == TaskKind.RISK_FLAG_DECISION.value,
            Task.status == "open",
            Task.due_at >= now,
            Task.due_at < now + REVIEWS_AHEAD,
        )
    )
    on_time, late = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((Task.decided_at <= Task.due_at, 1), else_=0)), 0),
                func.coalesce(func.sum(case((Task.decided_at > Task.due_at, 1), else_=0)), 0),
            ).where(
                _of_profile(Task.case_key, profile),
                Task.kind.in_(REVIEW_KINDS),
                Task.status == "decided",
                _within(Task.decided_at, period),
            )
        )
    ).one()
    overdue = sorted(
        [
            *await _overdue_tasks(session, profile, now),
            *await _missed_reviews(session, profile, now),
        ],
        key=lambda r: (r.due_at, r.case_key, r.kind),
    )
    return ReviewFigures(
        due_next_30_days=(restrictions_due or 0) + (flags_due or 0),
        done_on_time=int(on_time),
        done_late=int(late),
        overdue=len(overdue),
        overdue_cases=tuple(overdue),
    )


async def _overdue_tasks(session: AsyncSession, profile: str, now: datetime) -> list[ReviewListed]:
    """Open review tasks past their due date."""
    rows = await session.execute(
        select(
            Task.customer_ref,
            Task.case_key,
            Task.kind,
            Task.due_at,
            func.coalesce(Task.escalated_to, Task.role),
        ).where(
            _of_profile(Task.case_key, profile),
            Task.kind.in_(REVIEW_KINDS),
            Task.status == "open",
            Task.due_at < now,
        )
    )
    return [ReviewListed(ref, key, kind, due, role) for ref, key, kind, due, role in rows.tuples()]


async def _missed_reviews(session: AsyncSession, profile: str, now: datetime) -> list[ReviewListed]:
    """Restrictions in force past their review date (and its grace) with no open review
    task on the case: the review was never made."""
    open_review = aliased(Task)
    rows = await session.execute(
        select(
            ProtocolRecord.customer_ref,
            ProtocolRecord.case_key,
            ProtocolRecord.kind,
            ProtocolRecord.next_review_at,
        ).where(
            _of_profile(ProtocolRecord.case_key, profile),
            ProtocolRecord.status == "in_force",
            ProtocolRecord.next_review_at < now - MISSED_REVIEW_GRACE,
            ~exists().where(
                open_review.case_key == ProtocolRecord.case_key,
                open_review.kind == TaskKind.PROTOCOL_REVIEW.value,
                open_review.status == "open",
            ),
        )
    )
    try:
        reviewer: str | None = load_profile(profile).review_decider
    except UnknownProfileError:
        reviewer = None
    return [
        ReviewListed(
            ref,
            key,
            "restriction",
            due,
            decider_role(TaskKind.PROTOCOL_REVIEW, reviewer, restriction=kind).value
            if reviewer
            else None,
        )
        for ref, key, kind, due in rows.tuples()
    ]


async def _appeals(session: AsyncSession, profile: str, period: ReportPeriod) -> AppealFigures:
    """Appeals received in the period; outcomes and time to decide of those decided in it."""
    appeal = and_(_of_profile(Task.case_key, profile), Task.kind == TaskKind.APPEAL_DECISION.value)
    decided = and_(appeal, Task.status == "decided", _within(Task.decided_at, period))
    received = await session.scalar(
        select(func.count()).where(appeal, _within(Task.created_at, period))
    )
    outcomes = await _grouped(
        session,
        select(func.coalesce(Task.outcome, "none"), func.count())
        .where(decided)
        .group_by(Task.outcome),
    )
    days = await _durations(session, select(Task.created_at, Task.decided_at).where(decided), _DAY)
    return AppealFigures(received=received or 0, outcomes=outcomes, median_days_to_decision=days)


async def _tasks(
    session: AsyncSession, profile: str, period: ReportPeriod, now: datetime
) -> TaskFigures:
    """Open now by kind and holder, overdue now, escalated and decided in the period."""
    mine = _of_profile(Task.case_key, profile)
    holder = func.coalesce(Task.escalated_to, Task.role)
    open_rows = await session.execute(
        select(Task.kind, holder, func.count())
        .where(mine, Task.status == "open")
        .group_by(Task.kind, holder)
        .order_by(Task.kind, holder)
    )
    overdue = await session.scalar(
        select(func.count()).where(mine, Task.status == "open", Task.due_at < now)
    )
    escalated = await session.scalar(
        select(func.count()).where(mine, _within(Task.escalated_at, period))
    )
    hours = await _durations(
        session,
        select(Task.created_at, Task.decided_at).where(
            mine, Task.status == "decided", _within(Task.decided_at, period)
        ),
        _HOUR,
    )
    return TaskFigures(
        open=tuple(TaskCount(kind, role, n) for kind, role, n in open_rows.tuples()),
        overdue=overdue or 0,
        escalated=escalated or 0,
        median_hours_to_decision=hours,
    )


def _buckets(period: ReportPeriod) -> tuple[str, list[tuple[datetime, str]]]:
    """The period's London days (up to ``DAILY_UP_TO_DAYS``) or months: each bucket's
    start in UTC and its name, oldest first."""
    first, last = period.days()
    if (last - first).days < DAILY_UP_TO_DAYS:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return "day", [(max(london_midnight(d), period.start), d.isoformat()) for d in days]
    months: list[tuple[datetime, str]] = []
    month = first.replace(day=1)
    while month <= last:
        months.append((max(london_midnight(month), period.start), f"{month:%Y-%m}"))
        month = (month + timedelta(days=32)).replace(day=1)
    return "month", months


async def _incidents(
    session: AsyncSession, profile: str, period: ReportPeriod
) -> tuple[IncidentFigures, dict[str, int]]:
    """Incidents recorded under a case of the profile that occurred in the period.

    One GROUP BY over (London bucket, category, channel): the bucket is a CASE on the
    bucket boundaries, computed in Python from the London calendar (so both databases
    agree across clock changes); the totals are sums of those groups.
    """
    unit, buckets = _buckets(period)
    last: ColumnElement[int] = literal_column(str(len(buckets) - 1))
    # A one-bucket period (a single day) has no boundary to test: a CASE needs a WHEN.
    bucket = (
        case(
            *(
                (Incident.occurred_at < start, literal_column(str(index)))
                for index, (start, _name) in enumerate(buckets[1:])
            ),
            else_=last,
        )
        if len(buckets) > 1
        else last
    ).label("bucket")
    rows = (
        select(bucket, Incident.category, Incident.channel)
        .where(
            Incident.case_key.is_not(None),
            _of_profile(Incident.case_key, profile),
            _within(Incident.occurred_at, period),
        )
        .subquery()
    )
    grouped = await session.execute(
        select(rows.c.bucket, rows.c.category, rows.c.channel, func.count()).group_by(
            rows.c.bucket, rows.c.category, rows.c.channel
        )
    )
    categories: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    category_series: Counter[tuple[str, str]] = Counter()
    channel_series: Counter[tuple[str, str]] = Counter()
    for index, category, channel, n in grouped.tuples():
        name = buckets[int(index)][1]
        categories[category] += n
        channels[channel] += n
        category_series[name, category] += n
        channel_series[name, channel] += n
    reopened = await session.scalar(
        select(func.count()).where(
            AuditEvent.action == "case_reopened",
            _within(AuditEvent.at, period),
            _of_profile(AuditEvent.case_key, profile),
        )
    )
    fresh = await session.scalar(
        select(func.count()).where(
            Case.profile == profile, Case.episode > 1, _within(Case.opened_at, period)
        )
    )
    figures = IncidentFigures(
        total=sum(categories.values()),
        by_category=_ordered(categories),
        by_channel=_ordered(channels),
        bucket=unit,
        category_over_time=_series(category_series),
        channel_over_time=_series(channel_series),
        reopened_cases=reopened or 0,
        fresh_episodes=fresh or 0,
    )
    return figures, dict(categories)


def _series(counter: Counter[tuple[str, str]]) -> tuple[SeriesPoint, ...]:
    """Points by bucket, then label."""
    return tuple(SeriesPoint(b, label, n) for (b, label), n in sorted(counter.items()) if n)


async def _letters(session: AsyncSession, profile: str, period: ReportPeriod) -> LetterFigures:
    """Letters created in the period: one GROUP BY over kind, delivery and status."""
    rows = await session.execute(
        select(Letter.kind, Letter.delivery, Letter.status, func.count())
        .where(_of_profile(Letter.case_key, profile), _within(Letter.created_at, period))
        .group_by(Letter.kind, Letter.delivery, Letter.status)
    )
    kinds: Counter[str] = Counter()
    deliveries: Counter[str] = Counter()
    sent = undeliverable = 0
    for kind, delivery, status, n in rows.tuples():
        kinds[kind] += n
        deliveries[delivery] += n
        sent += n if status in SENT_STATUSES else 0
        undeliverable += n if status == "undeliverable" else 0
    return LetterFigures(
        sent=sent,
        by_kind=_ordered(kinds),
        by_channel=_ordered(deliveries),
        undeliverable=undeliverable,
    )


async def _police_reports(session: AsyncSession, profile: str, period: ReportPeriod) -> int:
    """Police report tasks decided "reported" in the period."""
    count = await session.scalar(
        select(func.count()).where(
            _of_profile(Task.case_key, profile),
            Task.kind == TaskKind.POLICE_REPORT.value,
            Task.outcome == "reported",
            _within(Task.decided_at, period),
        )
    )
    return count or 0


_EQUALITY_COLUMNS = tuple(getattr(CustomerEquality, name) for name in EQUALITY_CHARACTERISTICS)
# (ethnicity, disability, vulnerability, age_band, sex) -> count
_Groups = dict[tuple[str | None, ...], int]


async def _by_characteristics(
    session: AsyncSession,
    customer_ref: InstrumentedAttribute[str],
    counted: object,
    where: Iterable[object],
) -> _Groups:
    """``counted`` grouped by every characteristic at once (one equality row per
    customer, so the groups split customers without overlap)."""
    query = (
        select(*_EQUALITY_COLUMNS, counted)  # type: ignore[call-overload]
        .select_from(customer_ref.class_)
        .outerjoin(CustomerEquality, CustomerEquality.customer_ref == customer_ref)
        .where(*where)
        .group_by(*_EQUALITY_COLUMNS)
    )
    return {tuple(row[:-1]): int(row[-1]) for row in (await session.execute(query)).tuples()}


async def _equality(
    session: AsyncSession, profile: str, period: ReportPeriod
) -> tuple[EqualityBreakdown, ...]:
    """Customers with a case in the period, those restricted, warned, and incidents, by
    each characteristic (HS 7.1); counts under ``SMALL_NUMBER`` suppressed."""
    open_in_period = (
        Case.profile == profile,
        Case.opened_at < period.end,
        or_(Case.closed_at.is_(None), Case.closed_at >= period.start),
    )
    restricted = select(ProtocolRecord.customer_ref).where(
        _of_profile(ProtocolRecord.case_key, profile, aliased(Case)),
        ProtocolRecord.authorised_at < period.end,
        or_(ProtocolRecord.status == "in_force", ProtocolRecord.updated_at > period.start),
    )
    customers = func.count(Case.customer_ref.distinct())
    baseline = await _by_characteristics(session, Case.customer_ref, customers, open_in_period)
    with_restriction = await _by_characteristics(
        session,
        Case.customer_ref,
        customers,
        (*open_in_period, Case.customer_ref.in_(restricted)),
    )
    warned = await _by_characteristics(
        session,
        Task.customer_ref,
        func.count(Task.customer_ref.distinct()),
        (
            _of_profile(Task.case_key, profile),
            Task.kind.in_(WARNING_KINDS),
            Task.outcome == "issued",
            _within(Task.decided_at, period),
        ),
    )
    incidents = await _by_characteristics(
        session,
        Incident.customer_ref,
        func.count(),
        (
            Incident.case_key.is_not(None),
            _of_profile(Incident.case_key, profile),
            _within(Incident.occurred_at, period),
        ),
    )
    measures = (baseline, with_restriction, warned, incidents)
    return tuple(
        EqualityBreakdown(name, _equality_rows(position, measures))
        for position, name in enumerate(EQUALITY_CHARACTERISTICS)
    )


def _equality_rows(position: int, measures: Sequence[_Groups]) -> tuple[EqualityRow, ...]:
    """One characteristic's rows: each value present, then prefer-not-to-say and
    not-recorded last (not-recorded always shown)."""
    totals: list[defaultdict[str, int]] = [defaultdict(int) for _ in measures]
    for total, groups in zip(totals, measures, strict=True):
        for values, n in groups.items():
            total[values[position] or NOT_RECORDED] += n
    present = {value for total in totals for value in total} | {NOT_RECORDED}
    last = (PREFER_NOT_TO_SAY, NOT_RECORDED)
    order = sorted(present - set(last)) + [v for v in last if v in present]
    baseline, restricted, warned, incidents = totals
    return tuple(
        EqualityRow(
            value=value,
            customers_with_a_case=suppress(baseline[value]),
            with_restriction=suppress(restricted[value]),
            with_warning=suppress(warned[value]),
            incidents=suppress(incidents[value]),
        )
        for value in order
    )
