"""`python -m bench.reports`: how long the management report takes at scale.

Seeds a fresh, migrated records database (SQLite in a temporary directory, or an empty
PostgreSQL database given with ``--postgres``) with ``--cases`` case episodes and
``--incidents`` incidents over two years, with proportional tasks, restrictions, letters,
case events and equality rows (bulk core inserts), then times ``build_report`` for a
30-day and a 12-month period (median of ``--rounds`` runs) against a plain
``SELECT count(*)`` over the same period's incidents, and prints both and the ratio.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policy.categories import Category, Channel
from policy.reporting import EQUALITY_CHARACTERISTICS, ReportPeriod, period_of_days
from records.db import make_engine, make_sessionmaker
from records.migrate import upgrade
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
from records.reports import build_report

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PROFILE = "housing_solutions"
SPAN = timedelta(days=730)
CHUNK = 5_000
TASK_KINDS = (
    ("initial_warning", "officer", ("issued", "not_warranted")),
    ("formal_warning", "officer", ("issued", "not_warranted")),
    ("behaviour_assessment", "manager", ("unacceptable", "not_unacceptable")),
    ("protocol_review", "head_of_service", ("continue", "vary", "end")),
    ("risk_flag_decision", "manager", ("applied", "removed")),
    ("appeal_decision", "director", ("upheld", "varied", "overturned")),
    ("police_report", "officer", ("reported", "not_reported")),
)
VALUES = {
    "ethnicity": ("white_british", "white_other", "black_british", "asian_british", "mixed"),
    "disability": ("none", "mobility", "sensory", "mental_health"),
    "vulnerability": ("none", "mental_health", "substance_use"),
    "age_band": ("18_24", "25_34", "35_44", "45_54", "55_64", "65_plus"),
    "sex": ("female", "male"),
}


@dataclass(frozen=True)
class Timing:
    """One period's figures: the report and the plain count, median seconds."""

    name: str
    report: float
    count: float
    incidents: int


def _moment(rng: random.Random) -> datetime:
    return NOW - SPAN * rng.random()


def _rows(cases: int, incidents: int, seed: int = 11) -> dict[type[Any], list[dict[str, Any]]]:
    """Every table's rows, reproducibly random."""
    rng = random.Random(seed)
    customers = max(1, cases * 4 // 5)
    case_rows: list[dict[str, Any]] = []
    episodes: dict[str, int] = {}
    for n in range(cases):
        ref = f"BENCH-{n % customers:06d}"
        episodes[ref] = episodes.get(ref, 0) + 1
        opened = _moment(rng)
        closed = opened + timedelta(days=rng.randint(30, 400)) if rng.random() < 0.4 else None
        case_rows.append(
            {
                "case_key": f"{ref}#{episodes[ref]}",
                "workflow_id": f"ucb-case-{ref}",
                "run_key": f"run-{n}",
                "episode": episodes[ref],
                "customer_ref": ref,
                # Nine in ten are the profile reported on; the rest must be left out.
                "profile": PROFILE if n % 10 else "magna",
                "stage": "closed" if closed and closed < NOW else "open",
                "opened_at": opened,
                "updated_at": opened,
                "closed_at": closed if closed and closed < NOW else None,
            }
        )
    categories, channels = list(Category), list(Channel)
    incident_rows = []
    for n in range(incidents):
        case = case_rows[rng.randrange(cases)]
        occurred = _moment(rng)
        incident_rows.append(
            {
                "incident_id": f"inc-{n}",
                "case_key": case["case_key"],
                "customer_ref": case["customer_ref"],
                "category": rng.choice(categories).value,
                "channel": rng.choice(channels).value,
                "occurred_at": occurred,
                "reported_at": occurred,
                "reported_by": "bench",
                "description": "benchmark incident",
            }
        )
    task_rows = []
    for n in range(cases * 3):
        case = case_rows[rng.randrange(cases)]
        kind, role, outcomes = rng.choice(TASK_KINDS)
        created = _moment(rng)
        due = created + timedelta(days=rng.choice((1, 7, 14)))
        decided = created + timedelta(hours=rng.randint(1, 600)) if rng.random() < 0.85 else None
        if decided is not None and decided > NOW:
            decided = None
        escalated = due if decided is None and due < NOW and rng.random() < 0.5 else None
        task_rows.append(
            {
                "task_id": f"task-{n}",
                "case_key": case["case_key"],
                "customer_ref": case["customer_ref"],
                "kind": kind,
                "role": role,
                "status": "open" if decided is None else "decided",
                "created_at": created,
                "due_at": due,
                "escalated_to": "director" if escalated else None,
                "escalated_at": escalated,
                "outcome": rng.choice(outcomes) if decided else None,
                "decided_at": decided,
                "context": {},
            }
        )
    protocol_rows = []
    for n in range(cases // 4):
        case = case_rows[rng.randrange(cases)]
        authorised = _moment(rng)
        status = rng.choice(("in_force", "in_force", "ended", "overturned", "replaced"))
        protocol_rows.append(
            {
                "protocol_id": f"prot-{n}",
                "case_key": case["case_key"],
                "customer_ref": case["customer_ref"],
                "kind": rng.choice(
                    ("protocol", "protocol", "immediate_action", "direct_contact_ended")
                ),
                "status": status,
                "terms": {},
                "arrangements": [],
                "authorised_by": "bench",
                "authorised_at": authorised,
                "updated_at": authorised + timedelta(days=rng.randint(1, 300)),
                "next_review_at": authorised + timedelta(days=182),
            }
        )
    letter_rows = []
    for n in range(cases * 2):
        case = case_rows[rng.randrange(cases)]
        letter_rows.append(
            {
                "letter_id": f"letter-{n}",
                "case_key": case["case_key"],
                "kind": rng.choice(("initial_warning", "formal_warning", "protocol")),
                "delivery": rng.choice(("email", "post")),
                "status": rng.choice(("sent", "stored", "sent", "undeliverable", "queued")),
                "subject": "bench",
                "body_html": "<p>bench</p>",
                "body_text": "bench",
                "created_at": _moment(rng),
            }
        )
    event_rows = [
        {
            "event_key": f"reopened-{n}",
            "case_key": case_rows[rng.randrange(cases)]["case_key"],
            "actor": "system",
            "role": "system",
            "action": rng.choice(("case_reopened", "case_closed", "incident_recorded")),
            "details": {},
            "at": _moment(rng),
        }
        for n in range(cases // 2)
    ]
    refs = sorted(episodes)
    equality_rows = [
        {
            "customer_ref": ref,
            **{
                name: rng.choice((*VALUES[name], "prefer_not_to_say", None))
                for name in EQUALITY_CHARACTERISTICS
            },
            "recorded_by": "bench",
            "updated_at": NOW,
        }
        for ref in refs
        if rng.random() < 0.8
    ]
    return {
        Customer: [{"customer_ref": ref, "updated_at": NOW} for ref in refs],
        Case: case_rows,
        Incident: incident_rows,
        Task: task_rows,
        ProtocolRecord: protocol_rows,
        Letter: letter_rows,
        AuditEvent: event_rows,
        CustomerEquality: equality_rows,
    }


async def _seed(sessions: async_sessionmaker[AsyncSession], cases: int, incidents: int) -> None:
    """Bulk core inserts, a chunk at a time, in one transaction."""
    async with sessions.begin() as session:
        for model, rows in _rows(cases, incidents).items():
            for start in range(0, len(rows), CHUNK):
                await session.execute(insert(model), rows[start : start + CHUNK])


async def _median(rounds: int, run: Callable[[], Awaitable[object]]) -> float:
    """Median seconds of ``rounds`` runs, after one warm-up run."""
    await run()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def measure(
    database_url: str, *, cases: int, incidents: int, rounds: int
) -> tuple[float, list[Timing]]:
    """Seed the (empty) database and time each period; returns seeding seconds too."""
    await asyncio.to_thread(upgrade, database_url)
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        started = time.perf_counter()
        await _seed(sessions, cases, incidents)
        seeded = time.perf_counter() - started
        today = NOW.date()
        periods = {
            "30 days": period_of_days(today - timedelta(days=29), today),
            "12 months": period_of_days(today.replace(year=today.year - 1), today),
        }
        timings = []
        for name, period in periods.items():

            async def report(period: ReportPeriod = period) -> object:
                return await build_report(sessions, profile=PROFILE, period=period, now=NOW)

            async def count(period: ReportPeriod = period) -> int:
                async with sessions() as session:
                    found = await session.scalar(
                        select(func.count()).where(
                            Incident.occurred_at >= period.start, Incident.occurred_at < period.end
                        )
                    )
                return found or 0

            timings.append(
                Timing(
                    name,
                    await _median(rounds, report),
                    await _median(rounds, count),
                    await count(),
                )
            )
        return seeded, timings
    finally:
        await engine.dispose()


def print_figures(
    label: str, seeded: float, timings: list[Timing], cases: int, incidents: int
) -> None:
    """The figures, one line each."""
    print(
        f"report data ({label})        : {cases} cases, {incidents} incidents, "
        f"seeded in {seeded:.1f}s"
    )
    for t in timings:
        print(
            f"report, {t.name:<9} ({label}) : {t.report * 1000:.0f} ms vs count(*) of its "
            f"{t.incidents} incidents {t.count * 1000:.1f} ms ({t.report / t.count:.0f}x)"
        )


def run(*, cases: int, incidents: int, rounds: int, postgres: str | None = None) -> None:
    """Measure on SQLite (and PostgreSQL if a URL is given) and print."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'records.sqlite3'}"
        seeded, timings = asyncio.run(measure(url, cases=cases, incidents=incidents, rounds=rounds))
    print_figures("SQLite", seeded, timings, cases, incidents)
    if postgres:
        seeded, timings = asyncio.run(
            measure(postgres, cases=cases, incidents=incidents, rounds=rounds)
        )
        print_figures("PostgreSQL", seeded, timings, cases, incidents)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres", metavar="URL", help="an EMPTY PostgreSQL database to measure as well"
    )
    options = parser.parse_args(argv)
    run(
        cases=options.cases,
        incidents=options.incidents,
        rounds=options.rounds,
        postgres=options.postgres,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
