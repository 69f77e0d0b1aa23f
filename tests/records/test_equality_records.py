"""Equality monitoring in the records (HS 7.1): recorded, audited without the values,
withdrawn, and removed with the customer's other details when their data is purged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from records.repository import ApiCall, Records
from workflows.messages import OpenCase

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
ACTION = "PUT /v1/customers/{customer_ref}/equality"


def _call(actor: str = "olu", at: datetime = NOW) -> ApiCall:
    return ApiCall(
        actor=actor,
        role="officer",
        action=ACTION,
        outcome=200,
        details={"path": "/v1/customers/EQ1/equality"},
        at=at,
    )


def _open(ref: str, run_key: str) -> OpenCase:
    return OpenCase(
        customer_ref=ref,
        workflow_id=f"ucb-case-{ref}",
        run_key=run_key,
        profile_name="housing_solutions",
        opened_at=NOW,
    )


async def test_equality_is_recorded_changed_and_audited_by_name_only(records: Records) -> None:
    first = await records.record_equality(
        "EQ1", {"ethnicity": "white_irish", "disability": "prefer_not_to_say"}, _call()
    )
    assert first is not None and first.recorded_by == "olu"
    later = NOW + timedelta(hours=1)
    # Left out: unchanged; given again unchanged: not a change.
    second = await records.record_equality(
        "EQ1", {"age_band": "25_34", "ethnicity": "white_irish"}, _call("mo", later)
    )
    assert second is not None
    got = await records.get_equality("EQ1")
    assert got is not None
    assert (got.ethnicity, got.disability, got.age_band, got.sex, got.vulnerability) == (
        "white_irish",
        "prefer_not_to_say",
        "25_34",
        None,
        None,
    )
    assert got.recorded_by == "mo" and got.updated_at.replace(tzinfo=UTC) == later

    rows, _ = await records.audit_events(limit=10)
    mine = [r for r in rows if r.action == ACTION]
    assert [r.details["equality_changed"] for r in mine] == [
        ["age_band"],
        ["ethnicity", "disability"],
    ]
    assert mine[0].details["equality_recorded"] == ["ethnicity", "disability", "age_band"]
    assert all(r.case_key is None and r.details["status"] == 200 for r in mine)
    for row in mine:
        text = repr(row.details) + repr(row.reason)
        assert "white_irish" not in text and "25_34" not in text and "prefer_not" not in text


async def test_withdrawing_every_characteristic_removes_the_row(records: Records) -> None:
    await records.record_equality("EQ1", {"sex": "female"}, _call())
    assert await records.record_equality("EQ1", {"sex": None}, _call()) is None
    assert await records.get_equality("EQ1") is None
    # Nothing given for a customer with nothing recorded: no row either, still audited.
    assert await records.record_equality("EQ2", {"sex": None}, _call()) is None
    assert await records.get_equality("EQ2") is None
    rows, total = await records.audit_events(limit=10)
    assert total == 3 and rows[0].details["equality_changed"] == []


async def test_an_unknown_characteristic_is_refused(records: Records) -> None:
    with pytest.raises(ValueError, match="religion"):
        await records.record_equality("EQ1", {"religion": "none"}, _call())


async def test_purging_the_customers_last_episode_removes_their_equality_data(
    records: Records,
) -> None:
    first = await records.open_case(_open("EQ1", "run-a"))
    second = await records.open_case(_open("EQ1", "run-b"))
    await records.upsert_customer("EQ1", NOW, name="Pat")
    await records.record_equality("EQ1", {"ethnicity": "white_roma"}, _call())

    # Another episode not yet purged still needs the customer's details.
    kept = await records.purge_episode(first.case_key, NOW, NOW, 1)
    assert kept.customer_details_removed is False
    assert await records.get_equality("EQ1") is not None

    gone = await records.purge_episode(second.case_key, NOW, NOW, 1)
    assert gone.customer_details_removed is True
    assert await records.get_equality("EQ1") is None
    assert await records.get_customer("EQ1") is None
