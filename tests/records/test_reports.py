"""The management report's figures on SQLite and PostgreSQL, against the same figures
worked out in plain Python over the seed rows: period edges, the profile filter, London
days across the clock change, small numbers, overdue and missed reviews."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policy.reporting import (
    EQUALITY_CHARACTERISTICS,
    LONDON,
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
    median,
    period_of_days,
    suppress,
)
from records.db import make_engine, make_sessionmaker
from records.models import (
    AuditEvent,
    Case,
    Customer,
    CustomerEquality,
    Incident,
    Letter,
    ProtocolRecord,
    Task,
)
from records.reports import MISSED_REVIEW_GRACE, build_report

MAGNA, HS = "magna", "housing_solutions"
# Fourteen London days across the clock change (01:00 UTC on Sunday 29 March 2026).
PERIOD = period_of_days(date(2026, 3, 20), date(2026, 4, 2))
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


def at(day: str, hm: str = "12:00") -> datetime:
    """A UTC moment, e.g. at("03-20", "00:00") in 2026 (or "2025-12-01")."""
    full = day if len(day) > 5 else f"2026-{day}"
    return datetime.fromisoformat(f"{full}T{hm}:00+00:00")


# --- the seed ----------------------------------------------------------------------------

# case_key: (customer_ref, profile, episode, opened_at, closed_at)
CASES: dict[str, tuple[str, str, int, datetime, datetime | None]] = {
    "m1": ("C1", MAGNA, 1, at("01-05"), None),
    "m2": ("C2", MAGNA, 1, at("02-01"), at("03-10")),
    "m2b": ("C2", MAGNA, 2, at("03-25"), None),
    "m3": ("C3", MAGNA, 1, at("03-21"), None),
    "m4": ("C4", MAGNA, 1, at("2025-12-01"), None),
    "m5": ("C5", MAGNA, 1, at("2025-12-01"), None),
    "m6": ("C6", MAGNA, 1, at("2025-12-01"), None),
    "m7": ("C7", MAGNA, 1, at("2025-12-01"), None),
    "m8": ("C8", MAGNA, 1, at("2025-12-01"), at("03-20", "00:00")),
    "m9": ("C9", MAGNA, 1, at("04-02", "23:00"), None),
    "h1": ("H1", HS, 1, at("2026-02-01"), at("03-15")),
    "h1b": ("H1", HS, 2, at("03-26"), None),
}

# (customer_ref, ethnicity, disability, vulnerability, age_band, sex); C8, C9 have none.
EQUALITY = [
    ("C1", "white_british", "none", None, "25_34", "female"),
    ("C2", PREFER_NOT_TO_SAY, "mobility", None, "35_44", "male"),
    ("C3", "white_british", "none", "mental_health", "25_34", "female"),
    ("C4", "white_british", None, None, "45_54", PREFER_NOT_TO_SAY),
    ("C5", "white_british", "none", None, "25_34", "male"),
    ("C6", "white_british", "none", None, "25_34", "female"),
    ("C7", None, None, None, None, None),
    ("H1", "asian_british", "none", None, "25_34", "male"),
]

# incident_id: (case_key, customer_ref, category, channel, occurred_at)
INCIDENTS: dict[str, tuple[str | None, str, str, str, datetime]] = {
    # Exactly at the start: in.
    "i1": ("m1", "C1", "verbal_abuse", "email", PERIOD.start),
    "i2": ("m1", "C1", "verbal_abuse", "phone", at("03-28", "23:30")),
    # 23:30 UTC on 29 March is 00:30 on 30 March in London (BST).
    "i3": ("m1", "C1", "physical_violence", "in_person", at("03-29", "23:30")),
    "i4": ("m3", "C3", "threat_of_violence", "phone", at("04-01", "10:00")),
    # Exactly at the end: out.
    "i5": ("m3", "C3", "verbal_abuse", "email", PERIOD.end),
    "i6": ("m3", "C3", "verbal_abuse", "email", PERIOD.end - timedelta(minutes=1)),
    "i7": ("h1b", "H1", "physical_violence", "in_person", at("03-27")),
    # Not yet recorded under a case: out.
    "i8": (None, "C1", "verbal_abuse", "email", at("03-27")),
    "i9": ("m1", "C1", "verbal_abuse", "email", PERIOD.start - timedelta(minutes=1)),
    "i10": ("m4", "C4", "unreasonable_demands", "email", at("03-25")),
    # 23:30 UTC on 31 March is 1 April in London: April's, by month.
    "i11": ("m4", "C4", "verbal_abuse", "phone", at("03-31", "23:30")),
    "i12": ("m5", "C5", "unreasonable_persistence", "letter", at("2025-11-10")),
}

# task_id: (case_key, kind, role, created, due, escalated_to, escalated_at, outcome, decided)
TASKS: dict[
    str,
    tuple[
        str, str, str, datetime, datetime, str | None, datetime | None, str | None, datetime | None
    ],
] = {
    "t1": (
        "m1",
        "protocol_review",
        "manager",
        at("03-01"),
        at("03-22"),
        None,
        None,
        "continue",
        at("03-21"),
    ),
    "t2": (
        "m3",
        "risk_flag_decision",
        "manager",
        at("03-10"),
        at("03-15"),
        None,
        None,
        "applied",
        at("03-24"),
    ),
    "t3": (
        "m1",
        "appeal_decision",
        "director",
        at("03-21"),
        at("04-04"),
        None,
        None,
        "varied",
        at("03-31"),
    ),
    "t4": (
        "m4",
        "appeal_decision",
        "director",
        at("02-01"),
        at("02-15"),
        "director",
        at("02-16"),
        "upheld",
        at("03-25"),
    ),
    "t5": ("m5", "appeal_decision", "director", at("03-30"), at("04-20"), None, None, None, None),
    "t6": (
        "m1",
        "police_report",
        "officer",
        at("03-29"),
        at("03-30"),
        None,
        None,
        "reported",
        at("03-30"),
    ),
    "t7": (
        "m3",
        "police_report",
        "officer",
        at("03-30"),
        at("03-31"),
        None,
        None,
        "not_reported",
        at("03-31"),
    ),
    "t8": (
        "m1",
        "initial_warning",
        "officer",
        at("03-20"),
        at("03-25"),
        None,
        None,
        "issued",
        at("03-22"),
    ),
    "t9": (
        "m3",
        "formal_warning",
        "officer",
        at("03-24"),
        at("03-29"),
        None,
        None,
        "issued",
        at("03-26"),
    ),
    "t10": (
        "m4",
        "initial_warning",
        "officer",
        at("03-20"),
        at("03-25"),
        None,
        None,
        "not_warranted",
        at("03-21"),
    ),
    "t11": (
        "m5",
        "formal_warning",
        "officer",
        at("03-30"),
        at("04-05"),
        "manager",
        at("04-06"),
        None,
        None,
    ),
    "t12": (
        "m6",
        "behaviour_assessment",
        "manager",
        at("03-30"),
        at("04-30"),
        None,
        None,
        None,
        None,
    ),
    "t13": (
        "m6",
        "initial_warning",
        "officer",
        at("03-25"),
        at("04-01"),
        "manager",
        at("03-31"),
        None,
        None,
    ),
    "t14": (
        "h1b",
        "police_report",
        "officer",
        at("03-29"),
        at("03-30"),
        None,
        None,
        "reported",
        at("03-30"),
    ),
    "t15": (
        "m7",
        "protocol_review",
        "head_of_service",
        at("04-01"),
        at("04-08"),
        None,
        None,
        None,
        None,
    ),
    "t16": (
        "m8",
        "risk_flag_decision",
        "manager",
        at("04-06"),
        at("04-20"),
        None,
        None,
        None,
        None,
    ),
    "t17": (
        "m1",
        "protocol_review",
        "manager",
        at("03-27"),
        at("03-28"),
        None,
        None,
        "vary",
        at("03-27", "15:00"),
    ),
    "t18": (
        "h1b",
        "protocol_review",
        "manager",
        at("03-27"),
        at("04-03"),
        None,
        None,
        "continue",
        at("04-01"),
    ),
    "t19": (
        "m2b",
        "initial_warning",
        "officer",
        at("03-20"),
        at("03-25"),
        None,
        None,
        "issued",
        at("04-02", "23:00"),
    ),
}

# protocol_id: (case_key, kind, status, authorised_at, updated_at, next_review_at)
PROTOCOLS: dict[str, tuple[str, str, str, datetime, datetime, datetime]] = {
    "p1": ("m1", "protocol", "in_force", at("01-10"), at("03-27"), at("09-27")),
    "p2": ("m3", "immediate_action", "ended", at("03-22"), at("03-31"), at("04-22")),
    "p3": ("m4", "protocol", "overturned", at("2025-12-10"), at("03-25"), at("06-10")),
    "p4": ("m5", "protocol", "replaced", at("2025-12-15"), at("03-01"), at("06-15")),
    # Reviewed by an open task that is overdue.
    "p5": ("m7", "protocol", "in_force", at("02-01"), at("02-01"), at("04-01")),
    # Review date passed, no review task: a missed review.
    "p6": ("m8", "direct_contact_ended", "in_force", at("02-10"), at("02-10"), at("04-05")),
    "p7": ("m6", "protocol", "in_force", at("03-25"), at("03-25"), at("04-25")),
    "p8": ("h1b", "protocol", "in_force", at("03-27"), at("04-01"), at("04-15")),
    # Review date passed less than the grace ago: not yet missed.
    "p9": ("m2b", "protocol", "in_force", at("03-26"), at("03-26"), NOW - MISSED_REVIEW_GRACE / 2),
}

# letter_id: (case_key, kind, delivery, status, created_at)
LETTERS: dict[str, tuple[str, str, str, str, datetime]] = {
    "l1": ("m1", "initial_warning", "email", "sent", at("03-22")),
    "l2": ("m3", "formal_warning", "post", "stored", at("03-26")),
    "l3": ("m3", "protocol", "email", "undeliverable", at("03-23")),
    "l4": ("m4", "initial_warning", "email", "queued", at("03-30")),
    "l5": ("m1", "initial_warning", "email", "sent", PERIOD.end),
    "l6": ("h1b", "initial_warning", "email", "sent", at("03-25")),
}

# (event_key, case_key, action, at)
EVENTS = [
    ("e1", "m1", "case_reopened", at("03-24")),
    ("e2", "h1b", "case_reopened", at("03-24")),
    ("e3", "m3", "case_reopened", at("04-05")),
    ("e4", "m3", "case_closed", at("03-24")),
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    def case_row(key: str, c: tuple[str, str, int, datetime, datetime | None]) -> dict[str, Any]:
        ref, profile, episode, opened, closed = c
        return {
            "case_key": key,
            "workflow_id": f"ucb-{ref}",
            "run_key": f"run-{key}",
            "episode": episode,
            "customer_ref": ref,
            "profile": profile,
            "stage": "open" if closed is None else "closed",
            "opened_at": opened,
            "updated_at": opened,
            "closed_at": closed,
        }

    customers = sorted({c[0] for c in CASES.values()})
    async with sessions.begin() as session:
        await session.execute(
            insert(Customer), [{"customer_ref": r, "updated_at": NOW} for r in customers]
        )
        await session.execute(insert(Case), [case_row(k, c) for k, c in CASES.items()])
        await session.execute(
            insert(CustomerEquality),
            [
                {
                    "customer_ref": ref,
                    **dict(zip(EQUALITY_CHARACTERISTICS, values, strict=True)),
                    "recorded_by": "officer-1",
                    "updated_at": NOW,
                }
                for ref, *values in EQUALITY
            ],
        )
        await session.execute(
            insert(Incident),
            [
                {
                    "incident_id": iid,
                    "case_key": key,
                    "customer_ref": ref,
                    "category": category,
                    "channel": channel,
                    "occurred_at": occurred,
                    "reported_at": occurred,
                    "reported_by": "officer-1",
                    "description": "seeded",
                }
                for iid, (key, ref, category, channel, occurred) in INCIDENTS.items()
            ],
        )
        await session.execute(
            insert(Task),
            [
                {
                    "task_id": tid,
                    "case_key": key,
                    "customer_ref": CASES[key][0],
                    "kind": kind,
                    "role": role,
                    "status": "open" if decided is None else "decided",
                    "created_at": created,
                    "due_at": due,
                    "escalated_to": esc_to,
                    "escalated_at": esc_at,
                    "outcome": outcome,
                    "decided_at": decided,
                    "context": {},
                }
                for tid, (key, kind, role, created, due, esc_to, esc_at, outcome, decided) in (
                    TASKS.items()
                )
            ],
        )
        await session.execute(
            insert(ProtocolRecord),
            [
                {
                    "protocol_id": pid,
                    "case_key": key,
                    "customer_ref": CASES[key][0],
                    "kind": kind,
                    "status": status,
                    "terms": {},
                    "arrangements": [],
                    "authorised_by": "hos-1",
                    "authorised_at": authorised,
                    "updated_at": updated,
                    "next_review_at": review,
                }
                for pid, (key, kind, status, authorised, updated, review) in PROTOCOLS.items()
            ],
        )
        await session.execute(
            insert(Letter),
            [
                {
                    "letter_id": lid,
                    "case_key": key,
                    "kind": kind,
                    "delivery": delivery,
                    "status": status,
                    "subject": "s",
                    "body_html": "b",
                    "body_text": "b",
                    "created_at": created,
                }
                for lid, (key, kind, delivery, status, created) in LETTERS.items()
            ],
        )
        await session.execute(
            insert(AuditEvent),
            [
                {
                    "event_key": ek,
                    "case_key": key,
                    "actor": "system",
                    "role": "system",
                    "action": action,
                    "details": {},
                    "at": moment,
                }
                for ek, key, action, moment in EVENTS
            ],
        )


@pytest.fixture
async def sessions(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(migrated_url)
    try:
        made = make_sessionmaker(engine)
        await seed(made)
        yield made
    finally:
        await engine.dispose()


# --- the same figures in plain Python -------------------------------------------------------


def counts(labels: Iterable[str]) -> tuple[Count, ...]:
    tally = Counter(labels)
    return tuple(Count(k, n) for k, n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))


def expected(profile: str, period: ReportPeriod, now: datetime) -> Report:
    """Every figure, worked out over the seed lists with no SQL."""

    def within(moment: datetime | None) -> bool:
        return moment is not None and period.start <= moment < period.end

    def mine(key: str | None) -> bool:
        return key is not None and CASES[key][1] == profile

    def in_force_at(p: tuple[str, str, str, datetime, datetime, datetime], t: datetime) -> bool:
        return p[3] <= t and (p[2] == "in_force" or p[4] > t)

    protocols = [p for p in PROTOCOLS.values() if mine(p[0])]
    tasks = [(tid, t) for tid, t in TASKS.items() if mine(t[0])]
    as_of = min(period.end, now)
    ended = [p for p in protocols if p[2] != "in_force" and within(p[4])]

    open_review_cases = {t[0] for _, t in tasks if t[1] == "protocol_review" and t[8] is None}
    overdue = [
        ReviewListed(CASES[t[0]][0], t[0], t[1], t[4], t[5] or t[2])
        for _, t in tasks
        if t[1] in ("protocol_review", "risk_flag_decision") and t[8] is None and t[4] < now
    ]
    reviewer = "manager" if profile == MAGNA else "head_of_service"
    overdue += [
        ReviewListed(
            CASES[p[0]][0],
            p[0],
            "restriction",
            p[5],
            "director" if p[1] == "direct_contact_ended" else reviewer,
        )
        for p in protocols
        if p[2] == "in_force" and p[5] < now - timedelta(days=1) and p[0] not in open_review_cases
    ]
    reviews_decided = [
        t for _, t in tasks if t[1] in ("protocol_review", "risk_flag_decision") and within(t[8])
    ]
    appeals = [t for _, t in tasks if t[1] == "appeal_decision"]
    appeals_decided = [t for t in appeals if within(t[8])]
    decided = [t for _, t in tasks if within(t[8])]
    open_tasks = Counter((t[1], t[5] or t[2]) for _, t in tasks if t[8] is None)

    incidents = [i for i in INCIDENTS.values() if mine(i[0]) and within(i[4])]
    days = (period.end - period.start).days <= 62

    def bucket(moment: datetime) -> str:
        london = moment.astimezone(LONDON)
        return london.date().isoformat() if days else f"{london:%Y-%m}"

    def series(position: int) -> tuple[SeriesPoint, ...]:
        tally = Counter((bucket(i[4]), str(i[position])) for i in incidents)
        return tuple(SeriesPoint(b, label, n) for (b, label), n in sorted(tally.items()))

    letters = [letter for letter in LETTERS.values() if mine(letter[0]) and within(letter[4])]

    # Equality: customers, their characteristics, and each measure's set or count.
    with_a_case = {
        c[0]
        for c in CASES.values()
        if c[1] == profile and c[3] < period.end and (c[4] is None or c[4] >= period.start)
    }
    restricted = {
        CASES[p[0]][0]
        for p in protocols
        if p[3] < period.end and (p[2] == "in_force" or p[4] > period.start)
    } & with_a_case
    warned = {
        CASES[t[0]][0]
        for _, t in tasks
        if t[1] in ("initial_warning", "formal_warning") and t[7] == "issued" and within(t[8])
    }
    recorded = {row[0]: row[1:] for row in EQUALITY}

    def value_of(ref: str, position: int) -> str:
        value = recorded.get(ref, (None,) * 5)[position]
        return value or NOT_RECORDED

    breakdowns = []
    for position, characteristic in enumerate(EQUALITY_CHARACTERISTICS):
        people = [
            Counter(value_of(ref, position) for ref in group)
            for group in (with_a_case, restricted, warned)
        ]
        by_incident = Counter(value_of(i[1], position) for i in incidents)
        values = {v for tally in [*people, by_incident] for v in tally} | {NOT_RECORDED}
        last = [v for v in (PREFER_NOT_TO_SAY, NOT_RECORDED) if v in values]
        order = sorted(values - set(last)) + last
        breakdowns.append(
            EqualityBreakdown(
                characteristic,
                tuple(
                    EqualityRow(
                        v,
                        suppress(people[0][v]),
                        suppress(people[1][v]),
                        suppress(people[2][v]),
                        suppress(by_incident[v]),
                    )
                    for v in order
                ),
            )
        )

    return Report(
        profile=profile,
        period_start=period.start,
        period_end=period.end,
        generated_at=now,
        restrictions=RestrictionFigures(
            in_force=counts(p[1] for p in protocols if in_force_at(p, as_of)),
            started=counts(p[1] for p in protocols if within(p[3])),
            varied=sum(
                1
                for _, t in tasks
                if within(t[8])
                and (t[1], t[7]) in {("protocol_review", "vary"), ("appeal_decision", "varied")}
            ),
            ended=counts(p[2] for p in ended),
            median_days_in_force=median([(p[4] - p[3]).total_seconds() / 86400 for p in ended]),
        ),
        reviews=ReviewFigures(
            due_next_30_days=sum(
                1
                for p in protocols
                if p[2] == "in_force" and now <= p[5] < now + timedelta(days=30)
            )
            + sum(
                1
                for _, t in tasks
                if t[1] == "risk_flag_decision"
                and t[8] is None
                and now <= t[4] < now + timedelta(days=30)
            ),
            done_on_time=sum(1 for t in reviews_decided if t[8] is not None and t[8] <= t[4]),
            done_late=sum(1 for t in reviews_decided if t[8] is not None and t[8] > t[4]),
            overdue=len(overdue),
            overdue_cases=tuple(sorted(overdue, key=lambda r: (r.due_at, r.case_key, r.kind))),
        ),
        appeals=AppealFigures(
            received=sum(1 for t in appeals if within(t[3])),
            outcomes=counts(t[7] or "" for t in appeals_decided),
            median_days_to_decision=median(
                [(t[8] - t[3]).total_seconds() / 86400 for t in appeals_decided if t[8]]
            ),
        ),
        tasks=TaskFigures(
            open=tuple(TaskCount(k, r, n) for (k, r), n in sorted(open_tasks.items())),
            overdue=sum(1 for _, t in tasks if t[8] is None and t[4] < now),
            escalated=sum(1 for _, t in tasks if within(t[6])),
            median_hours_to_decision=median(
                [(t[8] - t[3]).total_seconds() / 3600 for t in decided if t[8]]
            ),
        ),
        incidents=IncidentFigures(
            total=len(incidents),
            by_category=counts(i[2] for i in incidents),
            by_channel=counts(i[3] for i in incidents),
            bucket="day" if days else "month",
            category_over_time=series(2),
            channel_over_time=series(3),
            reopened_cases=sum(
                1 for e in EVENTS if e[2] == "case_reopened" and mine(e[1]) and within(e[3])
            ),
            fresh_episodes=sum(
                1 for c in CASES.values() if c[1] == profile and c[2] > 1 and within(c[3])
            ),
        ),
        letters=LetterFigures(
            sent=sum(1 for letter in letters if letter[3] in ("sent", "stored")),
            by_kind=counts(letter[1] for letter in letters),
            by_channel=counts(letter[2] for letter in letters),
            undeliverable=sum(1 for letter in letters if letter[3] == "undeliverable"),
        ),
        staff_safety=StaffSafetyFigures(
            violence=sum(1 for i in incidents if i[2] == "physical_violence"),
            threats=sum(1 for i in incidents if i[2] == "threat_of_violence"),
            police_reports_made=sum(
                1
                for _, t in tasks
                if t[1] == "police_report" and t[7] == "reported" and within(t[8])
            ),
        ),
        equality=tuple(breakdowns),
    )


async def report(
    sessions: async_sessionmaker[AsyncSession],
    profile: str = MAGNA,
    period: ReportPeriod = PERIOD,
    now: datetime = NOW,
) -> Report:
    return await build_report(sessions, profile=profile, period=period, now=now)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "period", "now"),
    [
        (MAGNA, PERIOD, NOW),
        (HS, PERIOD, NOW),
        # Twelve London months: by month; "now" inside the period caps "in force".
        (MAGNA, period_of_days(date(2025, 5, 1), date(2026, 4, 30)), at("03-28")),
        # A period with nothing in it.
        (MAGNA, period_of_days(date(2024, 1, 1), date(2024, 1, 31)), NOW),
        # A single London day: one bucket, so no boundary to test (was an SQL error).
        (MAGNA, period_of_days(date(2026, 3, 30), date(2026, 3, 30)), NOW),
        (MAGNA, period_of_days(date(2000, 1, 1), date(2000, 1, 1)), NOW),
    ],
)
async def test_every_figure_matches_the_same_figure_worked_out_in_python(
    sessions: async_sessionmaker[AsyncSession], profile: str, period: ReportPeriod, now: datetime
) -> None:
    assert await report(sessions, profile, period, now) == expected(profile, period, now)


async def test_period_edges_and_the_profile_filter(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    figures = (await report(sessions)).incidents
    # i1 (at the start), i2, i3, i4, i6, i10, i11; not i5 (at the end), i7 (the other
    # profile), i8 (no case), i9 (before), i12 (long before).
    assert figures.total == 7
    assert figures.fresh_episodes == 1
    assert figures.reopened_cases == 1
    hs = await report(sessions, HS)
    assert hs.incidents.total == 1
    assert hs.staff_safety.police_reports_made == 1
    assert hs.incidents.fresh_episodes == 1


async def test_incidents_fall_on_their_london_day_across_the_clock_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    figures = (await report(sessions)).incidents
    assert figures.bucket == "day"
    violence = [p for p in figures.category_over_time if p.label == "physical_violence"]
    # 23:30 UTC on 29 March 2026 is 00:30 BST on the 30th.
    assert violence == [SeriesPoint("2026-03-30", "physical_violence", 1)]
    # 23:30 UTC on 28 March 2026 is 23:30 GMT: still the 28th.
    assert SeriesPoint("2026-03-28", "phone", 1) in figures.channel_over_time
    yearly = await report(sessions, period=period_of_days(date(2025, 5, 1), date(2026, 4, 30)))
    assert yearly.incidents.bucket == "month"
    # i11 (1 April in London), i6 and i5 (2 April: the short period's end, inside this one).
    assert SeriesPoint("2026-04", "verbal_abuse", 3) in yearly.incidents.category_over_time


async def test_overdue_reviews_list_the_late_task_and_the_missed_review(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    reviews = (await report(sessions)).reviews
    assert reviews.overdue == 2
    assert reviews.overdue_cases == (
        # p6: past its review date by more than the grace, with no review task.
        ReviewListed("C8", "m8", "restriction", at("04-05"), "director"),
        ReviewListed("C7", "m7", "protocol_review", at("04-08"), "head_of_service"),
    )
    # p9's review date passed less than a day ago: not yet missed. p7 and risk flag t16.
    assert reviews.due_next_30_days == 2
    assert (reviews.done_on_time, reviews.done_late) == (2, 1)


async def test_no_overdue_review_when_every_review_was_decided_on_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    reviews = (await report(sessions, HS)).reviews
    assert (reviews.overdue, reviews.overdue_cases) == (0, ())
    assert (reviews.done_on_time, reviews.done_late, reviews.due_next_30_days) == (1, 0, 1)


async def test_equality_counts_under_five_are_suppressed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    equality = {b.characteristic: b for b in (await report(sessions)).equality}
    ethnicity = equality["ethnicity"].rows
    # C1, C3, C4, C5, C6 had a case in the period; C2 preferred not to say; C7 recorded
    # nothing and C8 has no equality row (C8's case closed at the start, so it counts).
    assert [r.value for r in ethnicity] == ["white_british", PREFER_NOT_TO_SAY, NOT_RECORDED]
    # Restricted: C1, C3, C4, C6; warned: C1, C3; incidents: i1-i3, i4, i6, i10, i11.
    assert ethnicity[0] == EqualityRow("white_british", "5", "<5", "<5", "7")
    assert ethnicity[2].customers_with_a_case == "<5"
    assert "asian_british" not in {r.value for r in ethnicity}


async def test_restrictions_in_force_started_varied_and_ended(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    figures = (await report(sessions)).restrictions
    assert figures.in_force == (Count("protocol", 4), Count("direct_contact_ended", 1))
    assert figures.started == (Count("protocol", 2), Count("immediate_action", 1))
    assert figures.ended == (Count("ended", 1), Count("overturned", 1))
    assert figures.varied == 2
    assert figures.median_days_in_force == (9 + 105) / 2
