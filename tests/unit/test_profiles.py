"""The policy profiles and categories: pure, no fakes."""

from __future__ import annotations

import pytest

from policy.categories import Category, Track, is_violent, track_for
from policy.ladder import behaviour_summary
from policy.profiles import PROFILE_NAMES, UnknownProfileError, load_profile

SIX_MONTHS = 15_778_800


def test_housing_solutions_reviews_after_six_months_exactly() -> None:
    durations = load_profile("housing_solutions").durations
    assert durations.review_period_min == durations.review_period_max == SIX_MONTHS


def test_magna_review_period_spans_three_to_twelve_months() -> None:
    durations = load_profile("magna").durations
    assert durations.review_period_min == SIX_MONTHS // 2
    assert durations.review_period_max == SIX_MONTHS * 2


def test_both_profiles_offer_referral_and_mediation_hs_allows_one_appeal() -> None:
    magna, hs = load_profile("magna"), load_profile("housing_solutions")
    assert (magna.referral_with_consent, magna.mediation) == (True, True)
    # HS 6.5.4: "support mechanisms, mediation or advocacy"; 6.5.5 "one further assessment".
    assert (hs.referral_with_consent, hs.mediation) == (True, True)
    assert (hs.appeals_per_restriction, magna.appeals_per_restriction) == (1, 0)
    assert "single_point_of_contact" in hs.protocol_must_include
    assert magna.protocol_must_include == ()


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_twelve_month_rule_is_a_year(name: str) -> None:
    assert load_profile(name).durations.closed_case_disregard == 31_557_600


def test_overrides_shorten_durations_for_demos_and_tests() -> None:
    profile = load_profile("housing_solutions", {"review_period_default": 10, "task_due": 2})
    assert profile.durations.review_period_default == 10
    assert profile.durations.task_due == 2
    assert profile.durations.quiet_period == SIX_MONTHS


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("lambeth", None, "unknown policy profile"),
        ("magna", {"review_perod": 5}, "unknown duration"),
        ("magna", {"task_due": 0}, "positive"),
    ],
)
def test_bad_profile_requests_are_refused_with_the_reason(
    name: str, overrides: dict[str, int] | None, message: str
) -> None:
    with pytest.raises(UnknownProfileError, match=message):
        load_profile(name, overrides)


@pytest.mark.parametrize(
    ("category", "track"),
    [
        (Category.PHYSICAL_VIOLENCE, Track.AGGRESSIVE),
        (Category.THREAT_OF_VIOLENCE, Track.AGGRESSIVE),
        (Category.VERBAL_ABUSE, Track.AGGRESSIVE),
        (Category.DISCRIMINATORY_ABUSE, Track.AGGRESSIVE),
        (Category.INTIMIDATION_HARASSMENT, Track.AGGRESSIVE),
        (Category.UNSUBSTANTIATED_ALLEGATIONS, Track.AGGRESSIVE),
        (Category.UNREASONABLE_DEMANDS, Track.UNREASONABLE),
        (Category.UNREASONABLE_PERSISTENCE, Track.UNREASONABLE),
        (Category.VEXATIOUS_COMPLAINTS, Track.UNREASONABLE),
    ],
)
def test_each_category_follows_its_appendix_1_track(category: Category, track: Track) -> None:
    assert track_for(category) is track


def test_only_violence_used_or_threatened_is_violent() -> None:
    assert {c for c in Category if is_violent(c)} == {
        Category.PHYSICAL_VIOLENCE,
        Category.THREAT_OF_VIOLENCE,
    }


@pytest.mark.parametrize("category", list(Category))
def test_every_category_has_plain_words_for_letters(category: Category) -> None:
    words = behaviour_summary(category)
    assert words and "_" not in words
