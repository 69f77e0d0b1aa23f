"""The records layer on SQLite and PostgreSQL: migrations and idempotent writes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from policy.categories import Category, Channel
from records.db import make_engine
from records.migrate import alembic_config
from records.models import Base, Letter
from records.repository import ApiCall, Records
from workflows.messages import IncidentReport, OpenCase

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def _open(run_key: str, workflow_id: str = "ucb-case-C1") -> OpenCase:
    return OpenCase(
        customer_ref="C1",
        workflow_id=workflow_id,
        run_key=run_key,
        profile_name="magna",
        opened_at=NOW,
    )


def _incident(incident_id: str = "i-1") -> IncidentReport:
    return IncidentReport(
        incident_id=incident_id,
        customer_ref="C1",
        category=Category.VERBAL_ABUSE,
        channel=Channel.PHONE,
        occurred_at=NOW - timedelta(hours=1),
        description="Shouted at the officer",
        reported_by="officer-1",
        reported_at=NOW,
        submitted_by="crm-service",
        submitted_role="case_system",
    )


async def test_migrations_create_exactly_the_models(migrated_url: str) -> None:
    engine = make_engine(migrated_url)

    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
            assert {"cases", "incidents", "letters", "audit_events", "customers"} <= (
                await connection.run_sync(tables)
            )
    finally:
        await engine.dispose()


async def test_migrations_downgrade_to_nothing(migrated_url: str) -> None:
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(migrated_url), "base")
    engine = make_engine(migrated_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert names <= {"alembic_version"}
    finally:
        await engine.dispose()


async def test_open_case_is_idempotent_per_run_and_numbers_episodes(records: Records) -> None:
    first = await records.open_case(_open("run-a"))
    again = await records.open_case(_open("run-a"))
    second = await records.open_case(_open("run-b"))
    assert first == again
    assert (first.episode, second.episode) == (1, 2)
    assert second.case_key == "ucb-case-C1/2"
    latest = await records.latest_case("C1")
    assert latest is not None and latest.case_key == second.case_key


async def test_a_case_opened_with_its_first_batch_records_it_once(records: Records) -> None:
    """Patch open-with-first-batch: one transaction opens the case and records the batch;
    a retry finds both; intake's stored incident is attached; a resend is not new."""
    stored_by_intake = _incident("i-2")
    await records.receive_incident(
        stored_by_intake, None, ApiCall("crm", "case_system", "report_incident", 202, {}, NOW)
    )
    batch = [_incident("i-1"), stored_by_intake]
    opened = await records.open_case(replace(_open("run-a"), first_batch=batch))
    again = await records.open_case(replace(_open("run-a"), first_batch=batch))
    assert (opened.case_key, opened.created_ids) == ("ucb-case-C1/1", ["i-1", "i-2"])
    assert again == opened
    incidents = await records.incidents(opened.case_key)
    assert sorted(i.incident_id for i in incidents) == ["i-1", "i-2"]
    trail = await records.audit_trail(opened.case_key)
    assert [a.action for a in trail].count("incident_reported") == 2
    # The next episode's first batch: a resend of i-2 is not recorded again.
    later = await records.open_case(
        replace(_open("run-b"), first_batch=[_incident("i-3"), stored_by_intake])
    )
    assert (later.episode, later.created_ids) == (2, ["i-3"])


async def test_incident_recorded_once_with_its_audit_row(records: Records) -> None:
    case = await records.open_case(_open("run-a"))
    assert await records.record_incidents(case.case_key, "batch-1", [_incident()]) == ["i-1"]
    # a retry of the same batch reports the same rows as its own; a resend elsewhere, none
    assert await records.record_incidents(case.case_key, "batch-1", [_incident()]) == ["i-1"]
    assert await records.record_incidents(case.case_key, "batch-2", [_incident()]) == []
    incidents = await records.incidents(case.case_key)
    assert [i.incident_id for i in incidents] == ["i-1"]
    assert incidents[0].occurred_at == NOW - timedelta(hours=1)  # aware UTC round trip
    trail = await records.audit_trail(case.case_key)
    # The actor is who submitted it (their token); who the body says reported it is data.
    assert [(a.action, a.actor, a.role) for a in trail] == [
        ("incident_reported", "crm-service", "case_system")
    ]
    assert trail[0].details["reported_by"] == "officer-1"
    unsigned = replace(_incident("i-2"), submitted_by=None, submitted_role=None)
    await records.record_incidents(case.case_key, "batch-3", [unsigned])
    trail = await records.audit_trail(case.case_key)
    assert (trail[-1].actor, trail[-1].role) == ("temporal-signal", "temporal-signal")


async def test_letter_saved_once_and_delivery_audited_once(records: Records) -> None:
    case = await records.open_case(_open("run-a"))

    def letter(subject: str) -> Letter:
        return Letter(
            letter_id=f"{case.case_key}:initial_warning",
            case_key=case.case_key,
            kind="initial_warning",
            delivery="email",
            status="drafted",
            recipient="c1@example.org",
            subject=subject,
            body_html="<p>x</p>",
            body_text="x",
            created_at=NOW,
            sent_at=None,
        )

    await records.save_letter(letter("first"))
    stored = await records.save_letter(letter("second draft must not replace the first"))
    assert stored.subject == "first"
    await records.mark_letter_delivered(stored.letter_id, "sent", NOW)
    await records.mark_letter_delivered(stored.letter_id, "sent", NOW)
    letters = await records.letters(case.case_key)
    assert [(x.status, x.sent_at) for x in letters] == [("sent", NOW)]
    actions = [a.action for a in await records.audit_trail(case.case_key)]
    assert actions == ["letter_sent"]


async def test_customer_upsert_keeps_fields_not_given(records: Records) -> None:
    await records.upsert_customer("C1", NOW, name="Pat", email="pat@example.org")
    await records.upsert_customer("C1", NOW, postal_address="1 High St")
    customer = await records.get_customer("C1")
    assert customer is not None
    assert (customer.name, customer.email, customer.postal_address) == (
        "Pat",
        "pat@example.org",
        "1 High St",
    )


async def test_intake_rows_never_handed_to_a_case_are_withdrawn_and_audited(
    records: Records,
) -> None:
    call = ApiCall("crm", "case_system", "POST /v1/incidents", 202, {}, NOW)
    for incident_id in ("lost", "signalled", "attached"):
        await records.receive_incident(_incident(incident_id), None, call)
    await records.incident_signalled("signalled")
    await records.incident_signalled("attached")
    case = await records.open_case(_open("run-w"))
    assert await records.record_incidents(case.case_key, "b", [_incident("attached")]) == [
        "attached"
    ]
    # Not yet past the grace period: nothing goes.
    assert await records.withdraw_unsignalled(NOW - timedelta(seconds=1)) == []
    assert await records.withdraw_unsignalled(NOW + timedelta(seconds=1)) == ["lost"]
    assert await records.withdraw_unsignalled(NOW + timedelta(seconds=1)) == []
    trail, _total = await records.audit_events(actor="system")
    assert [row.action for row in trail] == ["incident_withdrawn"]
    assert len(await records.incidents(case.case_key)) == 1
