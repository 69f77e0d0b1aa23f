"""The retention rules (policy/retention.py): pure, no fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from letters.render import DEFAULT_RETENTION_PERIOD, LandlordContacts, letter_context, render_letter
from policy.retention import (
    SetAsideEpisode,
    describe_period,
    due_for_purge,
    namespace_retention_days,
    purge_due_at,
    set_aside_before,
    skeleton_details,
)
from settings import Settings
from tests.unit.test_letter_templates import full_context, sent

NOW = datetime(2032, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86_400


def episode(key: str, days_ago: float) -> SetAsideEpisode:
    return SetAsideEpisode(key, key.split("/")[0], NOW - timedelta(days=days_ago))


def test_an_episode_is_due_once_the_period_after_set_aside_has_run_out() -> None:
    period = 10 * DAY
    episodes = [
        episode("ucb-case-A/1", 11),
        episode("ucb-case-B/1", 10),
        episode("ucb-case-C/1", 9),
    ]
    due = due_for_purge(episodes, NOW, period, limit=10)
    assert [e.case_key for e in due] == ["ucb-case-A/1", "ucb-case-B/1"]
    assert purge_due_at(episodes[2].set_aside_at, period) == NOW + timedelta(days=1)
    assert set_aside_before(NOW, period) == NOW - timedelta(days=10)


def test_due_episodes_come_oldest_first_each_once_and_at_most_the_batch() -> None:
    episodes = [
        episode("ucb-case-B/1", 30),
        episode("ucb-case-A/2", 40),
        episode("ucb-case-B/1", 30),
    ]
    due = due_for_purge(episodes, NOW, DAY, limit=10)
    assert [e.case_key for e in due] == ["ucb-case-A/2", "ucb-case-B/1"]
    assert [e.case_key for e in due_for_purge(episodes, NOW, DAY, limit=1)] == ["ucb-case-A/2"]


@pytest.mark.parametrize("bad", [0, -1])
def test_a_period_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError):
        purge_due_at(NOW, bad)
    with pytest.raises(ValueError):
        namespace_retention_days(bad)


def test_the_audit_skeleton_keeps_codes_and_ids_never_free_text() -> None:
    details: dict[str, object] = {
        "task_id": "t-1",
        "kind": "protocol_authorisation",
        "outcome": "authorised",
        "level": 2,
        "reason": "internal note about Pat",
        "customer_reason": "You called our officer useless",
        "terms": {"topics": "rent"},
        "reported_by": "officer-7",
        "changed": {"name": {"before": "Pat Example", "after": "Pat Other"}},
        "category": "x" * 500,  # not a code: dropped
    }
    assert skeleton_details(details) == {
        "task_id": "t-1",
        "kind": "protocol_authorisation",
        "outcome": "authorised",
        "level": 2,
    }


def test_namespace_retention_is_the_period_in_whole_days_at_least_one() -> None:
    assert namespace_retention_days(1826 * DAY) == 1826
    assert namespace_retention_days(DAY + 1) == 2
    assert namespace_retention_days(5) == 1


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1826 * DAY, "5 years"),
        (2192 * DAY, "6 years"),
        (365 * DAY, "1 year"),
        (548 * DAY, "18 months"),
        (20 * DAY, "20 days"),
        (DAY, "1 day"),
        (7200, "2 hours"),
        (90, "2 minutes"),
        (5, "5 seconds"),
    ],
)
def test_periods_are_worded_for_letters(seconds: int, words: str) -> None:
    assert describe_period(seconds) == words


def test_the_default_is_five_years_after_set_aside_and_seconds_override_it() -> None:
    assert describe_period(Settings.model_fields["retention_days"].default * DAY) == (
        DEFAULT_RETENTION_PERIOD
    )
    assert Settings(environment="test").retention_period_seconds == 1826 * DAY
    assert describe_period(Settings(environment="test").retention_period_seconds) == "5 years"
    assert Settings(environment="test", retention_seconds=3).retention_period_seconds == 3


def test_the_closed_case_letter_says_how_long_and_what_is_kept() -> None:
    context = {**full_context(sent({})), "retention_period": "6 years"}
    assert (
        letter_context(
            {},
            customer_ref="CUST-1",
            customer_name="Pat Example",
            postal_address=None,
            landlord_name="Housing Solutions",
            contacts=LandlordContacts(),
            retention_period="6 years",
            now=NOW,
        )["retention_period"]
        == "6 years"
    )
    text = " ".join(render_letter("case_closed", context).text.split())
    assert "6 years after those 12 months, we will delete the details of this case" in text
    assert "We will keep only a short record without those details" in text
