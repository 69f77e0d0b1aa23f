"""Support details for a page of tasks come back in one query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from records.db import make_engine, make_sessionmaker
from records.repository import Records
from workflows.messages import StoreSupport, SupportRecord

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


async def _store(records: Records, ref: str, **fields: Any) -> None:
    support = SupportRecord(recorded_by="officer-1", role="officer", **fields)
    await records.store_support(StoreSupport(f"ucb-case-{ref}/1", ref, support, NOW))


async def test_support_for_answers_many_customers_in_one_query(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    records = Records(make_sessionmaker(engine))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    try:
        await _store(records, "S1", vulnerabilities=["hearing loss"], mediation_offered=True)
        await _store(records, "S2", reasonable_adjustments="Large print")
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        found = await records.support_for(["S1", "S2", "NONE", "S1"])
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    finally:
        await engine.dispose()

    assert len([s for s in statements if "customer_support" in s]) == 1
    assert set(found) == {"S1", "S2"}
    assert found["S1"].vulnerabilities == ["hearing loss"] and found["S1"].mediation_offered
    assert found["S2"].reasonable_adjustments == "Large print"
    assert found["S2"].vulnerabilities == []


async def test_support_for_unknown_or_no_customers_is_empty(records: Records) -> None:
    assert await records.support_for([]) == {}
    assert await records.support_for(["NONE"]) == {}
